// The connection's state machine (`HTTPConnection.State`) over real sockets, raw bytes: the
// transitions that take time, a client that closes or resets, and error responses.
//
//   serving ── body deadline ──▶ sendingLast(linger) ──▶ lingering     408 tests
//   idle ── FIN while a response is still sending ──▶ sendingLast      half-close tests
//   readingHead ── 413 ──▶ sendingLast(linger) ──▶ lingering ──▶ closed lingering tests
//   serving ── body left with invalid framing ──▶ 400, sendingLast     framing tests
//   serving ── reset / failed send ──▶ cancelling ──fiber ends──▶ closed  reset tests
//   every state ── stop() ──▶ closed (grace period, then cancelling)    shutdown test
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Spindle
import SpindleFibers
import SpindleHTTP
import SpindleTestSupport
import XCTest

final class ConnectionStateTests: ServerTestCase {
    private let app = TestApplication()

    private func startTestServer(_ configure: @escaping (inout ServerConfiguration) -> Void = { _ in }) throws -> TestServer {
        let app = self.app
        return try startServer(configure: {
            $0.workers = 1
            $0.limits = testLimits
            $0.shutdownGracePeriod = .seconds(2)
            configure(&$0)
        }, routes: app.install)
    }

    /// Sends one byte every `interval` on `client`'s socket from another thread until `stop()`
    /// (which waits for the thread), or until a send fails.
    private func drip(_ client: TestClient, every interval: Duration) -> () -> Void {
        let fd = client.fd
        let stopped = Locked(false)
        let done = DispatchSemaphore(value: 0)
        let pause = UInt32(interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000)
        Thread {
            defer { done.signal() }
            while !stopped.current {
                guard (try? sendAll(fd: fd, [UInt8(ascii: "x")])) != nil else { return }
                var slept: UInt32 = 0
                while slept < pause && !stopped.current {
                    usleep(min(10_000, pause - slept))
                    slept += 10_000
                }
            }
        }.start()
        return {
            stopped.set(true)
            done.wait()
        }
    }

    // MARK: Body deadlines

    /// A body dripped one byte every 2 s against a 3 s body timeout: 408 after about 3 s (not a
    /// 500 from the handler's catch-all, not a wait per byte), and the connection closes.
    func testBodyDrippedPastTheBodyTimeoutGets408AndCloses() throws {
        let server = try startTestServer { $0.bodyTimeout = .seconds(3) }
        let client = try TestClient(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n")
        let start = Deadline.now
        let stopDripping = drip(client, every: .seconds(2))
        let response = Result { try client.readResponse() }
        let elapsed = milliseconds(since: start)
        stopDripping()
        let r = try response.get()
        XCTAssertEqual(r.status, 408, r.bodyString)
        XCTAssertTrue(r.saysClose, r.description)
        XCTAssertGreaterThanOrEqual(elapsed, 2_900, "408 before the body timeout")
        XCTAssertLessThan(elapsed, 4_500, "408 long after the 3 s body timeout")
        XCTAssertTrue(try client.isClosedByPeer(within: .seconds(3)), "the connection stays open after the 408")
        print("ConnectionStateTests: body dripped at 1 byte / 2 s against a 3 s body timeout: 408 after \(Int(elapsed)) ms")
        // The server is fine.
        let fresh = try TestClient(port: server.port)
        try fresh.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try fresh.readResponse().status, 200)
        try server.stop()
    }

    /// Below `minimumBodyRate` once the grace period is over: 408 long before `bodyTimeout`,
    /// also when the handler wraps the body's error in one of its own.
    func testBodyBelowTheMinimumRateGets408AfterTheGracePeriod() throws {
        let server = try startTestServer {
            $0.bodyTimeout = .seconds(60)
            $0.minimumBodyRate = 1000
            $0.bodyRateGracePeriod = .seconds(1)
        }
        let client = try TestClient(port: server.port)
        try client.send("POST /echo-wrapped HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
        let start = Deadline.now
        let stopDripping = drip(client, every: .milliseconds(100))  // 10 bytes/s
        let response = Result { try client.readResponse() }
        let elapsed = milliseconds(since: start)
        stopDripping()
        let r = try response.get()
        XCTAssertEqual(r.status, 408, "a body error the handler wrapped became \(r.status): \(r.bodyString)")
        XCTAssertTrue(r.bodyString.contains("too slowly"), r.bodyString)
        XCTAssertGreaterThanOrEqual(elapsed, 900, "408 within the grace period")
        XCTAssertLessThan(elapsed, 2_500, "408 long after the 1 s grace period")
        XCTAssertTrue(try client.isClosedByPeer(within: .seconds(3)))
        try server.stop()
    }

    // MARK: Half-close

    /// The client sends its requests and closes its side (FIN) while their responses are still
    /// being sent (small socket buffers, a client that reads only after its FIN): it gets every
    /// response whole, then the server closes.
    func testHalfCloseNeverCutsResponsesStillBeingSent() throws {
        let server = try startTestServer { $0.socketSendBufferSize = 4096 }
        // A response sent after its fiber ended: the connection is idle when the FIN comes.
        let idle = try TestClient(port: server.port, receiveBufferSize: 4096)
        try idle.send("GET /big/1 HTTP/1.1\r\nHost: a\r\n\r\n")
        usleep(50_000)
        idle.shutdownWrite()
        usleep(100_000)  // the FIN is there long before the response is out
        let first = try idle.readResponse()
        XCTAssertEqual(first.status, 200)
        XCTAssertTrue(first.body == pattern(seed: 1, count: 60 << 10), "response cut by the client's FIN: \(first.body.count) bytes")
        XCTAssertTrue(try idle.isClosedByPeer(), "not closed after the response to a half-closed client")
        // Pipelined: the FIN comes while a fiber waits for the previous response's send.
        let client = try TestClient(port: server.port, receiveBufferSize: 4096)
        for n in 1...3 {
            try client.send("GET /big/\(n) HTTP/1.1\r\nHost: a\r\n\r\n")
            usleep(30_000)
        }
        client.shutdownWrite()
        usleep(100_000)
        for n in 1...3 {
            let r = try client.readResponse()
            XCTAssertEqual(r.status, 200, "response \(n)")
            XCTAssertTrue(r.body == pattern(seed: n, count: 60 << 10), "response \(n) cut: \(r.body.count) bytes")
        }
        XCTAssertTrue(try client.isClosedByPeer(), "not closed after the responses to a half-closed client")
        // A response written by its fiber (larger than a batch) with the FIN right behind the request.
        let large = try TestClient(port: server.port)
        try large.send("GET /bytes/1000000 HTTP/1.1\r\nHost: a\r\n\r\n")
        large.shutdownWrite()
        usleep(100_000)
        let r = try large.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body == pattern(seed: 1_000_000, count: 1_000_000), "large response cut: \(r.body.count) bytes")
        XCTAssertTrue(try large.isClosedByPeer())
        try server.stop()
    }

    // MARK: Lingering close

    /// A client that goes on sending a body the server refused (413 from the head): the server
    /// half-closes after the 413 and reads what still comes, so every send succeeds (no reset)
    /// and the client reads the 413; the server closes when the client does, or when the
    /// lingering timeout has passed.
    func testLingeringCloseLetsAClientStillSendingReadThe413() throws {
        let server = try startTestServer { $0.lingeringCloseTimeout = .milliseconds(800) }
        let head = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: \(testLimits.maxBodyBytes + 100_000)\r\n\r\n"
        let client = try TestClient(port: server.port)
        try client.send(head)
        usleep(100_000)  // the 413 is out: a plain close would have reset the next bytes
        for i in 0..<3 {
            XCTAssertNoThrow(try client.send(pattern(seed: i, count: 16 << 10)), "body piece \(i) after the 413 (reset by the server?)")
            usleep(30_000)
        }
        let r = try client.readResponse()
        XCTAssertEqual(r.status, 413)
        XCTAssertTrue(r.saysClose)
        client.shutdownWrite()
        XCTAssertTrue(try client.isClosedByPeer(within: .seconds(1)))

        // A client that stays: the server closes once the lingering timeout has passed (then a
        // send meets a closed socket: reset).
        let stays = try TestClient(port: server.port)
        try stays.send(head)
        XCTAssertEqual(try stays.readResponse().status, 413)
        XCTAssertNoThrow(try stays.send(pattern(seed: 9, count: 1000)), "reset while lingering")
        usleep(1_200_000)
        var failedAfterLingering = false
        for _ in 0..<10 where !failedAfterLingering {
            failedAfterLingering = (try? stays.send(pattern(seed: 10, count: 1000))) == nil
            usleep(20_000)
        }
        XCTAssertTrue(failedAfterLingering, "the server still reads 1.2 s into an 800 ms lingering close")
        try server.stop()
    }

    // MARK: Body framing checked when the handler left the body

    /// The handler ignores the body; its chunked framing is invalid: 400 (not the handler's 200)
    /// and close, whether the bad bytes came with the head or after it.
    func testInvalidChunkedBodyLeftByTheHandlerGets400() throws {
        let server = try startTestServer()
        let head = chunkedHead("/ignore-body")
        _ = try sendInvalidChunkedBody(to: "/ignore-body", port: server.port)  // with the head

        let later = try TestClient(port: server.port)
        try later.send(head + "5\r\nhello\r\n")
        usleep(50_000)
        try later.send("5\r\nworldX\r\n0\r\n\r\n")  // chunk data not followed by CRLF
        let r2 = try later.readResponse()
        XCTAssertEqual(r2.status, 400, r2.bodyString)
        XCTAssertTrue(try later.isClosedByPeer())
        XCTAssertEqual(app.ignoredBodies.current, 2, "the handler runs; its response is replaced")

        // A valid body the handler ignores: its own response, and the connection goes on.
        let valid = try TestClient(port: server.port)
        try valid.send(head + "5\r\nhello\r\n0\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try valid.readResponse().bodyString, "ignored")
        XCTAssertEqual(try valid.readResponse().bodyString, "ok")
        try server.stop()
    }

    /// The response that replaces the handler's when the body it left is invalid keeps the
    /// handler's `onWritten` handlers: they see what was written (the 400), as they do for the
    /// handler's own response when the body left behind is valid.
    func testTheResponseForAnInvalidBodyLeftBehindRunsTheHandlersOnWritten() throws {
        let server = try startTestServer()
        let replaced = try sendInvalidChunkedBody(to: "/ignore-body-noted", port: server.port)
        let valid = try TestClient(port: server.port)
        try valid.send(chunkedHead("/ignore-body-noted") + "5\r\nhello\r\n0\r\n\r\n")
        XCTAssertEqual(try valid.readResponse().bodyString, "ignored")
        try server.stop()
        XCTAssertEqual(app.writtenAfterIgnoredBody.current, ["400 \(replaced.body.count)", "200 7"])
    }

    /// The head of a chunked POST to `path`.
    private func chunkedHead(_ path: String) -> String {
        "POST \(path) HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    }

    /// Sends a chunked POST to `path` whose body (a chunk size `zz`) is invalid, with the head,
    /// on a new connection; checks the answer is a 400 that closes the connection and returns it.
    private func sendInvalidChunkedBody(to path: String, port: Int, file: StaticString = #filePath, line: UInt = #line) throws -> WireResponse {
        let client = try TestClient(port: port)
        try client.send(chunkedHead(path) + "zz\r\nabc\r\n0\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 400, response.bodyString, file: file, line: line)
        XCTAssertTrue(response.saysClose, file: file, line: line)
        XCTAssertTrue(try client.isClosedByPeer(), file: file, line: line)
        return response
    }

    // MARK: Resets while a fiber serves

    /// Connections reset (SO_LINGER 0) while responses are still being sent after their fiber
    /// ended and the next request's fiber is on the connection: parked in its handler (which
    /// reads its request after the park) or in writes of many pipelined large responses. The
    /// fiber is cancelled and the connection closes only after it has ended, so the handler's
    /// request stays valid (AddressSanitizer sees no use after free); the server keeps serving,
    /// stops cleanly, and every descriptor is closed (tearDown).
    func testResetWhileResponsesAreStillSendingAndAFiberServes() throws {
        let server = try startTestServer { $0.socketSendBufferSize = 4096 }
        var clients: [TestClient] = []
        for i in 0..<8 {
            // The client reads nothing: the response's send stays in flight after its fiber ended.
            let client = try TestClient(port: server.port, receiveBufferSize: 4096)
            try client.send("GET /big/1 HTTP/1.1\r\nHost: a\r\nX-Probe: \(i)\r\n\r\n")
            usleep(20_000)
            var next = bytes("GET /touch-after-sleep?ms=\(1000 + i)&probe=\(i) HTTP/1.1\r\nHost: a\r\nX-Probe: \(i)\r\n\r\n")
            if i % 2 == 1 {
                next = []
                for n in 2...16 { next += bytes("GET /big/\(n) HTTP/1.1\r\nHost: a\r\nX-Probe: \(i)\r\n\r\n") }
                next += bytes("GET /touch-after-sleep?ms=50&probe=\(i) HTTP/1.1\r\nHost: a\r\nX-Probe: \(i)\r\n\r\n")
            }
            try client.send(next)
            clients.append(client)
        }
        usleep(100_000)  // every fiber is parked: in its handler, or behind the send in flight
        for (i, client) in clients.enumerated() {
            client.reset()
            usleep(UInt32(i % 3) * 5_000)
        }
        usleep(200_000)
        // New connections take receive buffers from the pool (most recently given back first)
        // while the handlers above may still look at theirs.
        var fresh: [TestClient] = []
        for k in 0..<8 {
            let client = try TestClient(port: server.port)
            try client.send("GET /touch-after-sleep?ms=300&probe=fresh\(k) HTTP/1.1\r\nHost: a\r\nX-Probe: fresh\(k)\r\n\r\n")
            fresh.append(client)
        }
        for (k, client) in fresh.enumerated() {
            XCTAssertEqual(try client.readResponse().bodyString, "/touch-after-sleep a fresh\(k)")
        }
        usleep(1_000_000)  // the handlers of the reset connections have looked at their requests
        XCTAssertLessThan(try server.stop(timeout: .seconds(10)), 3_000, "stop waited for connections that were reset")
        XCTAssertEqual(app.requestsChangedUnderHandler.current, 0, "a handler's request changed under it (its receive buffer went back to the pool)")
    }

    // MARK: Shutdown

    /// `stop()` while fibers are parked behind sends nobody reads, responses are still being sent
    /// after their fiber ended, handlers run past the grace period, and clients reset during the
    /// drain: the server process stops cleanly (exit 0, in a probe: the failure mode is an
    /// abort) with every descriptor closed, and no handler saw its request change under it. The
    /// probe runs without pools (`SPINDLE_POOLS=off`), so a receive buffer given back too early
    /// is freed memory (which AddressSanitizer reports).
    func testStopWithSendsPendingWhileClientsReset() throws {
        let probe = try startProbe(["serve", "--grace", "300", "--send-buffer", "4096"], environment: ["SPINDLE_POOLS": "off"])
        let port = Int(try probe.waitForLine(prefix: "port ", timeout: .seconds(30)).dropFirst(5))!
        var clients: [TestClient] = []
        for i in 0..<12 {
            let client = try TestClient(port: port, receiveBufferSize: 4096)
            switch i % 3 {
            case 0:  // responses still being sent after their fiber ended
                for _ in 0..<3 {
                    try client.send("GET /bytes?n=60000 HTTP/1.1\r\nHost: a\r\n\r\n")
                    usleep(10_000)
                }
            case 1:  // a fiber parked in a write nobody reads, more requests behind it
                try client.send("GET /bytes?n=400000 HTTP/1.1\r\nHost: a\r\n\r\nGET /bytes?n=400000 HTTP/1.1\r\nHost: a\r\n\r\n")
            default:  // a response still sending, and a handler running past the grace period
                for _ in 0..<3 {
                    try client.send("GET /bytes?n=60000 HTTP/1.1\r\nHost: a\r\n\r\n")
                    usleep(10_000)
                }
                try client.send("GET /touch-after-sleep?ms=5000&probe=\(i) HTTP/1.1\r\nHost: a\r\nX-Probe: \(i)\r\n\r\n")
            }
            clients.append(client)
        }
        usleep(200_000)
        try probe.send(line: "stop")
        _ = try probe.waitForLine(prefix: "stopping", timeout: .seconds(5))
        for (i, client) in clients.enumerated() where i % 2 == 0 {
            client.reset()
            usleep(30_000)
        }
        let stopped = (try? probe.waitForLine(prefix: "stopped", timeout: .seconds(20))) ?? "(no \"stopped\" line)"
        let result = try probe.waitForExit(timeout: .seconds(10))
        XCTAssertTrue(result.exited && result.status == 0, "server process ended with status \(result.status) (exited: \(result.exited)):\n\(result.stderr.suffix(3000))")
        func field(_ name: String) -> Int? {
            stopped.split(separator: " ").first { $0.hasPrefix(name + "=") }.flatMap { Int($0.dropFirst(name.count + 1)) }
        }
        XCTAssertNotNil(field("fds_before"), stopped)
        XCTAssertEqual(field("fds_before"), field("fds_after"), "descriptors of the server process: \(stopped)")
        XCTAssertEqual(field("changed"), 0, "a handler's request changed under it: \(stopped)")
        clients.removeAll()
    }
}
