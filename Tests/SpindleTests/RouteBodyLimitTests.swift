// A route's own body limit (`Router.on(_:_:maxBodyBytes:_:)`), above and below the server's, in
// memory and over a socket: Content-Length refused before the handler, chunked bodies refused
// as they cross it, `readAll()` collecting up to it, 100 Continue sent when a lifted limit
// makes the body welcome, and the connection kept alive after a lifted refusal.
import Foundation
import HTTPTypes
import Spindle
import SpindleTestSupport
import SpindleTesting
import XCTest

final class RouteBodyLimitTests: XCTestCase {
    /// The server's limit in these tests.
    private static let serverLimit = 1000

    private func makeRouter(handlerRuns: Locked<Int>) -> Router<Handler> {
        let router = Router<Handler>()
        let count: Handler = { request, _ in
            handlerRuns.withLock { $0 += 1 }
            return .text("\(try request.body.readAll().count)")
        }
        router.post("/server-limit", count)
        router.post("/large", maxBodyBytes: 5000, count)
        router.put("/small", maxBodyBytes: 10, count)
        router.on(.post, "/unlimited", maxBodyBytes: 0, count)
        router.group("/group").patch("/large", maxBodyBytes: 5000, count)
        router.post("/streamed", maxBodyBytes: 5000) { request, _ in
            var buffer = [UInt8](repeating: 0, count: 333)
            var total = 0
            while true {
                let n = try request.body.read(into: &buffer)
                if n == 0 { break }
                XCTAssertEqual(buffer.count, 333, "read(into:) keeps the array's count")
                total += n
            }
            return .text("\(total)")
        }
        return router
    }

    private struct Case {
        let method: HTTPRequest.Method
        let target: String
        let size: Int
        let chunked: Bool
        let status: HTTPResponse.Status
    }

    private static let cases: [Case] = [
        Case(method: .post, target: "/server-limit", size: 1000, chunked: false, status: .ok),
        Case(method: .post, target: "/server-limit", size: 1001, chunked: false, status: .contentTooLarge),
        Case(method: .post, target: "/server-limit", size: 1001, chunked: true, status: .contentTooLarge),
        Case(method: .post, target: "/large", size: 3000, chunked: false, status: .ok),
        Case(method: .post, target: "/large", size: 5000, chunked: true, status: .ok),
        Case(method: .post, target: "/large", size: 5001, chunked: false, status: .contentTooLarge),
        Case(method: .post, target: "/large", size: 5001, chunked: true, status: .contentTooLarge),
        Case(method: .patch, target: "/group/large", size: 4000, chunked: false, status: .ok),
        Case(method: .post, target: "/streamed", size: 4999, chunked: true, status: .ok),
        Case(method: .put, target: "/small", size: 10, chunked: false, status: .ok),
        Case(method: .put, target: "/small", size: 11, chunked: false, status: .contentTooLarge),
        Case(method: .put, target: "/small", size: 11, chunked: true, status: .contentTooLarge),
        Case(method: .post, target: "/unlimited", size: 20_000, chunked: true, status: .ok),
        Case(method: .post, target: "/unlimited", size: 20_000, chunked: false, status: .ok),
        // No route, and a route for another method: the server's limit answers first.
        Case(method: .post, target: "/missing", size: 3000, chunked: false, status: .contentTooLarge),
        Case(method: .get, target: "/large", size: 3000, chunked: false, status: .contentTooLarge),
    ]

    func testARouteLimitReplacesTheServerLimitInBothModes() throws {
        for mode in [TestMode.inMemory, .live] {
            let handlerRuns = Locked(0)
            var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
            configuration.limits.maxBodyBytes = Self.serverLimit
            try makeRouter(handlerRuns: handlerRuns).test(mode, configuration: configuration) { client in
                for testCase in Self.cases {
                    let body = pattern(seed: testCase.size, count: testCase.size)
                    var headers: HTTPFields = [:]
                    var bytes = body
                    if testCase.chunked {
                        headers[.transferEncoding] = "chunked"
                        bytes = Self.chunked(body, pieceSize: 700)
                    }
                    let before = handlerRuns.current
                    let response = try client.execute(testCase.method, testCase.target, headers: headers, body: bytes)
                    let name = "\(mode) \(testCase.method) \(testCase.target) \(testCase.size)\(testCase.chunked ? " chunked" : "")"
                    XCTAssertEqual(response.status, testCase.status, "\(name): \(response.bodyString)")
                    if testCase.status == .ok { XCTAssertEqual(response.bodyString, "\(testCase.size)", name) }
                    if testCase.status == .contentTooLarge && !testCase.chunked {
                        XCTAssertEqual(handlerRuns.current, before, "\(name): refused before the handler ran")
                    }
                }
            }
        }
    }

    /// Over a socket: a body announced over the server's limit but within the route's gets
    /// `100 Continue`, is read, answered, and the connection stays open for the next request.
    func testALiftedLimitSendsContinueAndKeepsTheConnection() throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.limits.maxBodyBytes = Self.serverLimit
        configuration.workers = 1
        let server = Server(router: makeRouter(handlerRuns: Locked(0)), configuration: configuration)
        let port = try server.start().port
        defer {
            server.stop()
            server.wait()
        }
        let fd = try connectToLoopback(port: port, timeoutSeconds: 10)
        defer { close(fd) }
        try sendAll(fd: fd, Array("POST /large HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3000\r\n\r\n".utf8))
        var received = try Self.read(fd, until: "\r\n\r\n")
        XCTAssertTrue(received.hasPrefix("HTTP/1.1 100 Continue\r\n"), received)
        try sendAll(fd: fd, pattern(seed: 1, count: 3000))
        received = try Self.read(fd, until: "3000")
        XCTAssertTrue(received.contains("HTTP/1.1 200 OK\r\n"), received)
        XCTAssertFalse(received.lowercased().contains("connection: close"), received)
        try sendAll(fd: fd, Array("POST /server-limit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello".utf8))
        received = try Self.read(fd, until: "\r\n\r\n5")
        XCTAssertTrue(received.contains("HTTP/1.1 200 OK\r\n"), received)
    }

    private static func chunked(_ body: [UInt8], pieceSize: Int) -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        while start < body.count {
            let end = min(start + pieceSize, body.count)
            out += Array(String(end - start, radix: 16).utf8) + Array("\r\n".utf8) + body[start..<end] + Array("\r\n".utf8)
            start = end
        }
        return out + Array("0\r\n\r\n".utf8)
    }

    /// Reads from `fd` until what came holds `marker` (at most 10 s by the socket's timeout).
    private static func read(_ fd: Int32, until marker: String) throws -> String {
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.contains(marker) {
            let n = Glibc.read(fd, &buffer, buffer.count)
            guard n > 0 else { throw TestFailure("the connection ended before \(marker.debugDescription): \(received)") }
            received += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        return received
    }
}
