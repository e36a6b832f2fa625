// The fiber dump, the stack high-water monitor and the CPU-hog watchdog over real sockets: a
// server with an admin listener, requests that park, spin or recurse, and what
// `/_spindle/fibers`, `/metrics`, the log and SIGQUIT say about them.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Spindle
import SpindleFibers
import SpindleMemory
import SpindleTestSupport
import XCTest

final class FiberDiagnosticsTests: ServerTestCase {
    // MARK: - Fiber dump

    /// A handler asleep and a handler waiting for a body that never comes: the dump shows each
    /// request fiber parked with its wait reason (and the sleeper's timer), in JSON and in text.
    func testParkedRequestFibersShowWhatTheyWaitFor() throws {
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0; $0.shutdownGracePeriod = .milliseconds(100) }) { router in
            router.get("/sleep") { _, _ in
                try Fiber.sleep(for: .seconds(20))
                return .text("slept")
            }
            router.post("/upload") { request, _ in .bytes(try request.body.readAll()) }
        }
        let sleeper = try TestClient(port: server.port)
        try sleeper.send("GET /sleep HTTP/1.1\r\nHost: a\r\n\r\n")
        let uploader = try TestClient(port: server.port)
        try uploader.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")

        // (what it serves, what it waits for, its timer's most: the sleep's end; the body's
        // deadline, `bodyRateGracePeriod` at first)
        let expected: [(serving: String, waiting: String, timerAtMost: Int)] = [
            ("GET /sleep", "sleep", 20_000), ("POST /upload", "read", 5_000),
        ]
        var fibers: [[String: Any]] = []
        let seen = waitUntil(timeout: .seconds(10)) {
            fibers = (try? dumpFibers(server)) ?? []
            return expected.allSatisfy { item in fibers.contains { ($0["serving"] as? String) == item.serving && $0["state"] as? String == "parked" } }
        }
        XCTAssertTrue(seen, "both request fibers parked in the dump: \(fibers)")
        for item in expected {
            let fiber = try XCTUnwrap(fibers.first { ($0["serving"] as? String) == item.serving }, item.serving)
            XCTAssertEqual(fiber["waiting"] as? String, item.waiting, item.serving)
            XCTAssertEqual(fiber["role"] as? String, "request \(item.serving)")
            let timer = try XCTUnwrap(fiber["timerInMs"] as? Int, "\(item.serving): \(fiber)")
            XCTAssertTrue((1...item.timerAtMost).contains(timer), "\(item.serving): timer in \(timer) ms")
            let highWater = try XCTUnwrap(fiber["stackHighWaterBytes"] as? Int)
            let size = try XCTUnwrap(fiber["stackBytes"] as? Int)
            XCTAssertGreaterThan(highWater, 0, "a parked fiber has used some stack")
            XCTAssertLessThan(highWater, size)
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(fiber["ageMs"] as? Int), 0)
        }
        // The worker's own fibers are there too, not parked on a request.
        XCTAssertGreaterThan(fibers.count, 2)

        let text = try adminGet(server, "/_spindle/fibers?format=text")
        XCTAssertEqual(text.status, 200)
        XCTAssertTrue(text.bodyString.hasPrefix("Spindle fiber dump: 1 worker(s)\n"), text.bodyString)
        XCTAssertTrue(text.bodyString.contains("request GET /sleep: parked (sleep, timer in "), text.bodyString)
        XCTAssertTrue(text.bodyString.contains("request POST /upload: parked (read, timer in "), text.bodyString)
        let accepted = try adminGet(server, "/_spindle/fibers", accept: "text/plain")
        XCTAssertEqual(accepted.header("content-type"), "text/plain; charset=utf-8")
        XCTAssertTrue(accepted.bodyString.contains("request GET /sleep"))
        // The main port does not serve the dump.
        let client = try TestClient(port: server.port)
        try client.send("GET /_spindle/fibers HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 404)
    }

    /// Which form the dump answers with: `format` decides when given, else an `Accept` that
    /// starts with `text/plain`.
    func testDumpFormatIsChosenByFormatThenAccept() {
        let cases: [(format: String?, accept: String?, text: Bool)] = [
            (nil, nil, false), ("text", nil, true), ("json", "text/plain", false), (nil, "text/plain", true),
            (nil, " Text/Plain; q=1", true), (nil, "application/json, text/plain", false), ("TEXT", nil, false),
        ]
        for item in cases {
            XCTAssertEqual(FiberDumpEndpoint.wantsText(format: item.format, accept: item.accept), item.text,
                           "format \(item.format ?? "nil"), accept \(item.accept ?? "nil")")
        }
    }

    // MARK: - Watchdog

    /// A handler that computes for 300 ms without parking (threshold 100 ms) is reported once:
    /// one warning naming its request, with a backtrace, and the counter grows by exactly 1.
    func testSpinningHandlerIsReportedOnceByTheWatchdog() throws {
        let lines = Locked<[(level: Logger.Level, message: String)]>([])
        let logger = Logger(label: "test") { _ in LineCapturingLogHandler(lines: lines) }
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0; $0.hogThreshold = .milliseconds(100) },
                                     logger: logger) { router in
            router.get("/spin") { _, _ in
                let end = Deadline.now + .milliseconds(300)
                var turns = 0
                while Deadline.now < end { turns &+= 1 }
                return .text("spun \(turns > 0)")
            }
            router.get("/ok") { _, _ in .text("ok") }
        }
        let before = try scrapeValue(server, "spindle_fiber_hogs_total")
        let client = try TestClient(port: server.port)
        try client.send("GET /spin HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 200)
        // Quick requests afterwards are no incident; give the watchdog time to (wrongly) report more.
        for _ in 0..<5 {
            try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(try client.readResponse().status, 200)
            usleep(50_000)
        }
        let reports = lines.current.filter { $0.message.contains("without parking") }
        XCTAssertEqual(reports.count, 1, "one report per incident: \(reports.map(\.message))")
        let report = try XCTUnwrap(reports.first)
        XCTAssertEqual(report.level, .warning)
        XCTAssertTrue(report.message.contains("serving GET /spin HTTP/1.1"), report.message)
        XCTAssertTrue(report.message.hasPrefix("worker 0: fiber "), report.message)
        XCTAssertTrue(report.message.contains("\n  #0 "), "a backtrace follows: \(report.message)")
        XCTAssertEqual(try scrapeValue(server, "spindle_fiber_hogs_total") - before, 1)
    }

    // MARK: - Stack high-water

    /// A handler recursing past 75% of its stack: the warning names its request (once, though it
    /// runs twice on the same stack), the warning counter grows by 1, and the high-water
    /// histogram counts a stack above 75% where it counted none.
    func testDeepRecursionRaisesTheHighWaterAndWarnsOnce() throws {
        let lines = Locked<[(level: Logger.Level, message: String)]>([])
        let (server, stackSize) = try startDeepStackServer(lines: lines)
        // The largest bucket bound at or below 75% of the stack: stacks above it went that deep.
        var line = 1024
        while line * 2 <= stackSize * 3 / 4 { line *= 2 }
        func stacksAboveLine() throws -> Double {
            let exposition = try scrape(server)
            return exposition.value("spindle_fiber_stack_high_water_bytes_count")
                - exposition.value("spindle_fiber_stack_high_water_bytes_bucket", ["le": String(Double(line))])
        }
        XCTAssertEqual(try stacksAboveLine(), 0, "no stack went deep yet")
        let warningsBefore = try scrapeValue(server, "spindle_fiber_stack_warnings_total")
        let client = try TestClient(port: server.port)
        for _ in 0..<2 {
            try client.send("GET /deep HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(try client.readResponse().status, 200)
        }
        let warnings = lines.current.filter { $0.message.contains("passed 75%") }
        XCTAssertEqual(warnings.count, 1, warnings.map(\.message).joined(separator: "\n"))
        XCTAssertEqual(warnings.first?.level, .warning)
        XCTAssertTrue(warnings.first?.message.contains("serving GET /deep") ?? false, warnings.first?.message ?? "")
        XCTAssertEqual(try scrapeValue(server, "spindle_fiber_stack_warnings_total") - warningsBefore, 1)
        XCTAssertGreaterThanOrEqual(try stacksAboveLine(), 1, "the deep stack is counted above \(line) bytes")
    }

    /// Pipelined requests answered in one run of the serving fiber are probed once, after the
    /// last: the warning names that one and says how many were answered in the run (a deep
    /// one among them), rather than pinning the depth on the wrong request.
    func testDeepStackInAPipelinedRunNamesTheRunsLastRequest() throws {
        let lines = Locked<[(level: Logger.Level, message: String)]>([])
        let (server, _) = try startDeepStackServer(lines: lines)
        let client = try TestClient(port: server.port)
        try client.send("GET /deep HTTP/1.1\r\nHost: a\r\n\r\nGET /shallow HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 200)
        XCTAssertEqual(try client.readResponse().bodyString, "shallow")
        let warnings = lines.current.filter { $0.message.contains("passed 75%") }
        XCTAssertEqual(warnings.count, 1, warnings.map(\.message).joined(separator: "\n"))
        XCTAssertTrue(warnings.first?.message.contains("serving GET /shallow (the last of 2 requests the fiber served in a row: one of them went that deep)") ?? false,
                      warnings.first?.message ?? "")
    }

    // MARK: - SIGQUIT

    /// SIGQUIT to a server started with `handleSignals` prints the dump to stderr, a request
    /// parked in it included, and the server goes on answering; SIGTERM still stops it.
    func testSigquitPrintsTheDumpAndTheServerKeepsServing() throws {
        let probe = try startProbe(["serve", "--signals", "--grace", "200"])
        let port = Int(try probe.waitForLine(prefix: "port ", timeout: .seconds(30)).dropFirst(5))!
        let sleeper = try TestClient(port: port)
        try sleeper.send("GET /sleep?ms=10000 HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) {
            (try? probe.send(line: "inflight")) != nil && probe.stdout.contains("inflight 1")
        }, "the sleeping request is in flight")
        try probe.send(signal: SIGQUIT)
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { probe.stderr.contains("request GET /sleep?ms=10000: parked (sleep") },
                      "the dump on stderr:\n\(probe.stderr)")
        XCTAssertTrue(probe.stderr.contains("Spindle fiber dump: 1 worker(s)"), probe.stderr)
        for _ in 0..<3 {
            let client = try TestClient(port: port)
            try client.send("GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            XCTAssertEqual(try client.readResponse().bodyString, "Hello, World!")
        }
        try probe.send(signal: SIGTERM)
        let outcome = try probe.waitForExit(timeout: .seconds(10))
        XCTAssertTrue(outcome.exited && outcome.status == 0, outcome.summary)
    }

    // MARK: - Helpers

    /// A one-worker server whose `GET /deep` recurses through 80% of its fiber's stack and
    /// `GET /shallow` does not, logging into `lines`; and the usable stack size.
    private func startDeepStackServer(lines: Locked<[(level: Logger.Level, message: String)]>) throws -> (TestServer, stackSize: Int) {
        let logger = Logger(label: "test") { _ in LineCapturingLogHandler(lines: lines) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let stackSize = (StackPool.Configuration.fromEnvironment.stackSize + page - 1) / page * page - StackPool.controlSize
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0 }, logger: logger) { router in
            router.get("/deep") { _, _ in
                var top = 0
                let depth = withUnsafeMutablePointer(to: &top) { recurse(from: AddressSanitizer.stackAddress(of: $0), until: stackSize * 4 / 5) }
                return .text("depth \(depth)")
            }
            router.get("/shallow") { _, _ in .text("shallow") }
        }
        return (server, stackSize)
    }

    private func adminGet(_ server: TestServer, _ path: String, accept: String? = nil) throws -> WireResponse {
        let address = try XCTUnwrap(server.server.adminAddress, "the server has no admin listener")
        let client = try TestClient(port: address.port)
        let field = accept.map { "Accept: \($0)\r\n" } ?? ""
        try client.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\(field)Connection: close\r\n\r\n")
        return try client.readResponse()
    }

    /// Every fiber of the JSON dump (all workers).
    private func dumpFibers(_ server: TestServer) throws -> [[String: Any]] {
        let response = try adminGet(server, "/_spindle/fibers")
        guard response.status == 200 else { throw TestFailure("dump: \(response.status) \(response.bodyString)") }
        XCTAssertEqual(response.header("content-type"), "application/json")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        let workers = try XCTUnwrap(object["workers"] as? [[String: Any]])
        return workers.flatMap { ($0["fibers"] as? [[String: Any]]) ?? [] }
    }

    private func scrape(_ server: TestServer) throws -> Exposition {
        let response = try adminGet(server, "/metrics")
        guard response.status == 200 else { throw TestFailure("scrape: \(response.status) \(response.bodyString)") }
        return Exposition(response.bodyString)
    }

    private func scrapeValue(_ server: TestServer, _ name: String) throws -> Double {
        try scrape(server).value(name)
    }
}

/// Recurses, keeping a 256-byte buffer of non-zero bytes per frame, until the stack is `bytes`
/// deeper than `top` (an address in the caller's frame); returns the depth reached. Addresses
/// are those of the frames on the real stack, also under AddressSanitizer (see
/// `AddressSanitizer.stackAddress`).
@inline(never)
private func recurse(from top: UInt, until bytes: Int) -> Int {
    var local = 0
    let here = withUnsafeMutablePointer(to: &local) { AddressSanitizer.stackAddress(of: $0) }
    if top &- here >= UInt(bytes) { return 0 }
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { buffer in
        buffer.initialize(repeating: 0xA5)
        return recurse(from: top, until: bytes) + Int(buffer[Int(here % 256)] & 1)
    }
}

/// A swift-log handler that keeps each message and its level.
private struct LineCapturingLogHandler: LogHandler {
    let lines: Locked<[(level: Logger.Level, message: String)]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lines.withLock { $0.append((event.level, event.message.description)) }
    }
}
