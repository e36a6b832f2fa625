// GET /dashboard/:user on a live server against real upstreams: the answer comes within the
// deadline whatever the upstreams do, each part says what happened to it, and keep-alive
// connections to the upstreams are reused from one dashboard to the next.
import Foundation
import GatewayApp
import HTTPTypes
import Spindle
import SpindleTestSupport
import SpindleTesting
import XCTest

final class DashboardTests: XCTestCase {
    private var upstreams: TestUpstreams!

    override func setUpWithError() throws { upstreams = try TestUpstreams() }
    override func tearDown() { upstreams.stop() }

    /// Deadline of the dashboard's calls in these tests, and the slack allowed on top of it.
    private let deadline = Duration.milliseconds(300)
    private let slack = Duration.milliseconds(700)

    func testPartialFailureIsReportedWithinTheDeadline() throws {
        let parts = try upstreams.standardParts() + [try upstreams.part("refused", try refusingPort(), "/x/{user}")]
        let gateway = Gateway(configuration: GatewayConfiguration(parts: parts, partDeadline: deadline))
        try gateway.router().test(.live) { client in
            for user in ["alice", "bob"] {
                let clock = ContinuousClock()
                let start = clock.now
                let response = try client.get("/dashboard/\(user)")
                let elapsed = clock.now - start
                XCTAssertEqual(response.status, .ok, response.bodyString)
                XCTAssertLessThan(elapsed, deadline + slack, "answered within the deadline though one upstream sleeps \(TestUpstreams.slowDelay)")
                XCTAssertGreaterThanOrEqual(elapsed, deadline - .milliseconds(20), "waited for the slow part until its deadline")
                let dashboard = try decode(Dashboard.self, response.body)
                XCTAssertEqual(dashboard.user, user)
                XCTAssertEqual(Set(dashboard.parts.keys), ["profile", "orders", "recommendations", "refused"])
                XCTAssertEqual(dashboard.parts["profile"]?.status, "ok")
                XCTAssertEqual(dashboard.parts["profile"]?.upstreamStatus, 200)
                XCTAssertEqual(dashboard.parts["profile"]?.data, .object(["name": .string(user)]))
                XCTAssertEqual(dashboard.parts["orders"]?.status, "timeout")
                XCTAssertNil(dashboard.parts["orders"]?.data)
                XCTAssertEqual(dashboard.parts["recommendations"]?.status, "error: upstream answered 500")
                XCTAssertEqual(dashboard.parts["recommendations"]?.upstreamStatus, 500)
                let refused = dashboard.parts["refused"]?.status ?? ""
                XCTAssertTrue(refused.hasPrefix("error: connect failed"), refused)
                XCTAssertLessThan(dashboard.elapsedMilliseconds, 1000)
            }
        }
        XCTAssertEqual(upstreams.requests.current, ["fast": 2, "slow": 2, "failing": 2], "each upstream was called once per dashboard")
    }

    func testNoPartArrivingIsBadGateway() throws {
        let parts = [try upstreams.part("orders", upstreams.slowPort, "/orders/{user}"),
                     try upstreams.part("recommendations", upstreams.failingPort, "/recommendations/{user}")]
        let gateway = Gateway(configuration: GatewayConfiguration(parts: parts, partDeadline: deadline))
        try gateway.router().test(.live) { client in
            let response = try client.get("/dashboard/carol")
            XCTAssertEqual(response.status, .badGateway)
            let dashboard = try decode(Dashboard.self, response.body)
            XCTAssertEqual(dashboard.parts.mapValues(\.status), ["orders": "timeout", "recommendations": "error: upstream answered 500"])
        }
    }

    func testTheUserIsOneEncodedPathSegmentAndTextPartsAreStrings() throws {
        let parts = [try upstreams.part("profile", upstreams.fastPort, "/profile/{user}"), try upstreams.part("text", upstreams.fastPort, "/text")]
        let gateway = Gateway(configuration: GatewayConfiguration(parts: parts, partDeadline: .seconds(5)))
        try gateway.router().test(.live) { client in
            let response = try client.get("/dashboard/a%20b%2Fc%C3%A9")
            let dashboard = try decode(Dashboard.self, response.body)
            XCTAssertEqual(dashboard.user, "a b/cé")
            XCTAssertEqual(dashboard.parts["profile"]?.data, .object(["name": .string("a b/cé")]), "the upstream got one segment back")
            XCTAssertEqual(dashboard.parts["text"]?.data, .string("plain text part"))
        }
    }

    func testConcurrentDashboardsEachMeetTheDeadline() throws {
        let gateway = Gateway(configuration: GatewayConfiguration(parts: try upstreams.standardParts(), partDeadline: deadline))
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 2
        try gateway.router().test(.live, configuration: configuration) { client in
            let port = try XCTUnwrap(client.port)
            let clients = 16
            let elapsed = Locked<[Duration]>([])
            let failures = Locked<[String]>([])
            DispatchQueue.concurrentPerform(iterations: clients) { n in
                let clock = ContinuousClock()
                let start = clock.now
                do {
                    let handle = FileHandle(fileDescriptor: try connectToLoopback(port: port, timeoutSeconds: 10), closeOnDealloc: true)
                    try sendAll(fd: handle.fileDescriptor, Array("GET /dashboard/user\(n) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
                    let text = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
                    elapsed.withLock { $0.append(clock.now - start) }
                    if !text.hasPrefix("HTTP/1.1 200") || !text.contains(#""orders":{"elapsedMilliseconds""#) || !text.contains(#""status":"timeout""#) {
                        failures.withLock { $0.append("client \(n): \(text.prefix(300))") }
                    }
                } catch {
                    failures.withLock { $0.append("client \(n): \(error)") }
                }
            }
            XCTAssertEqual(failures.current, [])
            XCTAssertEqual(elapsed.current.count, clients)
            for time in elapsed.current { XCTAssertLessThan(time, deadline + slack) }
        }
    }

    func testUpstreamConnectionsAreReused() throws {
        // Three parts on the fast upstream: the first dashboard opens three connections (the
        // parts run at once), the next ones reuse them; the failing upstream's 500 keeps its
        // connection alive too; the slow one's timed-out connection is closed, never reused.
        let parts = [try upstreams.part("a", upstreams.fastPort, "/profile/a"), try upstreams.part("b", upstreams.fastPort, "/profile/b"),
                     try upstreams.part("c", upstreams.fastPort, "/profile/c"),
                     try upstreams.part("recommendations", upstreams.failingPort, "/recommendations/{user}")]
        let rounds = 10
        let gateway = Gateway(configuration: GatewayConfiguration(parts: parts, partDeadline: .seconds(5)))
        try gateway.router().test(.live) { client in
            for round in 0..<rounds { XCTAssertEqual(try client.get("/dashboard/u\(round)").status, .ok) }
            let statistics = try decode(UpstreamStatistics.self, try client.get("/stats").body)
            XCTAssertEqual(statistics.requestsSent, 4 * rounds)
            XCTAssertEqual(statistics.connectionsOpened, 4, "three to the fast upstream, one to the failing one")
            XCTAssertEqual(statistics.connectionsReused, 4 * rounds - 4)
        }
        XCTAssertEqual(upstreams.requests.current, ["fast": 3 * rounds, "failing": rounds])

        let withSlow = Gateway(configuration: GatewayConfiguration(parts: try upstreams.standardParts(), partDeadline: .milliseconds(100)))
        try withSlow.router().test(.live) { client in
            for round in 0..<3 { XCTAssertEqual(try client.get("/dashboard/s\(round)").status, .ok) }
            let statistics = try decode(UpstreamStatistics.self, try client.get("/stats").body)
            XCTAssertEqual(statistics.connectionsOpened, 2 + 3, "a new connection to the slow upstream each time")
            XCTAssertEqual(statistics.connectionsReused, 2 * 2)
        }
    }
}
