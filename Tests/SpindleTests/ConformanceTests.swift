// Conformance over the socket, table-driven: raw request bytes → the status line the server
// answers with, and whether it then closes the connection or keeps it alive (checked with a
// second request). Rejections must close; request smuggling attempts must get exactly one
// response and the connection closed without the smuggled request ever reaching a handler.
import Foundation
import Spindle
import SpindleHTTP
import SpindleTestSupport
import XCTest

/// One row: what is sent and what must come back.
struct WireCase {
    let name: String
    let request: [UInt8]
    let status: Int
    let closes: Bool
    var isHEAD = false
    var body: String? = nil

    init(_ name: String, _ request: String, _ status: Int, closes: Bool, isHEAD: Bool = false, body: String? = nil) {
        self.init(name, bytes(request), status, closes: closes, isHEAD: isHEAD, body: body)
    }

    init(_ name: String, _ request: [UInt8], _ status: Int, closes: Bool, isHEAD: Bool = false, body: String? = nil) {
        self.name = name
        self.request = request
        self.status = status
        self.closes = closes
        self.isHEAD = isHEAD
        self.body = body
    }
}

private let host = "Host: a\r\n"
private let smuggledRequest = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

/// Accepted requests (kept alive unless the protocol says close).
let acceptedCases: [WireCase] = [
    .init("GET HTTP/1.1", "GET /ok HTTP/1.1\r\n\(host)\r\n", 200, closes: false, body: "ok"),
    .init("HTTP/1.0 without keep-alive closes", "GET /ok HTTP/1.0\r\n\r\n", 200, closes: true, body: "ok"),
    .init("HTTP/1.0 with Connection: keep-alive stays open", "GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, closes: false),
    .init("HTTP/1.1 Connection: close", "GET /ok HTTP/1.1\r\n\(host)Connection: close\r\n\r\n", 200, closes: true),
    .init("HTTP/1.1 Connection: Close (case-insensitive)", "GET /ok HTTP/1.1\r\n\(host)Connection: Close\r\n\r\n", 200, closes: true),
    .init("HTTP/1.1 Connection: keep-alive, close", "GET /ok HTTP/1.1\r\n\(host)Connection: keep-alive, close\r\n\r\n", 200, closes: true),
    .init("HTTP/1.2 is handled as HTTP/1.1", "GET /ok HTTP/1.2\r\n\(host)\r\n", 200, closes: false),
    .init("empty lines before the request line", "\r\n\r\nGET /ok HTTP/1.1\r\n\(host)\r\n", 200, closes: false),
    .init("absolute-form target", "GET http://example.com:8080/ok HTTP/1.1\r\nHost: other\r\n\r\n", 200, closes: false),
    .init("empty Host", "GET /ok HTTP/1.1\r\nHost:\r\n\r\n", 200, closes: false),
    .init("query with visible punctuation", "GET /ok?q=a|b{c}^d&e=%20 HTTP/1.1\r\n\(host)\r\n", 200, closes: false),
    .init("route parameter", "GET /seq/42 HTTP/1.1\r\n\(host)\r\n", 200, closes: false, body: "seq 42"),
    .init("bad route parameter → HTTPError 400, kept alive", "GET /seq/x HTTP/1.1\r\n\(host)\r\n", 400, closes: false),
    .init("target exactly at the limit", "GET /ok?" + String(repeating: "p", count: 256 - 4) + " HTTP/1.1\r\n\(host)\r\n", 200, closes: false),
    .init("field count exactly at the limit", "GET /ok HTTP/1.1\r\n\(host)" + (1...11).map { "X-\($0): v\r\n" }.joined() + "\r\n", 200, closes: false),
    .init("HEAD: Content-Length, no body", "HEAD /hello HTTP/1.1\r\n\(host)\r\n", 200, closes: false, isHEAD: true),
    .init("POST /echo with Content-Length", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 11\r\n\r\nhello world", 200, closes: false, body: "hello world"),
    .init("POST /echo chunked", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 200, closes: false, body: "hello world"),
    .init("chunked with extensions and trailers", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5;a=b;c\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n", 200, closes: false, body: "hello"),
    .init("Transfer-Encoding case-insensitive with OWS", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding:  Chunked \r\n\r\n2\r\nhi\r\n0\r\n\r\n", 200, closes: false, body: "hi"),
    .init("handler ignores a small body (drained)", "POST /ignore-body HTTP/1.1\r\n\(host)Content-Length: 5\r\n\r\nhello", 200, closes: false, body: "ignored"),
    .init("Expect: 100-continue ignored in HTTP/1.0", "POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi", 200, closes: false, body: "hi"),
    .init("404 for an unknown path", "GET /nowhere HTTP/1.1\r\n\(host)\r\n", 404, closes: false),
    .init("405 for a known path, other method", "POST /resource HTTP/1.1\r\n\(host)Content-Length: 0\r\n\r\n", 405, closes: false),
    .init("methods are case-sensitive (get ≠ GET) → 405", "get /ok HTTP/1.1\r\n\(host)\r\n", 405, closes: false),
    .init("handler throws → 500, kept alive", "GET /throw HTTP/1.1\r\n\(host)\r\n", 500, closes: false),
    .init("HTTPError → its status", "GET /forbidden HTTP/1.1\r\n\(host)\r\n", 403, closes: false, body: "nope\n"),
]

/// Rejected requests: the status, then the connection is closed.
let rejectedCases: [WireCase] = [
    .init("missing Host in HTTP/1.1", "GET /ok HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, closes: true),
    .init("duplicate Host", "GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, closes: true),
    .init("invalid Host", "GET /ok HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, closes: true),
    .init("Content-Length with Transfer-Encoding", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, closes: true),
    .init("Transfer-Encoding with Content-Length", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, closes: true),
    .init("two equal Content-Length fields", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 2\r\nContent-Length: 2\r\n\r\nhi", 400, closes: true),
    .init("two differing Content-Length fields", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 2\r\nContent-Length: 3\r\n\r\nhi!", 400, closes: true),
    .init("Content-Length list", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 2, 2\r\n\r\nhi", 400, closes: true),
    .init("Content-Length not a number", "POST /echo HTTP/1.1\r\n\(host)Content-Length: abc\r\n\r\n", 400, closes: true),
    .init("Content-Length negative", "POST /echo HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\n", 400, closes: true),
    .init("Content-Length with sign", "POST /echo HTTP/1.1\r\n\(host)Content-Length: +2\r\n\r\nhi", 400, closes: true),
    .init("Content-Length overflow", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 99999999999999999999999\r\n\r\n", 400, closes: true),
    .init("chunk size not hex", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400, closes: true),
    .init("chunk size 0x-prefixed", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400, closes: true),
    .init("chunk size overflow", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400, closes: true),
    .init("chunk data without CRLF", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400, closes: true),
    .init("chunk size line with bare LF", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400, closes: true),
    .init("unknown transfer coding gzip → 501", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\n\r\n", 501, closes: true),
    .init("transfer coding identity → 501", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: identity\r\n\r\n", 501, closes: true),
    .init("chunked not final", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400, closes: true),
    .init("Transfer-Encoding in HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, closes: true),
    .init("obs-fold", "GET /ok HTTP/1.1\r\n\(host)X-Folded: a\r\n b\r\n\r\n", 400, closes: true),
    .init("whitespace before colon", "GET /ok HTTP/1.1\r\nHost : a\r\n\r\n", 400, closes: true),
    .init("whitespace before the first field", "GET /ok HTTP/1.1\r\n \(host)\r\n", 400, closes: true),
    .init("invalid token character in a field name", "GET /ok HTTP/1.1\r\n\(host)X@Y: 1\r\n\r\n", 400, closes: true),
    .init("field line without colon", "GET /ok HTTP/1.1\r\n\(host)NoColon\r\n\r\n", 400, closes: true),
    .init("invalid token character in the method", "G@T /ok HTTP/1.1\r\n\(host)\r\n", 400, closes: true),
    .init("NUL in a field value", "GET /ok HTTP/1.1\r\n\(host)X: a\u{0}b\r\n\r\n", 400, closes: true),
    .init("DEL in a field value", "GET /ok HTTP/1.1\r\n\(host)X: a\u{7F}b\r\n\r\n", 400, closes: true),
    .init("NUL in the target", "GET /o\u{0}k HTTP/1.1\r\n\(host)\r\n", 400, closes: true),
    .init("non-ASCII byte in the target", bytes("GET /caf") + [0xC3, 0xA9] + bytes(" HTTP/1.1\r\n\(host)\r\n"), 400, closes: true),
    .init("fragment in the target", "GET /ok#frag HTTP/1.1\r\n\(host)\r\n", 400, closes: true),
    .init("bare CR in a field line", "GET /ok HTTP/1.1\r\n\(host)X: a\rb\r\n\r\n", 400, closes: true),
    .init("bare LF ending the request line", "GET /ok HTTP/1.1\n\(host)\r\n", 400, closes: true),
    .init("too many empty lines first", String(repeating: "\r\n", count: 9) + "GET /ok HTTP/1.1\r\n\(host)\r\n", 400, closes: true),
    .init("target over the limit → 414", "GET /ok?" + String(repeating: "p", count: 300) + " HTTP/1.1\r\n\(host)\r\n", 414, closes: true),
    .init("field section over the limit → 431", "GET /ok HTTP/1.1\r\n\(host)X-Big: " + String(repeating: "b", count: 1100) + "\r\n\r\n", 431, closes: true),
    .init("head larger than the receive buffer → 431", "GET /ok HTTP/1.1\r\n\(host)" + (0..<10).map { "X-\($0): " + String(repeating: "b", count: 1000) + "\r\n" }.joined() + "\r\n", 431, closes: true),
    .init("too many fields → 431", "GET /ok HTTP/1.1\r\n\(host)" + (1...12).map { "X-\($0): v\r\n" }.joined() + "\r\n", 431, closes: true),
    .init("Content-Length over the body limit → 413", "POST /echo HTTP/1.1\r\n\(host)Content-Length: \((256 << 10) + 1)\r\n\r\n", 413, closes: true),
    .init("chunk crossing the body limit → 413", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n\(String((256 << 10) + 1, radix: 16))\r\nabc", 413, closes: true),
    .init("HTTP/2.0 → 505", "GET /ok HTTP/2.0\r\n\(host)\r\n", 505, closes: true),
    .init("HTTP/0.9 version → 505", "GET /ok HTTP/0.9\r\n\(host)\r\n", 505, closes: true),
    .init("HTTP/3.0 → 505", "GET /ok HTTP/3.0\r\n\(host)\r\n", 505, closes: true),
    .init("malformed version", "GET /ok HTTP/1\r\n\(host)\r\n", 400, closes: true),
    .init("method longer than 32 bytes → 501", String(repeating: "M", count: 33) + " /ok HTTP/1.1\r\n\(host)\r\n", 501, closes: true),
    .init("CONNECT → 501", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501, closes: true),
    .init("unsupported expectation → 417", "POST /echo HTTP/1.1\r\n\(host)Expect: teapot\r\nContent-Length: 2\r\n\r\nhi", 417, closes: true),
]

/// Smuggling attempts: a request whose framing is ambiguous with a second request behind it.
/// The server answers the first (with an error) and closes; the second never runs.
let smugglingCases: [WireCase] = [
    .init("CL.TE", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("TE.CL", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n" + smuggledRequest + "\r\n0\r\n\r\n", 400, closes: true),
    .init("TE obs-fold", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("TE with space before colon", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("TE with vertical tab", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: \u{0B}chunked\r\n\r\n0\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("TE xchunked", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("TE xchunked alone", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggledRequest, 501, closes: true),
    .init("TE chunked twice", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("TE chunked then identity field", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("CL.CL differing", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 0\r\nContent-Length: 37\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("CL list", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 0, 37\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("bare LF hiding a request", "GET /ok HTTP/1.1\r\n\(host)X: y\n" + smuggledRequest, 400, closes: true),
    .init("bare CR splitting a field", "GET /ok HTTP/1.1\r\n\(host)X: y\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("invalid chunk size before a request", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("chunk size overflow before a request", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n" + smuggledRequest, 400, closes: true),
    .init("Transfer-Encoding in HTTP/1.0 before a request", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggledRequest, 400, closes: true),
    .init("missing Host with a request behind", "POST /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n" + smuggledRequest, 400, closes: true),
]

final class ConformanceTests: ServerTestCase {
    private func startConformanceServer(_ app: TestApplication) throws -> TestServer {
        try startServer(configure: {
            $0.limits = testLimits
            $0.shutdownGracePeriod = .seconds(2)
            $0.bodyTimeout = .seconds(5)
        }, routes: app.install)
    }

    /// Sends `c.request`, reads one response and checks status, body, persistence; returns
    /// failures as strings (so one table run reports every broken row).
    private func run(_ c: WireCase, port: Int) -> [String] {
        var problems: [String] = []
        do {
            let client = try TestClient(port: port)
            defer { client.close() }
            try client.send(c.request)
            let response = try client.readResponse(isHEAD: c.isHEAD)
            if response.status != c.status { problems.append("status \(response.status), expected \(c.status) (\(response))") }
            if !response.version.hasPrefix("HTTP/1.1") { problems.append("response version \(response.version)") }
            if let body = c.body, response.bodyString != body { problems.append("body \"\(response.bodyString)\", expected \"\(body)\"") }
            if response.header("date") == nil { problems.append("no Date field") }
            if c.closes {
                if !response.saysClose { problems.append("closes the connection without `Connection: close` (\(response))") }
                if try !client.isClosedByPeer(within: .seconds(3)) { problems.append("connection still open 3 s after the response") }
            } else {
                if response.saysClose { problems.append("says `Connection: close` although the connection should stay open") }
                try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
                let next = try client.readResponse()
                if next.status != 200 || next.bodyString != "ok" { problems.append("second request on the connection got \(next)") }
            }
        } catch {
            problems.append("\(error)")
        }
        return problems
    }

    private func runTable(_ cases: [WireCase], app: TestApplication, server: TestServer) {
        for c in cases {
            for problem in run(c, port: server.port) {
                XCTFail("[\(c.name)] \(problem)\n  request: \(preview(c.request))")
            }
        }
    }

    /// The server runs on the backend this process may use: under a seccomp filter that denies
    /// io_uring (`make test` runs this suite once so, under `spindle-seccomp-exec`), the
    /// automatic choice is epoll and says why; otherwise io_uring, or what SPINDLE_IO forces.
    func testTheBackendIsTheOneThisProcessMayUse() throws {
        let server = try startConformanceServer(TestApplication())
        let client = try TestClient(port: server.port)
        try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 200)
        let choice = try XCTUnwrap(server.server.backendChoice)
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let filtered = status.split(separator: "\n").contains { $0.hasPrefix("Seccomp:") && $0.hasSuffix("2") }
        if filtered {
            XCTAssertEqual(choice.kind, .epoll, "\(choice)")
            XCTAssertTrue(choice.reason.contains("seccomp") && choice.reason.contains("EPERM"), "\(choice)")
            print("ConformanceTests: under a seccomp filter, \(choice)")
        } else if let forced = ProcessInfo.processInfo.environment["SPINDLE_IO"] {
            XCTAssertEqual(choice.kind.rawValue, forced, "\(choice)")
        } else {
            XCTAssertEqual(choice.kind, .uring, "\(choice)")
        }
        try server.stop()
    }

    func testAcceptedRequests() throws {
        let app = TestApplication()
        let server = try startConformanceServer(app)
        runTable(acceptedCases, app: app, server: server)
        try server.stop()
    }

    func testRejectedRequests() throws {
        let app = TestApplication()
        let server = try startConformanceServer(app)
        runTable(rejectedCases, app: app, server: server)
        // The server is still up and serving after all of them.
        let client = try TestClient(port: server.port)
        try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 200)
        try server.stop()
    }

    func testSmugglingAttemptsGetOneResponseAndClose() throws {
        let app = TestApplication()
        let server = try startConformanceServer(app)
        runTable(smugglingCases, app: app, server: server)
        XCTAssertEqual(app.smuggled.current, 0, "a smuggled request reached its handler")
        try server.stop()
        XCTAssertEqual(app.smuggled.current, 0, "a smuggled request reached its handler")
    }

    func testTableSize() {
        let total = acceptedCases.count + rejectedCases.count + smugglingCases.count
        XCTAssertGreaterThanOrEqual(total, 40)
        print("ConformanceTests: \(acceptedCases.count) accepted + \(rejectedCases.count) rejected + \(smugglingCases.count) smuggling = \(total) wire cases")
    }

    /// Every row again, delivered one byte per `send`: the same outcome.
    func testTableByteByByte() throws {
        let app = TestApplication()
        let server = try startConformanceServer(app)
        let sample = acceptedCases.filter { $0.request.count < 200 } + rejectedCases.filter { $0.request.count < 200 }
            + smugglingCases.filter { $0.request.count < 200 }
        for c in sample {
            var problems: [String] = []
            do {
                let client = try TestClient(port: server.port)
                defer { client.close() }
                do {
                    try client.sendByteByByte(c.request, pauseMicroseconds: 100)
                } catch {
                    // A rejection may close the connection before the last bytes are sent.
                    if !c.closes { throw error }
                }
                let response = try client.readResponse(isHEAD: c.isHEAD)
                if response.status != c.status { problems.append("status \(response.status), expected \(c.status)") }
                if c.closes {
                    if try !client.isClosedByPeer(within: .seconds(3)) { problems.append("connection still open") }
                } else {
                    try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
                    if try client.readResponse().status != 200 { problems.append("second request failed") }
                }
            } catch {
                problems.append("\(error)")
            }
            for problem in problems { XCTFail("[byte by byte: \(c.name)] \(problem)") }
        }
        XCTAssertEqual(app.smuggled.current, 0)
        try server.stop()
    }
}
