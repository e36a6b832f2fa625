// Middleware over real sockets: order and short-circuit, what global middleware sees (404,
// 405, 413, handler errors, overload), group middleware, typed context storage, request
// rewriting, code after the response is written, and the built-ins (request id, access log,
// CORS, error responses).
import Foundation
import HTTPTypes
import Logging
import Spindle
import SpindleFibers
import SpindleIO
import SpindleTesting
import SpindleTestSupport
import XCTest

/// Appends its name to the `X-Trace` response field on the way out, and to the
/// `Trace` context value on the way in.
private struct Tracer: Middleware {
    let name: String
    func respond(to request: Request, context: Context, next: Responder) throws -> Response {
        var context = context
        context[TraceKey.self] = (context[TraceKey.self] ?? []) + [name]
        var response = try next(request, context)
        response.headerFields.append(HTTPField(name: HTTPField.Name("X-Trace")!, value: name))
        return response
    }
}

private enum TraceKey: ContextKey { typealias Value = [String] }

private struct User: Sendable, Equatable {
    let name: String
    let admin: Bool
}

private enum CurrentUser: ContextKey { typealias Value = User }

/// Reads `Authorization: User <name>` into the context; answers 401 itself without one.
private struct Authenticate: Middleware {
    func respond(to request: Request, context: Context, next: Responder) throws -> Response {
        guard let value = request.header("authorization"), value.hasPrefix("User ") else {
            return .text("who are you?\n", status: .unauthorized)
        }
        var context = context
        let name = String(value.dropFirst(5))
        context[CurrentUser.self] = User(name: name, admin: name == "root")
        return try next(request, context)
    }
}

private struct Payload: Decodable { let count: Int }

/// A swift-log handler that keeps what it is given.
private struct CapturingLogHandler: LogHandler {
    let lines: Locked<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.withLock { $0.append((event.level, event.message.description, merged)) }
    }
}

final class MiddlewareTests: ServerTestCase {
    /// Runs `body` with the router `routes` builds, once in memory and once live (SpindleTesting).
    private func bothModes(configure: (inout ServerConfiguration) -> Void = { _ in }, routes: (Router<Handler>) -> Void,
                           _ body: (HTTPTestClient, TestMode) throws -> Void) throws {
        for mode in [TestMode.inMemory, .live] {
            var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
            configure(&configuration)
            let router = Router<Handler>()
            routes(router)
            try router.test(mode, configuration: configuration) { try body($0, mode) }
        }
    }

    /// Sends a request through `client`; `headers` as raw `Name: value\r\n` lines.
    private func get(_ client: HTTPTestClient, _ target: String, headers: String = "", method: String = "GET",
                     body: String? = nil) throws -> TestResponse {
        var fields = HTTPFields()
        for line in headers.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            fields.append(HTTPField(name: HTTPField.Name(String(parts[0]))!, value: parts[1].trimmingCharacters(in: .whitespaces)))
        }
        return try client.execute(HTTPRequest.Method(method)!, target, headers: fields, body: Array((body ?? "").utf8))
    }

    func testGlobalMiddlewareRunsInOrderAroundEveryResponse() throws {
        try bothModes(configure: { $0.limits.maxBodyBytes = 100 }, routes: { router in
            router.add(middleware: Tracer(name: "outer")).add(middleware: Tracer(name: "inner"))
            router.get("/trace") { _, context in .text((context[TraceKey.self] ?? []).joined(separator: ",")) }
            router.get("/fail") { _, _ in throw HTTPError(HTTPResponse.Status(code: 418), "short and stout") }
            router.post("/upload") { request, _ in .text("\(try request.body.readAll().count)") }
        }) { server, mode in
            let ok = try get(server, "/trace")
            XCTAssertEqual(ok.status, 200)
            XCTAssertEqual(ok.bodyString, "outer,inner", "context values flow inward in the order added")
            XCTAssertEqual(ok.headers("x-trace"), ["inner", "outer"], "responses flow outward: the innermost adapts first")
            for (target, method, body, status) in [("/nowhere", "GET", nil, 404), ("/trace", "DELETE", nil, 405),
                                                   ("/fail", "GET", nil, 418), ("/upload", "POST", String(repeating: "x", count: 101), 413)] {
                let response = try get(server, target, method: method, body: body)
                XCTAssertEqual(response.statusCode, status, "\(method) \(target)")
                XCTAssertEqual(response.headers("x-trace"), ["inner", "outer"], "\(method) \(target) \(status) passes through the middleware")
            }
            XCTAssertEqual(try get(server, "/trace", method: "DELETE").header("allow"), "GET, HEAD")
        }
    }

    func testMiddlewareShortCircuitsAndRewrites() throws {
        let calls = Locked(0)
        try bothModes(routes: { router in
            router.add { request, context, next in
                if request.path == "/blocked" { return .text("blocked\n", status: .forbidden) }
                var request = request
                if request.path.hasPrefix("/old/") { request.path = "/new/" + request.path.dropFirst(5) }
                return try next(request, context)
            }
            router.get("/blocked") { _, _ in calls.withLock { $0 += 1 }; return .text("reached") }
            router.get("/new/:name") { request, context in .text("new \(context.parameters["name"] ?? "?") for \(request.target)") }
        }) { server, mode in
            let blocked = try get(server, "/blocked")
            XCTAssertEqual(blocked.status, 403)
            XCTAssertEqual(blocked.bodyString, "blocked\n")
            XCTAssertEqual(calls.current, 0, "a short-circuit never reaches the handler")
            let moved = try get(server, "/old/page?x=1")
            XCTAssertEqual(moved.status, 200)
            XCTAssertEqual(moved.bodyString, "new page for /old/page?x=1", "routed by the rewritten path; the target stays as sent")
        }
    }

    /// A rewritten path belongs to the `Request` value it was set on: copies rewritten apart
    /// keep their own paths, the original keeps the target's, and the next request on the same
    /// connection (pipelined behind it, served by the same parser box) starts without any.
    func testRewrittenPathsAreValuesAndEndWithTheirRequest() throws {
        try bothModes(routes: { router in
            router.add { request, context, next in
                guard request.path.hasPrefix("/two/") else { return try next(request, context) }
                var first = request, second = request
                first.path = "/first"
                second.path = "/second"
                first.path = "/first-again"
                var response = try next(second, context)
                response.headerFields[HTTPField.Name("x-paths")!] = "\(request.path) \(first.path) \(second.path)"
                return response
            }
            router.get("/second") { request, _ in .text("second via \(request.path) for \(request.target)") }
            router.get("/plain") { request, _ in .text("plain \(request.path)") }
        }) { server, mode in
            let twice = try get(server, "/two/x?q=1")
            XCTAssertEqual(twice.bodyString, "second via /second for /two/x?q=1", "\(mode)")
            XCTAssertEqual(twice.header("x-paths"), "/two/x /first-again /second", "\(mode)")
            let pipelined = try server.executeRaw(Array("GET /two/y HTTP/1.1\r\nHost: a\r\n\r\nGET /plain HTTP/1.1\r\nHost: a\r\n\r\n".utf8),
                                                  responses: 2)
            XCTAssertEqual(pipelined.map(\.bodyString), ["second via /second for /two/y", "plain /plain"], "\(mode)")
            XCTAssertEqual(try get(server, "/plain").bodyString, "plain /plain", "\(mode): a later connection")
        }
    }

    func testGroupMiddlewareWrapsOnlyItsRoutesAndNests() throws {
        try bothModes(routes: { router in
            router.get("/public") { _, context in .text("public \(context[CurrentUser.self]?.name ?? "nobody")") }
            let api = router.group("/api").add(middleware: Authenticate())
            api.get("/me") { _, context in .text("me: \(context[CurrentUser.self]!.name)") }
            let admin = api.group("admin/").add { request, context, next in
                guard context[CurrentUser.self]?.admin == true else { return .text("admins only\n", status: .forbidden) }
                return try next(request, context)
            }
            admin.get("/stats") { _, context in .text("stats for \(context[CurrentUser.self]!.name)") }
            api.post("/echo") { request, _ in .text(String(decoding: try request.body.readAll(), as: UTF8.self)) }
        }) { server, mode in
            XCTAssertEqual(try get(server, "/public").bodyString, "public nobody")
            XCTAssertEqual(try get(server, "/api/me").status, 401, "the group's middleware answers")
            XCTAssertEqual(try get(server, "/api/me", headers: "Authorization: User ann\r\n").bodyString, "me: ann")
            XCTAssertEqual(try get(server, "/api/admin/stats", headers: "Authorization: User ann\r\n").status, 403)
            XCTAssertEqual(try get(server, "/api/admin/stats").status, 401, "the outer group's middleware runs first")
            XCTAssertEqual(try get(server, "/api/admin/stats", headers: "Authorization: User root\r\n").bodyString, "stats for root")
            XCTAssertEqual(try get(server, "/api/echo", headers: "Authorization: User ann\r\n", method: "POST", body: "hi").bodyString, "hi")
        }
    }

    func testOnWrittenRunsAfterTheResponseWithItsStatusAndSize() throws {
        let written = Locked<[String]>([])
        try bothModes(routes: { router in
            router.add { request, context, next in
                var response = try next(request, context)
                let path = request.path
                response.onWritten { info in written.withLock { $0.append("\(path) \(info.status.code) \(info.bodyBytes)") } }
                return response
            }
            router.get("/hello") { _, _ in .text("Hello!") }
            router.get("/stream") { _, _ in
                .stream { writer in
                    try writer.write("abc")
                    try writer.write("defg")
                }
            }
        }) { server, mode in
            written.withLock { $0 = [] }
            _ = try get(server, "/hello")
            _ = try get(server, "/stream")
            _ = try get(server, "/hello", method: "HEAD")
            _ = try get(server, "/missing")
            XCTAssertTrue(waitUntil(timeout: .seconds(5)) { written.current.count == 4 }, "four responses written")
            XCTAssertEqual(written.current, ["/hello 200 6", "/stream 200 7", "/hello 200 0", "/missing 404 10"], "\(mode)")
        }
    }

    /// A response is a value: a handler added to a copy runs only when that copy is answered.
    func testOnWrittenHandlersBelongToTheCopyTheyWereAddedTo() throws {
        let written = Locked<[String]>([])
        try bothModes(routes: { router in
            router.add { request, context, next in
                var response = try next(request, context)
                response.onWritten { _ in written.withLock { $0.append("outer") } }
                var copy = response
                copy.onWritten { _ in written.withLock { $0.append("copy only") } }
                return request.path == "/copy" ? copy : response
            }
            router.get("/copy") { _, _ in .text("c") }
            router.get("/original") { _, _ in .text("o") }
        }) { server, mode in
            written.withLock { $0 = [] }
            _ = try get(server, "/original")
            XCTAssertTrue(waitUntil(timeout: .seconds(5)) { written.current.count == 1 })
            _ = try get(server, "/copy")
            XCTAssertTrue(waitUntil(timeout: .seconds(5)) { written.current.count == 3 })
            XCTAssertEqual(written.current, ["outer", "outer", "copy only"], "\(mode)")
        }
    }

    /// A streamed body cut short by its client is logged at debug level (the connection failed,
    /// not the server); one cut short by the handler's own error is logged at error level.
    func testAStreamEndedByItsClientIsNotLoggedAsAnError() throws {
        let lines = Locked<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])
        let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
        let router = Router<Handler>()
        router.get("/endless") { _, _ in
            .stream { writer in
                for _ in 0..<2_000 {
                    try writer.write([UInt8](repeating: UInt8(ascii: "e"), count: 16 << 10))
                    try Fiber.sleep(for: .milliseconds(5))
                }
            }
        }
        router.get("/failing") { _, _ in
            .stream { writer in
                try writer.write("first chunk\n")
                struct RenderingError: Error {}
                throw RenderingError()
            }
        }
        try router.test(.live, logger: logger) { client in
            let port = try XCTUnwrap(client.port)
            let leaving = try TestClient(port: port)
            try leaving.send("GET /endless HTTP/1.1\r\nHost: a\r\n\r\n")
            var chunk = [UInt8](repeating: 0, count: 4096)
            XCTAssertGreaterThan(recv(leaving.fd, &chunk, chunk.count, 0), 0, "the stream started")
            leaving.close()  // with unread bytes: a reset
            XCTAssertTrue(waitUntil(timeout: .seconds(10)) {
                lines.current.contains { $0.message.hasPrefix("streamed response ended: the connection failed") }
            }, "\(lines.current.map(\.message))")
            _ = try? client.get("/failing")
            XCTAssertTrue(waitUntil(timeout: .seconds(5)) {
                lines.current.contains { $0.level == .error && $0.message.hasPrefix("streaming handler failed: RenderingError") }
            }, "\(lines.current.map(\.message))")
            let ended = lines.current.filter { $0.message.hasPrefix("streamed response ended") }
            XCTAssertEqual(ended.map(\.level), [.debug], "the client's leaving is logged once, at debug level")
        }
    }

    func testErrorResponses() throws {
        let tinyPool = OffloadPool(configuration: .init(threads: 1, queueLimit: 1))
        let release = Locked(false), started = Locked(false)
        let lines = Locked<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])
        let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
        let router = Router<Handler>()
        router.add(middleware: RequestIDMiddleware())
        router.post("/decode") { request, _ in
            let payload = try JSONDecoder().decode(Payload.self, from: Data(try request.body.readAll()))
            return .text("count \(payload.count)")
        }
        router.get("/secret") { _, _ in
            struct DatabaseError: Error { let password = "hunter2" }
            throw DatabaseError()
        }
        router.get("/busy") { _, _ in
            _ = try Fiber.offload(pool: tinyPool) {
                started.withLock { $0 = true }
                while !release.current { usleep(1_000) }
                return 0
            }
            return .text("done")
        }
        defer { release.withLock { $0 = true } }
        for mode in [TestMode.inMemory, .live] {
            lines.withLock { $0 = [] }
            try router.test(mode, logger: logger) { client in
                let wrongType = try get(client, "/decode", method: "POST", body: #"{"count":"three"}"#)
                XCTAssertEqual(wrongType.status, 400)
                XCTAssertEqual(wrongType.bodyString, "Bad Request: count: expected Int\n")
                let missing = try get(client, "/decode", method: "POST", body: "{}")
                XCTAssertEqual(missing.status, 400)
                XCTAssertEqual(missing.bodyString, "Bad Request: count: required field missing\n")
                XCTAssertEqual(try get(client, "/decode", method: "POST", body: #"{"count":3}"#).bodyString, "count 3")

                let secret = try get(client, "/secret", headers: "X-Request-Id: trace-42\r\n")
                XCTAssertEqual(secret.status, 500)
                XCTAssertEqual(secret.bodyString, "Internal Server Error (request trace-42)\n")
                XCTAssertFalse(secret.bodyString.contains("hunter2"))
                let logged = lines.current.filter { $0.message.hasPrefix("handler failed") }
                XCTAssertEqual(logged.count, 1, "\(mode)")
                XCTAssertEqual(logged.first?.metadata["request"], "trace-42")
                XCTAssertTrue(logged.first?.message.contains("DatabaseError") == true)
            }
        }

        // Live, three clients at once: one call runs, one waits in the queue, the other is
        // rejected with 503 + Retry-After.
        try router.test(.live, logger: logger) { client in
            let port = client.port!
            // One call runs, one waits in the queue: the other is rejected with 503 + Retry-After.
            let first = try TestClient(port: port)
            try first.send("GET /busy HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertTrue(waitUntil(timeout: .seconds(5)) { started.current }, "the first offloaded call runs")
            let second = try TestClient(port: port), third = try TestClient(port: port)
            try second.send("GET /busy HTTP/1.1\r\nHost: a\r\n\r\n")
            try third.send("GET /busy HTTP/1.1\r\nHost: a\r\n\r\n")
            // Release the first call only once one of the others has its answer: the rejected
            // one is answered while the first call runs (the queued one cannot be). A fixed
            // pause could end before a loaded machine had queued and rejected them.
            func hasAnAnswer(_ client: TestClient) -> Bool {
                var entry = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
                return poll(&entry, 1, 0) == 1
            }
            XCTAssertTrue(waitUntil(timeout: .seconds(10)) { hasAnAnswer(second) || hasAnAnswer(third) },
                          "neither of the other two calls was answered while the first ran")
            release.withLock { $0 = true }
            XCTAssertEqual(try first.readResponse().bodyString, "done")
            let others = [try second.readResponse(), try third.readResponse()]
            XCTAssertEqual(others.map(\.status).sorted(), [200, 503], "one queued, one rejected")
            let rejected = others.first { $0.status == 503 }
            XCTAssertEqual(rejected?.header("retry-after"), "1")
            XCTAssertNotNil(rejected?.header("x-request-id"), "the 503 went through the middleware")
    
        }
    }

    func testRequestIDIsReusedOrMade() throws {
        try bothModes(routes: { router in
            router.add(middleware: RequestIDMiddleware())
            router.get("/id") { _, context in .text(context.requestIdentifier) }
        }) { server, mode in
            let reused = try get(server, "/id", headers: "X-Request-Id: abc-123\r\n")
            XCTAssertEqual(reused.bodyString, "abc-123")
            XCTAssertEqual(reused.header("x-request-id"), "abc-123")
            let made = try get(server, "/id")
            let other = try get(server, "/id")
            XCTAssertEqual(made.header("x-request-id"), made.bodyString)
            XCTAssertFalse(made.bodyString.isEmpty)
            XCTAssertNotEqual(made.bodyString, other.bodyString)
            for hostile in ["has space", String(repeating: "x", count: 129)] {
                let replaced = try get(server, "/id", headers: "X-Request-Id: \(hostile)\r\n")
                XCTAssertNotEqual(replaced.bodyString, hostile, "an unusable incoming id is replaced")
                XCTAssertEqual(replaced.header("x-request-id"), replaced.bodyString)
            }
        }
    }

    func testAccessLogLinePerResponse() throws {
        let lines = Locked<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])
        let logger = Logger(label: "access") { _ in CapturingLogHandler(lines: lines) }
        try bothModes(routes: { router in
            router.add(middleware: RequestIDMiddleware()).add(middleware: AccessLogMiddleware(logger: logger))
            router.get("/hello") { _, _ in .text("Hello!") }
        }) { server, mode in
            lines.withLock { $0 = [] }
            _ = try get(server, "/hello", headers: "X-Request-Id: r1\r\n")
            _ = try get(server, "/nope", headers: "X-Request-Id: r2\r\n")
            XCTAssertTrue(waitUntil(timeout: .seconds(5)) { lines.current.count == 2 }, "two access log lines")
            let got = lines.current
            XCTAssertEqual(got.map(\.message), ["GET /hello 200", "GET /nope 404"])
            XCTAssertEqual(got.map { $0.metadata["request"]?.description }, ["r1", "r2"])
            XCTAssertEqual(got.map { $0.metadata["bytes"]?.description }, ["6", "10"])
            XCTAssertEqual(got.map(\.level), [.info, .info])
            XCTAssertNotNil(got[0].metadata["duration_us"])
        }
    }

    func testCORS() throws {
        try bothModes(routes: { router in
            router.add(middleware: CORSMiddleware(allowedOrigins: .list(["https://app.example"]), exposedHeaders: ["X-Total"],
                                                  allowCredentials: true))
            router.get("/data") { _, _ in .text("data") }
        }) { server, mode in
            let preflight = try get(server, "/data", headers: "Origin: https://app.example\r\nAccess-Control-Request-Method: PUT\r\n"
                                    + "Access-Control-Request-Headers: Content-Type\r\n", method: "OPTIONS")
            XCTAssertEqual(preflight.status, 204)
            XCTAssertEqual(preflight.header("access-control-allow-origin"), "https://app.example")
            XCTAssertEqual(preflight.header("access-control-allow-credentials"), "true")
            XCTAssertEqual(preflight.header("access-control-allow-headers"), "content-type")
            XCTAssertEqual(preflight.header("access-control-max-age"), "600")
            XCTAssertTrue(preflight.header("access-control-allow-methods")?.contains("PUT") == true)
            let badHeader = try get(server, "/data", headers: "Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n"
                                    + "Access-Control-Request-Headers: X-Secret\r\n", method: "OPTIONS")
            XCTAssertEqual(badHeader.status, 403)
            let stranger = try get(server, "/data", headers: "Origin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n", method: "OPTIONS")
            XCTAssertEqual(stranger.status, 403)
            XCTAssertNil(stranger.header("access-control-allow-origin"))
            let simple = try get(server, "/data", headers: "Origin: https://app.example\r\n")
            XCTAssertEqual(simple.bodyString, "data")
            XCTAssertEqual(simple.header("access-control-allow-origin"), "https://app.example")
            XCTAssertEqual(simple.header("access-control-expose-headers"), "X-Total")
            XCTAssertEqual(simple.header("vary"), "Origin")
            let strangerSimple = try get(server, "/data", headers: "Origin: https://evil.example\r\n")
            XCTAssertEqual(strangerSimple.status, 200)
            XCTAssertNil(strangerSimple.header("access-control-allow-origin"))
            let sameOrigin = try get(server, "/data")
            XCTAssertNil(sameOrigin.header("access-control-allow-origin"))
            XCTAssertNil(sameOrigin.header("vary"))
        }
    }
}

extension TestResponse {
    /// The status code.
    var statusCode: Int { status.code }
    /// The first value of `name`.
    func header(_ name: String) -> String? { headerFields[HTTPField.Name(name)!] }
    /// Every value of `name`, in order.
    func headers(_ name: String) -> [String] { headerFields[values: HTTPField.Name(name)!] }
}
