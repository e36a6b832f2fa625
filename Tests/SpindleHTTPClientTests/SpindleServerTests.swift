// The client against Spindle's own Server on 127.0.0.1:0: keep-alive reuse, request bodies in
// both framings, chunked responses streamed, collected bodies and their limit, HEAD, idle expiry,
// and a connection whose body was not read to the end not being reused.
import HTTPTypes
import SpindleFibers
import SpindleHTTPClient
import SpindleTestSupport
import XCTest

final class SpindleServerTests: XCTestCase {
    private var server: ClientTestServer!

    override func setUpWithError() throws { server = try ClientTestServer() }
    override func tearDown() { server.stop() }

    func testSequentialRequestsReuseOneKeepAliveConnection() throws {
        let port = server.port
        let (bodies, statistics, open) = try onWorker {
            let client = HTTPClient()
            let bodies = try (0..<5).map { _ in try text(client.get("http://127.0.0.1:\(port)/plaintext")) }
            return (bodies, client.statistics, client.openConnections(host: "127.0.0.1", port: port))
        }
        XCTAssertEqual(bodies, Array(repeating: "Hello, World!", count: 5))
        XCTAssertEqual(statistics.connectionsOpened, 1)
        XCTAssertEqual(statistics.connectionsReused, 4)
        XCTAssertEqual(open, 1, "the connection is back in the pool, idle")
    }

    func testRequestBodiesWithContentLengthAndChunked() throws {
        let port = server.port
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let echoes = try onWorker { () -> [[UInt8]] in
            let client = HTTPClient()
            let cases: [HTTPClientRequestBody] = [
                .bytes(payload),
                .stream { writer in for k in stride(from: 0, to: payload.count, by: 30_000) { try writer.write(payload[k..<min(k + 30_000, payload.count)]) } },
                .stream(length: payload.count) { writer in try writer.write(payload[..<50_000]); try writer.write(payload[50_000...]) },
            ]
            return try cases.map { body in try client.execute(request(.post, port: port, "/echo"), body: body).body.collect() }
        }
        XCTAssertEqual(echoes.count, 3)
        for (k, echo) in echoes.enumerated() { XCTAssertEqual(echo, payload, "case \(k)") }
    }

    func testAStreamedBodyShorterThanItsLengthFailsTheRequest() throws {
        let port = server.port
        let kind = try onWorker { () -> String in
            let client = HTTPClient()
            do {
                _ = try client.execute(request(.post, port: port, "/echo"), body: .stream(length: 10) { try $0.write("short") })
                return "no error"
            } catch let error as HTTPClientError {
                if case .requestBodyLengthMismatch(10, 5) = error.kind { return "mismatch" }
                return "\(error)"
            }
        }
        XCTAssertEqual(kind, "mismatch")
    }

    func testChunkedResponseIsStreamedInPiecesThenTheConnectionIsReused() throws {
        let port = server.port
        let (pieces, joined, statistics) = try onWorker {
            let client = HTTPClient()
            let response = try client.execute(request(port: port, "/stream/20"))
            XCTAssertNil(response.body.declaredLength)
            var pieces = 0
            var all: [UInt8] = []
            while let chunk = try response.body.next() {
                pieces += 1
                all += chunk
            }
            XCTAssertTrue(response.body.isComplete)
            _ = try client.get("http://127.0.0.1:\(port)/plaintext")
            return (pieces, String(decoding: all, as: UTF8.self), client.statistics)
        }
        XCTAssertEqual(joined, (0..<20).map { "piece \($0)\n" }.joined())
        XCTAssertGreaterThan(pieces, 1, "the body arrived in several reads")
        XCTAssertEqual(statistics.connectionsOpened, 1, "the chunked response ended cleanly and its connection was reused")
    }

    func testCollectingMoreThanTheLimitThrowsAndClosesTheConnection() throws {
        let port = server.port
        let (kind, open) = try onWorker { () -> (String, Int) in
            let client = HTTPClient()
            let response = try client.execute(request(port: port, "/big/100000"))
            XCTAssertEqual(response.body.declaredLength, 100_000)
            var kind = "no error"
            do { _ = try response.body.collect(maxBytes: 1000) } catch let error as HTTPClientError {
                if case .bodyTooLarge(1000) = error.kind { kind = "tooLarge" }
            }
            return (kind, client.openConnections(host: "127.0.0.1", port: port))
        }
        XCTAssertEqual(kind, "tooLarge")
        XCTAssertEqual(open, 0)
    }

    func testAResponseDroppedBeforeItsBodyEndedDoesNotGiveItsConnectionBack() throws {
        let port = server.port
        let (first, statistics) = try onWorker { () -> (Int, HTTPClient.Statistics) in
            let client = HTTPClient()
            var first = 0
            do {
                let response = try client.execute(request(port: port, "/big/1000000"))
                var some: [UInt8] = []
                first = try response.body.read(into: &some, maxBytes: 1000)
            }
            XCTAssertEqual(try text(client.get("http://127.0.0.1:\(port)/plaintext")), "Hello, World!")
            return (first, client.statistics)
        }
        XCTAssertGreaterThan(first, 0)
        XCTAssertEqual(statistics.connectionsOpened, 2, "the half-read connection was closed, not reused")
        XCTAssertEqual(statistics.connectionsReused, 0)
    }

    func testHeadResponseHasNoBodyAndKeepsTheConnection() throws {
        let port = server.port
        let (status, length, body, statistics) = try onWorker {
            let client = HTTPClient()
            let response = try client.execute(request(.head, port: port, "/plaintext"))
            let body = try response.body.collect()
            _ = try client.get("http://127.0.0.1:\(port)/plaintext")
            return (response.status.code, response.headerFields[.contentLength], body, client.statistics)
        }
        XCTAssertEqual(status, 200)
        XCTAssertEqual(length, "13")
        XCTAssertEqual(body, [])
        XCTAssertEqual(statistics.connectionsOpened, 1)
    }

    func testIdleConnectionsOlderThanTheIdleTimeoutAreClosed() throws {
        let port = server.port
        let statistics = try onWorker {
            // An idle timeout long enough that no stall of a loaded machine between the first
            // two requests outlasts it; the sleep is surely longer (sleeps never end early).
            let client = HTTPClient(configuration: .init(idleTimeout: .seconds(1)))
            _ = try client.get("http://127.0.0.1:\(port)/plaintext")
            _ = try client.get("http://127.0.0.1:\(port)/plaintext")  // reused: still fresh
            try Fiber.sleep(for: .milliseconds(1500))
            _ = try client.get("http://127.0.0.1:\(port)/plaintext")  // expired: a new one
            return client.statistics
        }
        XCTAssertEqual(statistics.connectionsOpened, 2)
        XCTAssertEqual(statistics.connectionsReused, 1)
    }

    func testHostNamesAreResolvedThroughTheOffloadPool() throws {
        let port = server.port
        let body = try onWorker { try text(HTTPClient().get("http://localhost:\(port)/plaintext")) }
        XCTAssertEqual(body, "Hello, World!")
    }

    func testInvalidURLsAndSchemesAreRejectedBeforeAnyIO() throws {
        let kinds = try onWorker { () -> [String] in
            let client = HTTPClient()
            return ["ws://example.org/", "ftp://x/", "http://", "http://user@127.0.0.1/", "127.0.0.1/x", "http://127.0.0.1:99999/", "http://bad host/"].map { url in
                do { _ = try client.get(url); return "ok" } catch let error as HTTPClientError {
                    switch error.kind {
                    case .unsupportedScheme: return "scheme"
                    case .invalidURL: return "url"
                    default: return "\(error)"
                    }
                } catch { return "\(error)" }
            }
        }
        XCTAssertEqual(kinds, ["scheme", "scheme", "url", "url", "url", "url", "url"])
    }
}
