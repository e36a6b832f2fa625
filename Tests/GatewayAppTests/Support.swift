// Helpers of the gateway tests: three upstream Spindle servers on 127.0.0.1 (fast, slow,
// failing) with request counters and a gate that holds a streamed body halfway, a gateway on a
// live server, and a one-worker runtime for a test's own HTTPClient.
import Foundation
import GatewayApp
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleHTTPClient
import SpindleIO
import SpindleTestSupport
import XCTest

/// The upstreams of a test, each a Spindle `Server` with one worker on 127.0.0.1:0.
final class TestUpstreams: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; the counters and the gate are locked.
    let fast: Server
    let slow: Server
    let failing: Server
    let fastPort: Int
    let slowPort: Int
    let failingPort: Int
    /// Requests each upstream received, by upstream name.
    let requests = Locked<[String: Int]>([:])
    /// Opened by the test once it has received part of a gated body (`/gated/:n`).
    let gate = Locked(false)
    /// For each gated body: whether the gate opened before the upstream gave up waiting (10 s).
    let gateOpenedInTime = Locked<[Bool]>([])
    /// How long the slow upstream sleeps before answering.
    static let slowDelay = Duration.milliseconds(1500)

    init() throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 1
        let requests = self.requests
        let gate = self.gate
        let gateOpenedInTime = self.gateOpenedInTime
        let counting = { (name: String) in
            ClosureMiddleware { request, context, next in
                requests.withLock { $0[name, default: 0] += 1 }
                return try next(request, context)
            }
        }

        let fast = Router<Handler>()
        fast.add(middleware: counting("fast"))
        fast.get("/profile/:user") { _, context in
            try .json(["name": try context.parameters.require("user", as: String.self)])
        }
        fast.get("/text") { _, _ in .text("plain text part") }
        fast.get("/headers") { request, _ in
            // The request's field names and a few values, as the upstream received them.
            var seen: [String: String] = [:]
            for field in request.headerFields { seen[field.name.canonicalName] = field.value }
            seen["host"] = request.header("host")
            var response = try Response.json(seen)
            response.headerFields[HTTPField.Name("X-Upstream")!] = "fast"
            return response
        }
        fast.get("/gated/:n") { _, context in
            // `n` pattern bytes; after the first half, waits (up to 10 s) for the test to open the gate.
            let count = try context.parameters.require("n", as: Int.self)
            let body = pattern(seed: 7, count: count)
            return .stream(contentType: "application/octet-stream") { writer in
                let half = count / 2
                for start in stride(from: 0, to: half, by: 32 << 10) { try writer.write(body[start..<min(start + (32 << 10), half)]) }
                let waitUntil = Deadline.now + .seconds(10)
                while !gate.current && Deadline.now < waitUntil { try Fiber.sleep(for: .milliseconds(5)) }
                gateOpenedInTime.withLock { $0.append(gate.current) }
                for start in stride(from: half, to: count, by: 32 << 10) { try writer.write(body[start..<min(start + (32 << 10), count)]) }
            }
        }
        fast.get("/sized/:n") { _, context in
            // `n` pattern bytes with Content-Length.
            let body = pattern(seed: 9, count: try context.parameters.require("n", as: Int.self))
            return .bytes(body)
        }
        let slow = Router<Handler>()
        slow.add(middleware: counting("slow"))
        slow.get("/orders/:user") { _, _ in
            try Fiber.sleep(for: TestUpstreams.slowDelay)
            return try .json(["orders": 3])
        }
        let failing = Router<Handler>()
        failing.add(middleware: counting("failing"))
        failing.get("/recommendations/:user") { _, _ in .text("down\n", status: .internalServerError) }

        self.fast = Server(router: fast, configuration: configuration)
        self.slow = Server(router: slow, configuration: configuration)
        self.failing = Server(router: failing, configuration: configuration)
        fastPort = try self.fast.start().port
        slowPort = try self.slow.start().port
        failingPort = try self.failing.start().port
    }

    func part(_ name: String, _ port: Int, _ path: String) throws -> DashboardPartSource {
        try DashboardPartSource(name: name, urlTemplate: "http://127.0.0.1:\(port)\(path)")
    }

    /// fast, slow and failing as the parts profile, orders, recommendations.
    func standardParts() throws -> [DashboardPartSource] {
        [try part("profile", fastPort, "/profile/{user}"), try part("orders", slowPort, "/orders/{user}"),
         try part("recommendations", failingPort, "/recommendations/{user}")]
    }

    func stop() {
        for server in [fast, slow, failing] { server.stop() }
        for server in [fast, slow, failing] { _ = try? withTimeout(.seconds(30), "upstream stop") { server.wait() } }
    }
}

/// A port nothing listens on (bound to 0 and closed: the kernel does not hand it out again at once).
func refusingPort() throws -> Int {
    try onWorker {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        defer { listener.close() }
        return listener.address.port
    }
}

/// The body decoded as `T`, or a test failure showing it.
func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: Data(body))
    } catch {
        XCTFail("not a \(T.self): \(String(decoding: body.prefix(300), as: UTF8.self))", file: file, line: line)
        throw error
    }
}
