// The chat's HTTP routes through SpindleTesting, in memory and over a live socket: what a POST
// answers (receipts, validation), room counts; and a POST reaching an event-stream member read
// from a raw socket, and the keep-alive of an idle stream.
import ChatApp
import Foundation
import HTTPTypes
import Spindle
import SpindleTestSupport
import SpindleTesting
import XCTest

final class ChatRoutesTests: XCTestCase {
    private struct Case {
        let name: String
        let target: String
        let contentType: String?
        let body: String
        let status: HTTPResponse.Status
    }

    private static let cases: [Case] = [
        Case(name: "JSON to an empty room", target: "/rooms/lobby/messages", contentType: "application/json",
             body: #"{"text":"hi","from":"ann"}"#, status: .accepted),
        Case(name: "plain text", target: "/rooms/lobby/messages?from=bob", contentType: "text/plain", body: "hi", status: .accepted),
        Case(name: "no media type", target: "/rooms/lobby/messages", contentType: nil, body: "hi", status: .accepted),
        Case(name: "empty text", target: "/rooms/lobby/messages", contentType: "text/plain", body: "", status: .badRequest),
        Case(name: "empty JSON text", target: "/rooms/lobby/messages", contentType: "application/json", body: #"{"text":""}"#, status: .badRequest),
        Case(name: "JSON without text", target: "/rooms/lobby/messages", contentType: "application/json", body: #"{"from":"ann"}"#, status: .badRequest),
        Case(name: "not JSON", target: "/rooms/lobby/messages", contentType: "application/json", body: "hi", status: .badRequest),
        Case(name: "room name with a space", target: "/rooms/a%20b/messages", contentType: "text/plain", body: "hi", status: .badRequest),
        Case(name: "room name of 65 bytes", target: "/rooms/\(String(repeating: "r", count: 65))/messages", contentType: "text/plain", body: "hi", status: .badRequest),
        Case(name: "room name of 64 bytes", target: "/rooms/\(String(repeating: "r", count: 64))/messages", contentType: "text/plain", body: "hi", status: .accepted),
        Case(name: "sender of 65 bytes", target: "/rooms/lobby/messages?from=\(String(repeating: "s", count: 65))", contentType: "text/plain", body: "hi", status: .badRequest),
        Case(name: "text at the limit", target: "/rooms/lobby/messages", contentType: "text/plain", body: String(repeating: "t", count: 100), status: .accepted),
        Case(name: "text over the limit", target: "/rooms/lobby/messages", contentType: "text/plain", body: String(repeating: "t", count: 101), status: .contentTooLarge),
        Case(name: "JSON text over the limit", target: "/rooms/lobby/messages", contentType: "application/json",
             body: #"{"text":""# + String(repeating: "t", count: 101) + #""}"#, status: .contentTooLarge),
        Case(name: "JSON text escaped within the limit", target: "/rooms/lobby/messages", contentType: "application/json",
             body: #"{"text":""# + String(repeating: #"\u0074"#, count: 100) + #""}"#, status: .accepted),
    ]

    func testPostsAreValidatedInBothModes() throws {
        let hub = ChatHub(configuration: ChatConfiguration(maxMessageBytes: 100))
        for mode in [TestMode.inMemory, .live] {
            try ChatRoutes.router(hub: hub).test(mode) { client in
                for testCase in Self.cases {
                    var headers: HTTPFields = [:]
                    if let contentType = testCase.contentType { headers[.contentType] = contentType }
                    let response = try client.post(testCase.target, headers: headers, body: testCase.body)
                    XCTAssertEqual(response.status, testCase.status, "\(mode) \(testCase.name): \(response.bodyString)")
                    if response.status == .accepted {
                        // Nobody is in the room: the message goes nowhere and gets no number.
                        let receipt = try JSONDecoder().decode(ChatHub.Receipt.self, from: Data(response.body))
                        XCTAssertEqual(receipt.seq, 0, "\(mode) \(testCase.name)")
                        XCTAssertEqual(receipt.members, 0, "\(mode) \(testCase.name)")
                    }
                }
                let summary = try client.get("/rooms/lobby")
                XCTAssertEqual(summary.status, .ok)
                XCTAssertEqual(try JSONDecoder().decode(ChatRoutes.RoomSummary.self, from: Data(summary.body)),
                               ChatRoutes.RoomSummary(room: "lobby", members: 0, workers: 0))
                XCTAssertEqual(try client.get("/rooms/no%2Fslash").status, .badRequest, "\(mode)")
            }
        }
    }

    func testAPostReachesAnEventStreamMemberInOrder() throws {
        let chat = try ChatTestServer(workers: 1)
        defer { chat.stop() }
        let fd = try connectToLoopback(port: chat.port, timeoutSeconds: 10)
        defer { close(fd) }
        try sendAll(fd: fd, Array("GET /rooms/raw/events HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        var received = ""
        func readUntil(_ marker: String) throws {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !received.contains(marker) {
                let n = read(fd, &buffer, buffer.count)
                guard n > 0 else { throw TestFailure("the event stream ended before \(marker.debugDescription): \(received)") }
                received += String(decoding: buffer[0..<n], as: UTF8.self)
            }
        }
        try readUntil("event: joined\n")
        XCTAssertTrue(received.hasPrefix("HTTP/1.1 200 OK\r\n"), received)
        XCTAssertTrue(received.contains("content-type: text/event-stream\r\n") || received.contains("Content-Type: text/event-stream\r\n"), received)
        try readUntil("\n\n")
        XCTAssertTrue(received.contains(#"data: {"members":1,"room":"raw","type":"joined"}"#), received)
        XCTAssertEqual(chat.hub.memberCount(in: "raw"), 1)
        try ChatRoutes.router(hub: chat.hub).test(.inMemory) { client in
            for (index, text) in ["first", "second", "line one\nline two"].enumerated() {
                let response = try client.post("/rooms/raw/messages?from=tester", headers: [.contentType: "text/plain"], body: text)
                XCTAssertEqual(response.status, .accepted)
                let receipt = try JSONDecoder().decode(ChatHub.Receipt.self, from: Data(response.body))
                XCTAssertEqual(receipt, ChatHub.Receipt(room: "raw", seq: UInt64(index + 1), members: 1))
            }
        }
        try readUntil(#"line two"#)
        let events = [
            "id: 1\nevent: message\n" + #"data: {"from":"tester","room":"raw","seq":1,"text":"first","type":"message"}"#,
            "id: 2\nevent: message\n" + #"data: {"from":"tester","room":"raw","seq":2,"text":"second","type":"message"}"#,
            "id: 3\nevent: message\n" + #"data: {"from":"tester","room":"raw","seq":3,"text":"line one\nline two","type":"message"}"#,
        ]
        var searchFrom = received.startIndex
        for event in events {
            guard let found = received.range(of: event, range: searchFrom..<received.endIndex) else {
                XCTFail("missing, or out of order: \(event.debugDescription) in \(received.debugDescription)")
                break
            }
            searchFrom = found.upperBound
        }
        // Idle now: the worker's heartbeat (200 ms in ChatTestServer) keeps the stream alive.
        received = ""
        try readUntil(": keep-alive\n\n")
    }
}
