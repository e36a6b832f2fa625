// The curl command lines README.md shows for the gateway example, run as written (but for the
// port) against the gateway with its demo upstreams on a live server, and what they print checked.
import Foundation
import GatewayApp
import Spindle
import SpindleTestSupport
import XCTest

final class GatewayReadmeTests: XCTestCase {
    func testTheReadmeCommandLinesWork() throws {
        let commands = try ReadmeCommands.curlLines(section: "### gateway")
        XCTAssertEqual(commands.count, 3, "\(commands)")
        let demo = try DemoUpstreams()
        defer { demo.stop() }
        let gateway = Gateway(configuration: GatewayConfiguration(parts: demo.parts, proxyUpstream: demo.proxyUpstream))
        let server = Server(router: gateway.router(), configuration: ServerConfiguration(host: "127.0.0.1", port: 0))
        let port = try server.start().port
        defer {
            server.stop()
            server.wait()
        }
        var outputs: [String] = []
        for command in commands {
            XCTAssertTrue(command.contains("127.0.0.1:8080"), command)
            let (status, output) = try ReadmeCommands.run(command.replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:\(port)"))
            XCTAssertEqual(status, 0, "\(command) exited \(status)")
            outputs.append(output)
        }
        let dashboard = try decode(Dashboard.self, Array(outputs[0].utf8))
        XCTAssertEqual(dashboard.parts.mapValues(\.status), ["profile": "ok", "orders": "timeout", "recommendations": "error: upstream answered 500"])
        XCTAssertEqual(dashboard.parts["profile"]?.data, .object(["name": .string("alice"), "plan": .string("free")]))
        XCTAssertEqual(outputs[1], "200 8388608\n")
        let statistics = try decode(UpstreamStatistics.self, Array(outputs[2].utf8))
        XCTAssertEqual(statistics.requestsSent, 4, "three parts and the proxied request")
        XCTAssertEqual(statistics.connectionsOpened + statistics.connectionsReused, 4)
    }
}
