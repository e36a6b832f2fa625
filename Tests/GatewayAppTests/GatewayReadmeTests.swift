// The curl command lines README.md shows for the gateway example, run as written (but for the
// port) against the gateway with its demo upstreams on a live server, and what they print checked.
import Foundation
import GatewayApp
import Spindle
import SpindleTestSupport
import XCTest

final class GatewayReadmeTests: XCTestCase {
    func testTheReadmeCommandLinesWork() throws {
        let demo = try DemoUpstreams()
        defer { demo.stop() }
        let gateway = Gateway(configuration: GatewayConfiguration(parts: demo.parts, proxyUpstream: demo.proxyUpstream))
        let server = Server(router: gateway.router(), configuration: ServerConfiguration(host: "127.0.0.1", port: 0))
        let port = try server.start().port
        defer {
            server.stop()
            server.wait()
        }
        let outputs = try ReadmeCommands.runCurlLines(section: "### gateway", expecting: 3, port: port)
        let dashboard = try decode(Dashboard.self, Array(outputs[0].utf8))
        XCTAssertEqual(dashboard.parts.mapValues(\.status), ["profile": "ok", "orders": "timeout", "recommendations": "error: upstream answered 500"])
        XCTAssertEqual(dashboard.parts["profile"]?.data, .object(["name": .string("alice"), "plan": .string("free")]))
        XCTAssertEqual(outputs[1], "200 8388608\n")
        let statistics = try decode(UpstreamStatistics.self, Array(outputs[2].utf8))
        XCTAssertEqual(statistics.requestsSent, 4, "three parts and the proxied request")
        XCTAssertEqual(statistics.connectionsOpened + statistics.connectionsReused, 4)
    }
}
