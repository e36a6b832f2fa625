import Foundation

/// One message published to a room: its place in the room's order (`sequence`, from 1, one
/// more for each message while the room has members), who sent it and what it says.
public struct ChatMessage: Codable, Equatable, Sendable {
    /// The room's name.
    public var room: String
    /// The message's place in the room's order: every member receives the room's messages in
    /// increasing `sequence`.
    public var sequence: UInt64
    /// The sender's name as it gave it (`anonymous` when it gave none).
    public var from: String
    /// The text.
    public var text: String

    /// A message as published.
    public init(room: String, sequence: UInt64, from: String, text: String) {
        self.room = room
        self.sequence = sequence
        self.from = from
        self.text = text
    }
}

/// What a member's client receives: `{"type":"joined",…}` once, first, then one
/// `{"type":"message",…}` per message of its room, and `{"type":"evicted",…}` when it is
/// dropped for falling behind and can still be told (a WebSocket text message each; on an event
/// stream the event's name is the type and its data the JSON).
public enum ChatEvent: Equatable, Sendable {
    /// The member is in the room, with `members` members in it (itself included).
    case joined(room: String, members: Int)
    /// A message of the room.
    case message(ChatMessage)
    /// The member was dropped for falling behind (`reason`); its connection closes next.
    case evicted(reason: String)

    /// The event's name: `joined` or `message`.
    public var name: String {
        switch self {
        case .joined: "joined"
        case .message: "message"
        case .evicted: "evicted"
        }
    }

    /// The event as one line of JSON with sorted keys, `type` included. Allocates the string
    /// (and an encoder).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data?
        switch self {
        case .joined(let room, let members):
            data = try? encoder.encode(JoinedBody(type: name, room: room, members: members))
        case .message(let message):
            data = try? encoder.encode(MessageBody(type: name, room: message.room, seq: message.sequence, from: message.from, text: message.text))
        case .evicted(let reason):
            data = try? encoder.encode(EvictedBody(type: name, reason: reason))
        }
        // Strings and integers always encode; the fallback only keeps this total.
        return data.map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    private struct JoinedBody: Encodable {
        let type: String
        let room: String
        let members: Int
    }

    private struct EvictedBody: Encodable {
        let type: String
        let reason: String
    }

    private struct MessageBody: Encodable {
        let type: String
        let room: String
        let seq: UInt64
        let from: String
        let text: String
    }
}
