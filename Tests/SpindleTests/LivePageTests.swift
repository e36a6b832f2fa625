// The live page of the admin listener (GET /_spindle/) and the figures it polls
// (GET /_spindle/stats): the per-route counts exactly, over real sockets; then the page itself
// in headless Chromium (Tests/Peers/live_page.py, over the DevTools protocol) while the test
// puts load on the server: the figures appear in the page and change under the load.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Spindle
import SpindleFibers
import SpindleTestSupport
import XCTest

final class LivePageTests: ServerTestCase {
    static let driver = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Peers/live_page.py").path

    // MARK: - The stats, exactly

    /// Requests of three route patterns (several paths each, one in a group), a HEAD answered
    /// by the GET route, a path a middleware rewrote, a 404, a 405 and a middleware's own answer
    /// (no route), and a pipelined run mixing routes: each row counts its own, and the rows add
    /// up to the requests and to the duration histogram.
    func testStatsCountRequestsPerRoutePattern() throws {
        let server = try startServer(configure: { $0.workers = 2; $0.adminPort = 0 }) { router in
            router.add { request, context, next in
                if request.path == "/blocked" { return .text("blocked", status: .forbidden) }  // never routed
                guard request.path == "/old" else { return try next(request, context) }
                var rewritten = request
                rewritten.path = "/hello"
                return try next(rewritten, context)
            }
            router.get("/hello") { _, _ in .text("hello") }
            router.get("/users/:id") { _, context in .text("user \(context.parameters["id"] ?? "")") }
            router.post("/unused") { _, _ in .text("never asked") }
            router.group("/api").get("/items/:id") { _, _ in .text("item") }
        }
        let before = try stats(server)
        // (request line, expected status, the row it counts in)
        let cases: [(line: String, status: Int, route: String)] = [
            ("GET /hello", 200, "GET /hello"), ("GET /hello/", 200, "GET /hello"), ("HEAD /hello", 200, "GET /hello"),
            ("GET /users/1", 200, "GET /users/:id"), ("GET /users/2", 200, "GET /users/:id"), ("GET /users/%41", 200, "GET /users/:id"),
            ("GET /api/items/7", 200, "GET /api/items/:id"), ("GET /old", 200, "GET /hello"),
            ("GET /missing", 404, "(no route)"), ("DELETE /hello", 405, "(no route)"), ("GET /blocked", 403, "(no route)"),
        ]
        for item in cases {
            let client = try TestClient(port: server.port)
            try client.send("\(item.line) HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
            XCTAssertEqual(try client.readResponse(isHEAD: item.line.hasPrefix("HEAD")).status, item.status, item.line)
        }
        // One write, one fiber, three routes in a row: the clock changes rows within the run.
        let pipelined = ["/hello", "/users/9", "/users/10", "/hello", "/nowhere"]
        let client = try TestClient(port: server.port)
        try client.send(pipelined.map { "GET \($0) HTTP/1.1\r\nHost: a\r\n\r\n" }.joined())
        for path in pipelined { XCTAssertEqual(try client.readResponse().status, path == "/nowhere" ? 404 : 200, path) }
        let after = try stats(server)

        var expected: [String: Int] = [:]
        for item in cases { expected[item.route, default: 0] += 1 }
        expected["GET /hello", default: 0] += 2
        expected["GET /users/:id", default: 0] += 2
        expected["(no route)", default: 0] += 1
        for (route, count) in expected {
            XCTAssertEqual(after.routeRequests(route) - before.routeRequests(route), count, route)
        }
        XCTAssertEqual(after.routeRequests("POST /unused"), 0)
        XCTAssertNil(after.routes.first { $0.route == "POST /unused" }, "a route that answered nothing is left out")
        let total = cases.count + pipelined.count
        XCTAssertEqual(after.requests - before.requests, total)
        XCTAssertEqual(after.routes.map { $0.counts.reduce(0, +) }.reduce(0, +), after.requests, "every request is in one row")
        XCTAssertEqual(after.durations.counts.reduce(0, +), after.requests)
        for route in after.routes {
            XCTAssertEqual(route.counts.count, after.durations.boundsSeconds.count + 1, route.route)
            XCTAssertGreaterThan(route.sumSeconds, 0, route.route)
        }
        XCTAssertEqual(after.workers, 2)
        XCTAssertGreaterThanOrEqual(after.fibers.parked["accept"] ?? 0, 2, "each worker's accept loop waits for a connection")
        XCTAssertGreaterThan(after.memory.residentBytes, 1 << 20)
        XCTAssertEqual(after.connections.accepted - before.connections.accepted, cases.count + 1)
    }

    func testThePageIsOneSelfContainedDocumentAndTheTokenGuardsIt() throws {
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0; $0.adminToken = "s3cret" }) { _ in }
        let port = try XCTUnwrap(server.server.adminAddress).port
        for path in ["/_spindle/", "/_spindle/stats", "/_spindle"] {
            XCTAssertEqual(try get(path, port: port).status, 401, path)
            XCTAssertEqual(try get(path, port: port, authorization: "Bearer wrong!").status, 401, path)
        }
        let page = try get("/_spindle/", port: port, authorization: "Bearer s3cret")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.header("content-type"), "text/html; charset=utf-8")
        let html = page.bodyString
        XCTAssertTrue(html.hasPrefix("<!doctype html>"))
        XCTAssertTrue(html.contains("<canvas>"), "the plots are drawn on canvases")
        for outside in ["http://", "https://", "src=", "@import", "url("] {
            XCTAssertFalse(html.contains(outside), "the page refers to something outside itself: \(outside)")
        }
        let redirect = try get("/_spindle", port: port, authorization: "Bearer s3cret")
        XCTAssertEqual(redirect.status, 308)
        XCTAssertEqual(redirect.header("location"), "/_spindle/")
        let stats = try get("/_spindle/stats", port: port, authorization: "Bearer s3cret")
        XCTAssertEqual(stats.status, 200)
        XCTAssertEqual(stats.header("content-type"), "application/json")
        XCTAssertNoThrow(try JSONDecoder().decode(LiveStatsSample.self, from: Data(stats.body)))
    }

    // MARK: - The page in a browser

    /// Chromium shows the page while a loop of requests runs against the main port: the figures
    /// are in the page's elements, the charts are drawn, the route table names the routes, and
    /// two readings 2.5 s apart differ (more samples, more requests answered).
    func testThePageShowsTheFiguresAndTheyChangeUnderLoad() throws {
        try skipUnlessChromiumRuns()
        let server = try startServer(configure: { $0.workers = 2; $0.adminPort = 0 }) { router in
            router.get("/hello") { _, _ in .text("hello") }
            router.get("/users/:id") { _, context in .text("user \(context.parameters["id"] ?? "")") }
        }
        let adminPort = try XCTUnwrap(server.server.adminAddress).port
        let load = LoadLoop(port: server.port, paths: ["/hello", "/users/1", "/users/2", "/missing"], limit: .seconds(120))
        defer { load.stopAndWait() }

        let run = try runPeerScript(Self.driver, arguments: ["sample", "http://127.0.0.1:\(adminPort)/_spindle/", "2", "2.5"],
                                    timeout: .seconds(150))
        let answered = load.stopAndWait()
        XCTAssertFalse(run.timedOut, run.lines.joined(separator: "\n"))
        XCTAssertEqual(run.status, 0, run.lines.joined(separator: "\n"))
        XCTAssertEqual(run.lines.last, "done", run.lines.joined(separator: "\n"))
        let readings = try run.lines.filter { $0.hasPrefix("sample ") }.map { line in
            try JSONDecoder().decode(PageReading.self, from: Data(line.dropFirst("sample ".count).utf8))
        }
        XCTAssertEqual(readings.count, 2, run.lines.joined(separator: "\n"))
        guard readings.count == 2 else { return }
        let (first, second) = (readings[0], readings[1])
        XCTAssertGreaterThan(answered, 0)

        for reading in readings {
            XCTAssertGreaterThanOrEqual(reading.samples, 2)
            XCTAssertTrue(reading.status.hasPrefix("updated"), reading.status)
            XCTAssertTrue(reading.server.contains("2 workers"), reading.server)
            for id in ["rps", "p50", "p90", "p99", "requests-total", "connections-open", "fibers-live", "rss"] {
                XCTAssertNotNil(reading.number(id), "\(id) is not a number in the page: \((reading.values[id] ?? nil) ?? "empty")")
            }
            XCTAssertGreaterThan(reading.number("rss") ?? 0, Double(1 << 20))
            XCTAssertGreaterThanOrEqual(reading.number("fibers-live") ?? 0, 4, "two accept loops and two sweepers at least")
            XCTAssertGreaterThan(reading.number("p99") ?? 0, 0)
            XCTAssertLessThanOrEqual(reading.number("p50") ?? .infinity, reading.number("p99") ?? 0)
            XCTAssertEqual(reading.charts.count, 6)
            for chart in reading.charts { XCTAssertGreaterThan(chart.painted, 0, "\(chart.id) has nothing drawn") }
            let routes = Set(reading.routes.map(\.route))
            XCTAssertTrue(routes.isSuperset(of: ["GET /hello", "GET /users/:id", "(no route)"]), "\(routes)")
        }
        // Under load, the page moves.
        XCTAssertGreaterThan(second.samples, first.samples)
        XCTAssertGreaterThan(second.number("requests-total") ?? 0, first.number("requests-total") ?? 0)
        XCTAssertGreaterThan(second.number("rps") ?? 0, 0)
        XCTAssertLessThanOrEqual(second.number("requests-total") ?? .infinity, Double(answered),
                                 "the page counts no more requests than the load had answered")
        let hello = try XCTUnwrap(second.routes.first { $0.route == "GET /hello" })
        let helloBefore = try XCTUnwrap(first.routes.first { $0.route == "GET /hello" })
        XCTAssertGreaterThan(Int(hello.total) ?? 0, Int(helloBefore.total) ?? 0)
        XCTAssertGreaterThan(Double(hello.rate) ?? 0, 0)
    }

    // MARK: - Helpers

    /// Skips the test, saying why, when `chromium --version` cannot be run at all.
    private func skipUnlessChromiumRuns() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["chromium", "--version"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch {
            throw XCTSkip("chromium cannot be executed (\(error)); `make test` installs it (TEST_PACKAGES)")
        }
        if !waitUntil(timeout: .seconds(30), { !process.isRunning }) {
            process.terminate()
            process.waitUntilExit()
            throw XCTSkip("chromium --version did not finish within 30 s")
        }
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            throw XCTSkip("chromium cannot be executed (`chromium --version` exited with \(process.terminationStatus)); `make test` installs it (TEST_PACKAGES)")
        }
    }

    private func get(_ path: String, port: Int, authorization: String? = nil) throws -> WireResponse {
        let client = try TestClient(port: port)
        let field = authorization.map { "Authorization: \($0)\r\n" } ?? ""
        try client.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\(field)Connection: close\r\n\r\n")
        return try client.readResponse()
    }

    /// The admin listener's stats, once every worker has joined.
    private func stats(_ server: TestServer) throws -> LiveStatsSample {
        let port = try XCTUnwrap(server.server.adminAddress, "the server has no admin listener").port
        let workers = try XCTUnwrap(server.server.configuration.workers)
        let end = Deadline.now + .seconds(5)
        while true {
            let response = try get("/_spindle/stats", port: port)
            guard response.status == 200 else { throw TestFailure("stats: \(response.status) \(response.bodyString)") }
            let sample = try JSONDecoder().decode(LiveStatsSample.self, from: Data(response.body))
            if sample.workers == workers || Deadline.now > end { return sample }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}

/// `GET /_spindle/stats` as the tests read it.
struct LiveStatsSample: Decodable {
    struct Durations: Decodable {
        let boundsSeconds: [Double]
        let counts: [Int]
        let sumSeconds: Double
    }
    struct Memory: Decodable {
        let residentBytes: Int
        let allocatorBytesInUse: Int?
        let allocatorCommittedBytes: Int?
    }
    struct Fibers: Decodable {
        let running: Int
        let runnable: Int
        let parked: [String: Int]
    }
    struct Connections: Decodable {
        let open: Int
        let idle: Int
        let accepted: Int
        let refused: Int
    }
    struct Route: Decodable {
        let route: String
        let counts: [Int]
        let sumSeconds: Double
    }
    let monotonicSeconds: Double
    let workers: Int
    let requests: Int
    let durations: Durations
    let memory: Memory
    let fibers: Fibers
    let connections: Connections
    let poolMisses: [String: Int]
    let routes: [Route]

    /// Requests the row named `route` has answered (0 when it is not listed).
    func routeRequests(_ route: String) -> Int {
        routes.first { $0.route == route }?.counts.reduce(0, +) ?? 0
    }
}

/// What `live_page.py sample` read from the page.
struct PageReading: Decodable {
    struct Chart: Decodable {
        let id: String
        let painted: Int
    }
    struct Row: Decodable {
        let route: String
        let rate: String
        let total: String
    }
    let samples: Int
    let status: String
    let server: String
    let values: [String: String?]
    let routes: [Row]
    let charts: [Chart]

    /// The `data-value` of element `id` as a number, or nil when it is empty or not one.
    func number(_ id: String) -> Double? {
        guard let value = values[id], let text = value else { return nil }
        return Double(text)
    }
}

/// Requests on keep-alive connections to 127.0.0.1, from a thread of its own, one after
/// another over `paths`, until stopped or `limit` has passed (bounded either way).
final class LoadLoop: @unchecked Sendable {
    // @unchecked Sendable: `stopping` and `answered` are behind locks; the rest is immutable.
    private let stopping = Locked(false)
    private let answered = Locked(0)
    private let finished = DispatchSemaphore(value: 0)
    private let joined = Locked(false)

    init(port: Int, paths: [String], limit: Duration) {
        let end = Deadline.now + limit
        Thread { [self] in
            var client: TestClient? = nil
            var index = 0
            while !stopping.current && Deadline.now < end {
                do {
                    if client == nil { client = try TestClient(port: port) }
                    try client!.send("GET \(paths[index % paths.count]) HTTP/1.1\r\nHost: a\r\n\r\n")
                    _ = try client!.readResponse()
                    answered.withLock { $0 += 1 }
                } catch {
                    client = nil  // a fresh connection next time
                }
                index += 1
            }
            client = nil
            finished.signal()
        }.start()
    }

    /// Stops the loop and waits for its thread to end (once); returns the requests answered.
    @discardableResult
    func stopAndWait() -> Int {
        stopping.withLock { $0 = true }
        if !joined.withLock({ let was = $0; $0 = true; return was }) { finished.wait() }
        return answered.current
    }
}
