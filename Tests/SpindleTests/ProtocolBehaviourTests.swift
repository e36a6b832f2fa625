// Protocol behaviour over the socket that needs more than one row of the table: pipelining,
// byte-by-byte delivery, HEAD, persistence, 100-continue, 404/405 + Allow, errors in handlers,
// streamed responses byte-exact, and request bodies (Content-Length and chunked, large, at the
// limit).
import Foundation
import Spindle
import SpindleHTTP
import SpindleTestSupport
import XCTest

final class ProtocolBehaviourTests: ServerTestCase {
    private var app = TestApplication()

    private func startTestServer(_ configure: @escaping (inout ServerConfiguration) -> Void = { _ in }) throws -> TestServer {
        let app = self.app
        return try startServer(configure: {
            $0.limits = testLimits
            $0.shutdownGracePeriod = .seconds(2)
            $0.bodyTimeout = .seconds(5)
            configure(&$0)
        }, routes: app.install)
    }

    // MARK: Pipelining and delivery

    func testSixteenPipelinedRequestsAnsweredInOrder() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        var batch: [UInt8] = []
        var expected: [(status: Int, body: String, isHEAD: Bool)] = []
        for i in 0..<16 {
            switch i % 4 {
            case 0:
                batch += bytes("GET /seq/\(i) HTTP/1.1\r\nHost: a\r\n\r\n")
                expected.append((200, "seq \(i)", false))
            case 1:
                let body = "body number \(i)"
                batch += bytes("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                expected.append((200, body, false))
            case 2:
                batch += bytes("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n\(String(i, radix: 16))\r\n" + String(repeating: "z", count: i) + "\r\n0\r\n\r\n")
                expected.append((200, "abc" + String(repeating: "z", count: i), false))
            default:
                batch += bytes("HEAD /seq/\(i) HTTP/1.1\r\nHost: a\r\n\r\n")
                expected.append((200, "", true))
            }
        }
        try client.send(batch)  // one write: all 16 heads arrive together
        for (i, e) in expected.enumerated() {
            let response = try client.readResponse(isHEAD: e.isHEAD)
            XCTAssertEqual(response.status, e.status, "response \(i)")
            XCTAssertEqual(response.bodyString, e.body, "response \(i) out of order or wrong")
            if e.isHEAD { XCTAssertEqual(response.header("content-length"), "\("seq \(i)".utf8.count)", "HEAD \(i)") }
        }
        // Nothing more, and still open.
        try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try client.readResponse().bodyString, "ok")
        try server.stop()
    }

    /// Responses that outlive their fiber: each 60 KiB response is sent after its fiber ended,
    /// into a 4 KiB socket send buffer, and the client reads nothing until three such requests
    /// were sent one by one, so the later ones find the previous send still in flight and must
    /// wait for it. Every body must arrive whole and in order.
    func testResponsesStillSendingWhenTheNextRequestArrives() throws {
        let server = try startTestServer { $0.socketSendBufferSize = 4096 }
        let client = try TestClient(port: server.port)
        for n in 1...3 {
            try client.send("GET /big/\(n) HTTP/1.1\r\nHost: a\r\n\r\n")
            usleep(50_000)  // this request's fiber ends; its send waits for the client to read
        }
        try client.send("GET /seq/4 HTTP/1.1\r\nHost: a\r\n\r\n")
        for n in 1...3 {
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200, "response \(n)")
            XCTAssertTrue(response.body == pattern(seed: n, count: 60 << 10), "body \(n) corrupted, cut or out of order")
        }
        XCTAssertEqual(try client.readResponse().bodyString, "seq 4")
        try server.stop()
    }

    /// Bytes that arrive while a handler sleeps: 40 pipelined echo requests (about 600 KiB)
    /// behind a sleeping one, far more than the receive buffer takes, so the server holds
    /// received buffers, pauses receiving at its limit, and resumes as the handlers consume.
    /// Every response must come back whole and in order.
    func testPipelinedBurstArrivingWhileTheHandlerSleeps() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        var burst = bytes("GET /sleep?ms=150 HTTP/1.1\r\nHost: a\r\n\r\n")
        let bodies = (0..<40).map { pattern(seed: $0, count: 15_000 + $0 * 100) }
        for body in bodies {
            burst += bytes("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.count)\r\n\r\n") + body
        }
        let finishSending = client.sendInBackground(burst)
        XCTAssertEqual(try client.readResponse().bodyString, "slept 150\n")
        for (i, body) in bodies.enumerated() {
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200, "response \(i)")
            XCTAssertTrue(response.body == body, "echo \(i) differs (\(response.body.count) of \(body.count) bytes)")
        }
        XCTAssertNil(finishSending())
        try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try client.readResponse().bodyString, "ok")
        try server.stop()
    }

    /// The client sends two requests and closes its side while the first handler still runs:
    /// both are answered, in order, and then the server closes.
    func testHalfCloseWhileServingPipelinedRequests() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        try client.send("GET /sleep?ms=100 HTTP/1.1\r\nHost: a\r\n\r\nGET /seq/2 HTTP/1.1\r\nHost: a\r\n\r\n")
        client.shutdownWrite()
        XCTAssertEqual(try client.readResponse().bodyString, "slept 100\n")
        XCTAssertEqual(try client.readResponse().bodyString, "seq 2")
        XCTAssertTrue(try client.isClosedByPeer())
        try server.stop()
    }

    func testPipelinedRequestsSplitAcrossWritesAtEveryOffset() throws {
        let server = try startTestServer()
        let two = bytes("GET /seq/1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz")
        let client = try TestClient(port: server.port)
        for split in stride(from: 1, to: two.count, by: 3) {
            try client.send(Array(two[..<split]))
            usleep(300)
            try client.send(Array(two[split...]))
            let first = try client.readResponse()
            let second = try client.readResponse()
            XCTAssertEqual(first.bodyString, "seq 1", "split at \(split)")
            XCTAssertEqual(second.bodyString, "xyz", "split at \(split)")
        }
        try server.stop()
    }

    func testByteByByteDelivery() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        try client.sendByteByByte(bytes("GET /hello HTTP/1.1\r\nHost: a\r\nX-Slow: yes\r\n\r\n"), pauseMicroseconds: 500)
        XCTAssertEqual(try client.readResponse().bodyString, "Hello, World!")
        try client.sendByteByByte(bytes("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n"), pauseMicroseconds: 500)
        XCTAssertEqual(try client.readResponse().bodyString, "hello world")
        try client.sendByteByByte(bytes("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"), pauseMicroseconds: 500)
        XCTAssertEqual(try client.readResponse().bodyString, "0123456789")
        try server.stop()
    }

    // MARK: HEAD and persistence

    func testHEADHasContentLengthButNoBody() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        try client.send("HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = try client.readResponse(isHEAD: true)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("content-length"), "13")
        // If a body had been sent, its bytes would precede the next status line.
        try client.send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        let get = try client.readResponse()
        XCTAssertEqual(get.bodyString, "Hello, World!")
        XCTAssertEqual(get.header("content-length"), "13")
        // HEAD of a streamed response: the head only.
        try client.send("HEAD /stream HTTP/1.1\r\nHost: a\r\n\r\n")
        let streamHead = try client.readResponse(isHEAD: true)
        XCTAssertEqual(streamHead.status, 200)
        try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try client.readResponse().bodyString, "ok", "bytes after a HEAD response")
        try server.stop()
    }

    func testConnectionCloseFromClientAndHTTP10() throws {
        let server = try startTestServer()
        // HTTP/1.1 with Connection: close: the response says close, then the server closes,
        // and does not serve a request pipelined after it.
        let a = try TestClient(port: server.port)
        try a.send("GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        let ra = try a.readResponse()
        XCTAssertEqual(ra.status, 200)
        XCTAssertTrue(ra.saysClose)
        XCTAssertTrue(try a.isClosedByPeer(), "server did not close after Connection: close")
        // HTTP/1.0 without keep-alive.
        let b = try TestClient(port: server.port)
        try b.send("GET /ok HTTP/1.0\r\n\r\n")
        let rb = try b.readResponse()
        XCTAssertEqual(rb.status, 200)
        XCTAssertEqual(rb.version, "HTTP/1.1")
        XCTAssertTrue(try b.isClosedByPeer(), "server did not close after an HTTP/1.0 request")
        // HTTP/1.0 with keep-alive: stays open, says keep-alive.
        let c = try TestClient(port: server.port)
        try c.send("GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let rc = try c.readResponse()
        XCTAssertEqual(rc.header("connection")?.lowercased(), "keep-alive")
        try c.send("GET /ok HTTP/1.0\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        XCTAssertTrue(try c.isClosedByPeer())
        // The client half-closes after its request: the response still comes.
        let d = try TestClient(port: server.port)
        try d.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        d.shutdownWrite()
        XCTAssertEqual(try d.readResponse().bodyString, "ok")
        XCTAssertTrue(try d.isClosedByPeer())
        XCTAssertEqual(app.smuggled.current, 0, "a request after Connection: close was served")
        try server.stop()
    }

    // MARK: 100-continue

    func testContinueSentWhenTheHandlerReadsTheBody() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        let interim = try client.readResponse()
        XCTAssertEqual(interim.statusLine, "HTTP/1.1 100 Continue")
        try client.send("hello")
        let final = try client.readResponse()
        XCTAssertEqual(final.status, 200)
        XCTAssertEqual(final.bodyString, "hello")
        // Chunked too.
        try client.send("POST /count HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 100)
        try client.send("3\r\nabc\r\n0\r\n\r\n")
        XCTAssertEqual(try client.readResponse().bodyString, "3")
        try server.stop()
    }

    func testNoContinueWhenTheHandlerDoesNotReadTheBody() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        try client.send("POST /ignore-body HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        client.setReceiveTimeout(milliseconds: 3000)
        let first = try client.readResponse()
        XCTAssertNotEqual(first.status, 100, "100 Continue sent although the handler never read the body (RFC 9110 §10.1.1: the final status may be sent instead; then the server closes or reads the body)")
        XCTAssertEqual(app.ignoredBodies.current, 1)
        if first.status == 100 {
            // What follows the wrongly sent 100: the server now waits for a body nobody asked for.
            let final = try? client.readResponse()
            XCTFail("after 100, the final response was \(final.map { "\($0.status)" } ?? "not sent within 3 s (the server waits for the body)")")
            // End the wait before stopping: a handler still running past the shutdown grace
            // period takes the process down (see testRequestOutlivingTheGracePeriod).
            client.close()
            usleep(100_000)
        } else {
            XCTAssertEqual(first.status, 200)
            XCTAssertEqual(first.bodyString, "ignored")
            // The body was never sent: the server must not treat the next bytes as this body
            // unless it keeps reading it; closing is the safe choice.
            if !first.saysClose {
                try client.send("hello")
                try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
                XCTAssertEqual(try client.readResponse().bodyString, "ok")
            } else {
                XCTAssertTrue(try client.isClosedByPeer())
            }
        }
        try server.stop()
    }

    // MARK: Routing and handler errors

    func testNotFoundAndMethodNotAllowedWithAllow() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        try client.send("GET /missing HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 404)
        try client.send("PUT /resource HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        let r = try client.readResponse()
        XCTAssertEqual(r.status, 405)
        let allowed = Set((r.header("allow") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        XCTAssertEqual(allowed, ["GET", "DELETE", "HEAD"], "Allow: \(r.header("allow") ?? "missing")")
        try client.send("DELETE /resource HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try client.readResponse().bodyString, "deleted")
        try server.stop()
    }

    func testHandlerErrorsAndTheServerStaysUp() throws {
        let server = try startTestServer()
        for _ in 0..<3 {
            let client = try TestClient(port: server.port)
            try client.send("GET /throw HTTP/1.1\r\nHost: a\r\n\r\n")
            let r = try client.readResponse()
            XCTAssertEqual(r.status, 500)
            XCTAssertTrue(r.bodyString.contains("Internal Server Error"), r.bodyString)
            try client.send("GET /forbidden HTTP/1.1\r\nHost: a\r\n\r\n")
            let f = try client.readResponse()
            XCTAssertEqual(f.status, 403)
            XCTAssertEqual(f.bodyString, "nope\n")
            try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(try client.readResponse().status, 200)
        }
        let fresh = try TestClient(port: server.port)
        try fresh.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try fresh.readResponse().status, 200)
        try server.stop()
    }

    // MARK: Streamed responses

    func testStreamedResponseIsByteExact() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        for _ in 0..<2 {
            try client.send("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
            let r = try client.readResponse()
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.header("transfer-encoding"), "chunked")
            XCTAssertNil(r.header("content-length"))
            XCTAssertEqual(r.header("content-type"), "text/plain")
            XCTAssertEqual(r.wireBody, expectedStreamWire, "chunked body on the wire: \(preview(r.wireBody))")
            XCTAssertEqual(r.body, TestApplication.streamPieces.flatMap { $0 })
        }
        try server.stop()
    }

    func testStreamedResponseToHTTP10IsNotChunked() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        try client.send("GET /stream HTTP/1.0\r\n\r\n")
        let r = try client.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertNil(r.header("transfer-encoding"), "chunked sent to an HTTP/1.0 client (RFC 9112 §6.1: a server MUST NOT send Transfer-Encoding to a client that did not announce HTTP/1.1)")
        XCTAssertEqual(r.body, TestApplication.streamPieces.flatMap { $0 })
        XCTAssertTrue(try client.isClosedByPeer())
        try server.stop()
    }

    func testStreamThatFailsAbortsTheConnection() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        try client.send("GET /stream-fails HTTP/1.1\r\nHost: a\r\n\r\n")
        // The head and the first chunk arrive, then the connection ends without a last chunk.
        XCTAssertThrowsError(try client.readResponse()) { error in
            XCTAssertTrue("\(error)".contains("end of stream"), "\(error)")
        }
        let fresh = try TestClient(port: server.port)
        try fresh.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try fresh.readResponse().status, 200)
        try server.stop()
    }

    // MARK: Request bodies

    private func echo(_ client: TestClient, body: [UInt8], chunkSize: Int? = nil, path: String = "/echo") throws -> WireResponse {
        var request: [UInt8]
        if let chunkSize {
            request = bytes("POST \(path) HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") + chunked(body, chunkSize: chunkSize)
        } else {
            request = bytes("POST \(path) HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.count)\r\n\r\n") + body
        }
        let finish = client.sendInBackground(request)
        let response = Result { try client.readResponse() }
        let sendError = finish()
        let r = try response.get()
        if let sendError, r.status == 200 { throw sendError }
        return r
    }

    func testEchoSmallBodies() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        for body in [[], bytes("x"), bytes("hello, world"), pattern(seed: 1, count: 1000)] {
            XCTAssertEqual(try echo(client, body: body).body, body, "Content-Length \(body.count)")
            XCTAssertEqual(try echo(client, body: body, chunkSize: 7).body, body, "chunked \(body.count)")
        }
        try server.stop()
    }

    func testEchoLargeContentLengthBodies() throws {
        let server = try startTestServer()
        for size in [8 << 10, 64 << 10, 200_000, 256 << 10] {
            let client = try TestClient(port: server.port)
            let body = pattern(seed: size, count: size)
            let r = try echo(client, body: body)
            XCTAssertEqual(r.status, 200, "Content-Length body of \(size) bytes: \(r.status) \(r.bodyString.prefix(200))")
            if r.status == 200 {
                XCTAssertEqual(r.body.count, size)
                XCTAssertTrue(r.body == body, "echo of \(size) bytes differs")
                try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
                XCTAssertEqual(try client.readResponse().status, 200)
            }
        }
        try server.stop()
    }

    func testEchoLargeChunkedBodies() throws {
        let server = try startTestServer()
        for (size, chunkSize) in [(8 << 10, 1000), (64 << 10, 7_001), (200_000, 65_536), (256 << 10, 4096)] {
            let client = try TestClient(port: server.port)
            let body = pattern(seed: size, count: size)
            let r = try echo(client, body: body, chunkSize: chunkSize)
            XCTAssertEqual(r.status, 200, "chunked body of \(size) bytes in \(chunkSize)-byte chunks: \(r.status) \(r.bodyString.prefix(200))")
            if r.status == 200 {
                XCTAssertTrue(r.body == body, "echo of \(size) chunked bytes differs")
            }
        }
        try server.stop()
    }

    /// The same with the default limits (1 MiB bodies, 16 KiB field sections): bodies larger
    /// than what is left of the receive buffer after the head must still be read.
    func testEchoLargeBodiesWithDefaultLimits() throws {
        let server = try startServer(configure: {
            $0.limits = HTTPLimits()
            $0.shutdownGracePeriod = .seconds(2)
        }, routes: app.install)
        for size in [20_000, 40_000, 100_000, 1 << 20] {
            for chunkSize in [nil, 16_000] as [Int?] {
                let client = try TestClient(port: server.port)
                let body = pattern(seed: size, count: size)
                let r = try echo(client, body: body, chunkSize: chunkSize)
                let framing = chunkSize.map { "chunked (\($0)-byte chunks)" } ?? "Content-Length"
                XCTAssertEqual(r.status, 200, "\(framing) body of \(size) bytes with default limits: \(r.status) \(r.bodyString.prefix(200))")
                if r.status == 200 { XCTAssertTrue(r.body == body, "\(framing) echo of \(size) bytes differs") }
            }
        }
        try server.stop()
    }

    func testLargeBodyReadInPieces() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        let r = try echo(client, body: pattern(seed: 3, count: 200_000), path: "/count")
        XCTAssertEqual(r.status, 200, r.bodyString)
        XCTAssertEqual(r.bodyString, "200000")
        try server.stop()
    }

    func testBodiesOverTheLimit() throws {
        let server = try startTestServer()
        let limit = testLimits.maxBodyBytes
        // Content-Length over the limit: refused from the head.
        let a = try TestClient(port: server.port)
        let ra = try echo(a, body: pattern(seed: 5, count: limit + 1))
        XCTAssertEqual(ra.status, 413)
        XCTAssertTrue(ra.saysClose)
        XCTAssertTrue(try a.isClosedByPeer())
        // Chunked over the limit: refused when the crossing chunk is announced.
        let b = try TestClient(port: server.port)
        let rb = try echo(b, body: pattern(seed: 6, count: limit + 1), chunkSize: 10_000)
        XCTAssertEqual(rb.status, 413)
        XCTAssertTrue(try b.isClosedByPeer())
        try server.stop()
    }

    func testHandlerIgnoringALargeBodyClosesOrDrains() throws {
        let server = try startTestServer()
        let client = try TestClient(port: server.port)
        let r = try echo(client, body: pattern(seed: 9, count: 200_000), path: "/ignore-body")
        XCTAssertEqual(r.status, 200)
        if r.saysClose {
            XCTAssertTrue(try client.isClosedByPeer())
        } else {
            try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(try client.readResponse().bodyString, "ok")
        }
        try server.stop()
    }

    /// A handler still running when the shutdown grace period ends is cancelled; stop must
    /// then still complete cleanly (run in a subprocess server: the failure mode is a crash).
    func testRequestOutlivingTheGracePeriod() throws {
        let probe = try startProbe(["serve", "--grace", "200"])
        let portLine = try probe.waitForLine(prefix: "port ", timeout: .seconds(30))
        let port = Int(portLine.dropFirst(5))!
        let client = try TestClient(port: port)
        try client.send("GET /sleep?ms=5000 HTTP/1.1\r\nHost: a\r\n\r\n")
        // Stop once the handler is asleep (a fixed pause may end before a loaded machine got there).
        let asleep = waitUntil(timeout: .seconds(10)) {
            try? probe.send(line: "inflight")
            usleep(5_000)
            return probe.stdout.contains("inflight 1\n")
        }
        XCTAssertTrue(asleep, "the handler never ran: \(probe.stdout.split(separator: "\n").last ?? "")")
        try probe.send(line: "stop")
        let response = Result { try client.readResponse() }
        let result = try probe.waitForExit(timeout: .seconds(20))
        XCTAssertTrue(result.exited && result.status == 0 && result.stdout.contains("stopped"),
                      "server process ended with status \(result.status) (exited: \(result.exited)) after stop() with a request outliving the 200 ms grace period:\n\(result.stderr.prefix(3000))")
        switch response {
        case .success(let r): XCTAssertNotEqual(r.status, 200, "a cancelled handler answered 200")
        case .failure: break  // closed without a response: acceptable
        }
    }

    /// `RequestBody.read(into:)` with a buffer smaller than 64 bytes, run in a subprocess
    /// server (`spindle-server-probe serve`) because the failure mode stops the process.
    func testBodyReadWithASmallBuffer() throws {
        let probe = try startProbe(["serve"])
        let portLine = try probe.waitForLine(prefix: "port ", timeout: .seconds(30))
        let port = Int(portLine.dropFirst(5))!
        var outcome = "ok"
        do {
            let client = try TestClient(port: port)
            let body = pattern(seed: 11, count: 100)
            try client.send(bytes("POST /small-read HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n") + body)
            let r = try client.readResponse()
            XCTAssertEqual(r.status, 200)
            XCTAssertTrue(r.body == body, "small reads returned \(r.body.count) bytes")
        } catch {
            outcome = "\(error)"
        }
        if probe.isRunning { try? probe.send(line: "stop") }
        let result = try probe.waitForExit(timeout: .seconds(20))
        XCTAssertEqual(outcome, "ok", "the request failed; server stderr:\n\(result.stderr)")
        XCTAssertTrue(result.exited && result.status == 0, "server process ended with status \(result.status) (exited: \(result.exited)):\n\(result.stderr)")
    }
}
