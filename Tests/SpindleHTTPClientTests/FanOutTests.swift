// Concurrent requests from one worker: fan-out with Fiber.spawn + WaitGroup as Docs/http-client.md
// shows it, and the per-host cap parking callers first come, first served.
import HTTPTypes
import SpindleFibers
import SpindleHTTPClient
import SpindleTestSupport
import XCTest

final class FanOutTests: XCTestCase {
    private var server: ClientTestServer!

    override func setUpWithError() throws { server = try ClientTestServer() }
    override func tearDown() { server.stop() }

    func testTenRequestsFannedOutWithAWaitGroupRunConcurrentlyWithinTheCap() throws {
        let port = server.port
        let (bodies, statistics) = try onWorker { () -> ([String], HTTPClient.Statistics) in
            let client = HTTPClient(configuration: .init(maxConnectionsPerHost: 4))
            var bodies = [String](repeating: "", count: 10)
            var failures: [any Error] = []
            let group = WaitGroup()
            for i in 0..<10 {
                group.add()
                Fiber.spawn {
                    defer { group.done() }
                    do { bodies[i] = try text(client.get("http://127.0.0.1:\(port)/sleep/\(i)?together=4")) } catch { failures.append(error) }
                }
            }
            try group.wait()
            if let failure = failures.first { throw failure }
            return (bodies, client.statistics)
        }
        XCTAssertEqual(bodies, (0..<10).map(String.init))
        XCTAssertEqual(statistics.connectionsOpened, 4, "four connections, each reused")
        XCTAssertEqual(statistics.connectionsReused, 6)
        XCTAssertEqual(server.concurrentSleepers.maximum, 4, "the server saw the requests four at a time")
    }

    func testCallersBeyondTheCapAreServedInArrivalOrder() throws {
        let port = server.port
        let order = try onWorker { () -> [Int] in
            let client = HTTPClient(configuration: .init(maxConnectionsPerHost: 1))
            var order: [Int] = []
            let group = WaitGroup()
            for i in 0..<5 {
                group.add()
                Fiber.spawn {
                    defer { group.done() }
                    if let body = try? text(client.get("http://127.0.0.1:\(port)/sleep/\(i)")), let n = Int(body) { order.append(n) }
                }
                Fiber.yield()  // each caller reaches the pool before the next is spawned
            }
            try group.wait()
            XCTAssertEqual(client.statistics.connectionsOpened, 1)
            return order
        }
        XCTAssertEqual(order, [0, 1, 2, 3, 4])
        XCTAssertEqual(server.concurrentSleepers.maximum, 1)
    }

    func testAPoolWaitEndsAtTheTotalDeadline() throws {
        let port = server.port
        let kind = try onWorker { () -> String in
            let client = HTTPClient(configuration: .init(maxConnectionsPerHost: 1))
            let holder = try client.execute(request(port: port, "/big/100000"))  // holds the only connection
            let kind = clientError { _ = try client.get("http://127.0.0.1:\(port)/plaintext", deadline: .now + .milliseconds(100)) }
            _ = try holder.body.collect()
            if case .timedOut(.poolWait, totalDeadline: true) = kind { return "poolWait" }
            return "\(String(describing: kind))"
        }
        XCTAssertEqual(kind, "poolWait")
    }
}
