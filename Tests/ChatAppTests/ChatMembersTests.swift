// The chat's members over real sockets, against Python clients (`websockets` for WebSocket
// members, plain sockets for event streams): order, a slow member, members leaving.
import ChatApp
import Spindle
import SpindleTestSupport
import XCTest

final class ChatMembersTests: XCTestCase {
    func testMessagesReachEveryMemberInOrderAcrossWorkers() throws {
        // Two workers: the peer adds members until the room spans both, and messages are
        // published from a WebSocket member's and the POSTs' connections, so they cross workers.
        let chat = try ChatTestServer(workers: 2)
        defer { chat.stop() }
        let lines = try runChatPeer("fanout", port: chat.port, room: "fanout")
        for check in ["room spans two workers", "room counts every member", "all ", "every member received the same list", "room empties"] {
            XCTAssertTrue(lines.contains { $0.hasPrefix("ok   " + check) }, "\(check): \(lines)")
        }
        XCTAssertEqual(chat.hub.totalMembers, 0)
    }

    func testASlowMemberIsDisconnectedWithoutStallingTheOthers() throws {
        // A small queue, and one worker so that the slow members share it with the fast ones.
        let chat = try ChatTestServer(configuration: ChatConfiguration(memberQueueCapacity: 16, eventStreamHeartbeat: .milliseconds(200)), workers: 1)
        defer { chat.stop() }
        let lines = try runChatPeer("slow", port: chat.port, room: "slow")
        XCTAssertEqual(lines.filter { $0.hasPrefix("ok") }.count, 1 + 4 + 1 + 2 + 1, "\(lines)")
        XCTAssertEqual(chat.hub.totalMembers, 0)
    }

    func testMembersLeaveCleanlyOnDisconnect() throws {
        // A short heartbeat: an event-stream member that dropped its socket is noticed at the next beat.
        let chat = try ChatTestServer(configuration: ChatConfiguration(eventStreamHeartbeat: .milliseconds(100)), workers: 2)
        defer { chat.stop() }
        let lines = try runChatPeer("leave", port: chat.port, room: "leave")
        XCTAssertEqual(lines.filter { $0.hasPrefix("ok") }.count, 6, "\(lines)")
        XCTAssertEqual(chat.hub.totalMembers, 0)
    }
}
