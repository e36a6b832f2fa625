// The command lines README.md shows for the chat example, run as written (but for the port)
// against the chat on a live server: the event stream and the Python WebSocket member stay
// connected in the background while the POST runs, and what each printed is checked.
import ChatApp
import Foundation
import Spindle
import SpindleTestSupport
import XCTest

final class ChatReadmeTests: XCTestCase {
    func testTheReadmeCommandLinesWork() throws {
        let curl = try ReadmeCommands.curlLines(section: "### chat")
        XCTAssertEqual(curl.count, 2, "\(curl)")
        let python = try Self.pythonCommand(section: "### chat")
        let chat = try ChatTestServer()
        defer { chat.stop() }
        let local = { (command: String) throws -> String in try ReadmeCommands.local(command, port: chat.port) }
        let events = try BackgroundCommand(local(curl[0]))
        defer { events.stop() }
        XCTAssertTrue(waitUntil(timeout: .seconds(20)) { chat.hub.memberCount(in: "lobby") == 1 }, "the event stream joined")
        let webSocket = try BackgroundCommand(local(python))
        defer { webSocket.stop() }
        XCTAssertTrue(waitUntil(timeout: .seconds(20)) { chat.hub.memberCount(in: "lobby") == 2 }, "the Python member joined")
        XCTAssertTrue(waitUntil(timeout: .seconds(20)) { events.output.contains("hello from python") }, events.output)

        let (status, output) = try ReadmeCommands.run(local(curl[1]))
        XCTAssertEqual(status, 0, "\(curl[1]) exited \(status)")
        XCTAssertEqual(output, #"{"members":2,"room":"lobby","seq":2}"#)

        XCTAssertTrue(waitUntil(timeout: .seconds(20)) { events.output.contains("hello from curl") }, events.output)
        XCTAssertTrue(waitUntil(timeout: .seconds(20)) { webSocket.output.contains("hello from curl") }, webSocket.output)
        XCTAssertTrue(events.output.hasPrefix("event: joined\n"), events.output)
        XCTAssertTrue(events.output.contains("id: 1\nevent: message\n" + #"data: {"from":"bob","room":"lobby","seq":1,"text":"hello from python","type":"message"}"#), events.output)
        XCTAssertTrue(events.output.contains("id: 2\nevent: message\n" + #"data: {"from":"ann","room":"lobby","seq":2,"text":"hello from curl","type":"message"}"#), events.output)
        XCTAssertEqual(webSocket.output.split(separator: "\n"), [
            #"{"members":2,"room":"lobby","type":"joined"}"#,
            #"{"from":"bob","room":"lobby","seq":1,"text":"hello from python","type":"message"}"#,
            #"{"from":"ann","room":"lobby","seq":2,"text":"hello from curl","type":"message"}"#,
        ])
    }

    /// The `python3 -c '…'` command of the section's ```sh block: from its first line to the
    /// line that closes the quote, joined with newlines.
    private static func pythonCommand(section heading: String) throws -> String {
        let text = try String(contentsOf: ReadmeCommands.readme, encoding: .utf8)
        guard let sectionStart = text.range(of: "\n" + heading + "\n"),
              let start = text.range(of: "\npython3 -c '", range: sectionStart.upperBound..<text.endIndex),
              let end = text.range(of: "'\n```", range: start.upperBound..<text.endIndex) else {
            throw TestFailure("README.md's \"\(heading)\" shows no python3 -c '…' command")
        }
        return String(text[text.index(after: start.lowerBound)..<text.index(after: end.lowerBound)])
    }
}

/// A shell command running in the background (`/bin/sh -c`), its standard output collected
/// as it comes; `stop()` ends it (SIGTERM).
final class BackgroundCommand: @unchecked Sendable {
    // @unchecked Sendable: `collected` is locked; `process` is only touched by the test's thread.
    private let process = Process()
    private let collected = Locked(Data())
    private let finished = DispatchSemaphore(value: 0)

    init(_ command: String) throws {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec " + command]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let handle = pipe.fileHandleForReading
        let collected = self.collected, finished = self.finished
        Thread {
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                collected.withLock { $0.append(data) }
            }
            finished.signal()
        }.start()
    }

    /// What it printed so far.
    var output: String { String(decoding: collected.current, as: UTF8.self) }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        _ = finished.wait(timeout: .now() + 5)
    }
}
