// The client against scripted servers that misbehave on purpose, in fibers of the client's own
// worker: one that never answers (deadlines), one that closes in the middle of a body, one that
// closes a keep-alive connection between requests (the stale-connection retry), interim 1xx
// responses, a close-delimited body, a malformed head, and cancellation of a waiting request.
import HTTPTypes
import SpindleFibers
import SpindleHTTPClient
import SpindleIO
import SpindleTestSupport
import XCTest

final class RawServerTests: XCTestCase {
    /// Runs `body` with a raw server serving every connection with `script`.
    private func withRawServer<T: Sendable>(_ script: @escaping @Sendable (TCPConnection, Int) throws -> Void,
                                            _ body: @escaping @Sendable (Int) throws -> T) throws -> T {
        try onWorker {
            let server = try RawServer(script)
            defer { server.stop() }
            return try body(server.port)
        }
    }

    /// A script that reads one request head and sends `response`, then (unless `keepOpen`) closes.
    private static func answer(_ response: String, keepOpen: Bool = false) -> @Sendable (TCPConnection, Int) throws -> Void {
        { connection, _ in
            _ = try RawServer.readHead(connection)
            try connection.write(Array(response.utf8))
            if keepOpen { _ = try? connection.read(upTo: 1, deadline: .now + .seconds(5)) }
            connection.close()
        }
    }

    func testTheHeadDeadlineFiresAgainstAServerThatNeverAnswers() throws {
        let (kind, elapsed) = try withRawServer({ connection, _ in
            _ = try RawServer.readHead(connection)  // takes the request, says nothing
            _ = try? connection.read(upTo: 1, deadline: .now + .seconds(5))
        }) { port -> (String, Duration) in
            let client = HTTPClient(configuration: .init(headTimeout: .milliseconds(200)))
            let start = Deadline.now
            let kind = clientError { _ = try client.get("http://127.0.0.1:\(port)/") }
            if case .timedOut(.head, totalDeadline: false) = kind { return ("head", Deadline.now - start) }
            return ("\(String(describing: kind))", Deadline.now - start)
        }
        XCTAssertEqual(kind, "head")
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(190))
        XCTAssertLessThan(elapsed, .seconds(3))
    }

    func testTheTotalDeadlineBoundsTheExchange() throws {
        let (kind, elapsed) = try withRawServer({ connection, _ in
            _ = try RawServer.readHead(connection)
            _ = try? connection.read(upTo: 1, deadline: .now + .seconds(5))
        }) { port -> (String, Duration) in
            let client = HTTPClient(configuration: .init(headTimeout: .seconds(10), totalTimeout: .milliseconds(150)))
            let start = Deadline.now
            let kind = clientError { _ = try client.get("http://127.0.0.1:\(port)/") }
            if case .timedOut(.head, totalDeadline: true) = kind { return ("total", Deadline.now - start) }
            return ("\(String(describing: kind))", Deadline.now - start)
        }
        XCTAssertEqual(kind, "total")
        XCTAssertLessThan(elapsed, .seconds(3))
    }

    func testTheBodyReadDeadlineFiresWhenTheBodyStalls() throws {
        let kind = try withRawServer(Self.answer("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", keepOpen: true)) { port -> String in
            let client = HTTPClient(configuration: .init(bodyReadTimeout: .milliseconds(150)))
            let response = try client.execute(request(port: port, "/"))
            let kind = clientError { _ = try response.body.collect() }
            if case .timedOut(.body, totalDeadline: false) = kind { return "body" }
            return "\(String(describing: kind))"
        }
        XCTAssertEqual(kind, "body")
    }

    func testAServerClosingMidBodyIsAnErrorNotAShortBody() throws {
        let cases = [
            ("Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", 10),
            ("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 5),
            ("chunked, inside a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhel", 3),
        ]
        for (name, wire, received) in cases {
            let outcome = try withRawServer(Self.answer(wire)) { port -> String in
                let response = try HTTPClient().execute(request(port: port, "/"))
                let kind = clientError { _ = try response.body.collect() }
                guard case .closedBeforeBodyEnd(let n) = kind else { return "\(String(describing: kind))" }
                return "closed after \(n)"
            }
            XCTAssertEqual(outcome, "closed after \(received)", name)
        }
    }

    func testACloseDelimitedBodyEndsAtTheCloseAndItsConnectionIsNotReused() throws {
        let (body, open) = try withRawServer(Self.answer("HTTP/1.1 200 OK\r\n\r\nuntil the end")) { port -> (String, Int) in
            let client = HTTPClient()
            let body = try text(client.get("http://127.0.0.1:\(port)/"))
            return (body, client.openConnections(host: "127.0.0.1", port: port))
        }
        XCTAssertEqual(body, "until the end")
        XCTAssertEqual(open, 0)
    }

    func testInterimResponsesAreSkipped() throws {
        let wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
        let (status, body) = try withRawServer(Self.answer(wire)) { port in
            let response = try HTTPClient().execute(request(.post, port: port, "/"), body: .text("x"))
            return (response.status.code, try text(response))
        }
        XCTAssertEqual(status, 201)
        XCTAssertEqual(body, "ok")
    }

    func testAMalformedHeadIsAnInvalidResponse() throws {
        let reason = try withRawServer(Self.answer("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx")) { port -> String in
            let kind = clientError { _ = try HTTPClient().get("http://127.0.0.1:\(port)/") }
            guard case .invalidResponse(let error) = kind else { return "\(String(describing: kind))" }
            return "\(error.reason)"
        }
        XCTAssertEqual(reason, "duplicateContentLength")
    }

    func testAnUnaskedUpgradeIsAnError() throws {
        let kind = try withRawServer(Self.answer("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")) { port -> String in
            let kind = clientError { _ = try HTTPClient().get("http://127.0.0.1:\(port)/") }
            if case .unexpectedUpgrade = kind { return "upgrade" }
            return "\(String(describing: kind))"
        }
        XCTAssertEqual(kind, "upgrade")
    }

    func testAKeepAliveConnectionTheServerClosedMeanwhileIsRetriedOnAFreshOne() throws {
        // Each connection answers one request as keep-alive, then closes.
        let (bodies, statistics) = try withRawServer({ connection, number in
            _ = try RawServer.readHead(connection)
            try connection.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n\(number)".utf8))
            connection.close()
        }) { port -> ([String], HTTPClient.Statistics) in
            let client = HTTPClient()
            let first = try text(client.get("http://127.0.0.1:\(port)/"))
            try Fiber.sleep(for: .milliseconds(50))  // the server's close arrives
            let second = try text(client.get("http://127.0.0.1:\(port)/"))
            return ([first, second], client.statistics)
        }
        XCTAssertEqual(bodies, ["1", "2"])
        XCTAssertEqual(statistics.retries, 1)
        XCTAssertEqual(statistics.connectionsOpened, 2)
    }

    func testCancellingTheFiberEndsAWaitingRequestWithCancellationError() throws {
        let outcome = try withRawServer({ connection, _ in
            _ = try RawServer.readHead(connection)  // takes the request, says nothing
            _ = try? connection.read(upTo: 1, deadline: .now + .seconds(5))
        }) { port -> String in
            let client = HTTPClient()
            let requester = Fiber.spawn { () -> String in
                do {
                    _ = try client.get("http://127.0.0.1:\(port)/")
                    return "answered"
                } catch is CancellationError {
                    return "cancelled"
                }
            }
            try Fiber.sleep(for: .milliseconds(50))
            let start = Deadline.now
            requester.cancel()
            let outcome = try requester.join()
            XCTAssertLessThan(Deadline.now - start, .seconds(1))
            return outcome
        }
        XCTAssertEqual(outcome, "cancelled")
    }
}
