// The curl command lines README.md shows for the async bridge, run as written (but for the
// port) against the app with its demo upstream on a live server, and what they print checked.
import AsyncBridgeApp
import Foundation
import Spindle
import SpindleTestSupport
import XCTest

final class AsyncBridgeReadmeTests: XCTestCase {
    func testTheReadmeCommandLinesWork() throws {
        let commands = try ReadmeCommands.curlLines(section: "### async bridge")
        XCTAssertEqual(commands.count, 3, "\(commands)")
        let demo = try DemoUpstream()
        defer { demo.stop() }
        let bridge = AsyncBridge(configuration: AsyncBridgeConfiguration(upstream: demo.url))
        defer { shutDownWaiting(bridge) }
        let server = Server(router: bridge.router(), configuration: ServerConfiguration(host: "127.0.0.1", port: 0))
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
        XCTAssertEqual(outputs[0], "Hello from the upstream\n")
        let answer = try decode(FanOutAnswer.self, Array(outputs[1].utf8))
        XCTAssertEqual(answer.results.map(\.path), AsyncBridge.defaultFanOutPaths)
        XCTAssertEqual(answer.results.map(\.body), ["slept 300 ms\n", "slept 200 ms\n", "Hello from the upstream\n"])
        XCTAssertGreaterThanOrEqual(answer.milliseconds, 300, "as long as the slowest call at least")
        XCTAssertTrue(outputs[1].hasPrefix(#"{"milliseconds":"#), "keys sorted, as README.md shows: \(outputs[1])")
        XCTAssertTrue(outputs[1].contains(#"{"body":"slept 300 ms\n","milliseconds":"#), outputs[1])
        XCTAssertEqual(outputs[2], #"{"cancelled":0,"failed":0,"succeeded":4}"#)
    }
}
