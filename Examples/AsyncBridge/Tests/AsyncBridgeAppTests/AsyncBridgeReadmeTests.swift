// The curl command lines README.md shows for the async bridge, run as written (but for the
// port) against the app with its demo upstream on a live server, and what they print checked.
import AsyncBridgeApp
import Foundation
import Spindle
import SpindleTestSupport
import XCTest

final class AsyncBridgeReadmeTests: XCTestCase {
    func testTheReadmeCommandLinesWork() throws {
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
        let outputs = try ReadmeCommands.runCurlLines(section: "### async bridge", expecting: 3, port: port)
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
