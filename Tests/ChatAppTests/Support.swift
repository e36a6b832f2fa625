// Helpers of the chat tests: the chat on a live server, and the Python members
// (Tests/Peers/chat_peer.py) run against it.
import ChatApp
import Foundation
import Spindle
import SpindleTestSupport
import XCTest

/// The chat's routes over a new hub on a live `Server` (127.0.0.1, port 0).
final class ChatTestServer {
    let hub: ChatHub
    let server: Server
    let port: Int

    /// A server with `workers` workers and the hub's `configuration` (by default a 200 ms
    /// heartbeat, so that event-stream members that drop their socket leave within the test).
    init(configuration: ChatConfiguration = ChatConfiguration(eventStreamHeartbeat: .milliseconds(200)), workers: Int = 2,
         writeTimeout: Duration = .seconds(30)) throws {
        hub = ChatHub(configuration: configuration)
        var serverConfiguration = ServerConfiguration(host: "127.0.0.1", port: 0)
        serverConfiguration.workers = workers
        serverConfiguration.writeTimeout = writeTimeout
        server = Server(router: ChatRoutes.router(hub: hub), configuration: serverConfiguration)
        port = try server.start().port
    }

    func stop() {
        server.stop()
        server.wait()
    }
}

/// Runs chat_peer.py's `scenario` against `port` in `room` (at most `timeout`); fails the test
/// on any `FAIL` line or when it does not reach `done`. Returns its output lines.
@discardableResult
func runChatPeer(_ scenario: String, port: Int, room: String, timeout: TimeInterval = 90,
                 file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
    let peer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Peers/chat_peer.py").path
    let run = try runPeerScript(peer, arguments: [scenario, String(port), room], timeout: .seconds(timeout))
    if run.timedOut { XCTFail("chat_peer.py \(scenario) did not finish within \(timeout) s", file: file, line: line) }
    let lines = run.lines
    for outputLine in lines where outputLine.hasPrefix("FAIL") || (!outputLine.hasPrefix("ok") && !outputLine.hasPrefix(" ") && outputLine != "done") {
        XCTFail("\(scenario): \(outputLine)", file: file, line: line)
    }
    XCTAssertEqual(lines.last, "done", "\(scenario) ran to its end: \(lines)", file: file, line: line)
    XCTAssertEqual(run.status, 0, "\(scenario): \(lines)", file: file, line: line)
    return lines
}
