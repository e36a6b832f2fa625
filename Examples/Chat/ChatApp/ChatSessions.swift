import Spindle
import SpindleFibers

/// The two kinds of member, each a fiber parked for as long as its client stays: a WebSocket
/// member, whose session fiber writes the room's messages while a reader fiber beside it
/// publishes what the client sends; an event-stream member, whose request fiber writes them.
enum ChatSessions {
    /// Runs a WebSocket member of `room` until its client leaves or it is evicted. Runs in the
    /// session's fiber, which reads and publishes what the client sends; a second fiber writes
    /// the room's messages. Cost: the member, its queue, one more fiber (a pooled stack).
    static func runWebSocketMember(_ socket: WebSocket, room: String, from: String, hub: ChatHub) {
        let member = ChatMember(room: room, capacity: hub.configuration.memberQueueCapacity, isEventStream: false)
        let members = hub.join(member)
        let session = Fiber.current
        let writer = Fiber.spawn(name: "chat-ws-writer") {
            let end = try member.writeDeliveries { delivery in
                // WebSocket members get no keep-alives: the session pings an idle client itself.
                if case .message(let message) = delivery { try socket.send(ChatEvent.message(message).json) }
            }
            if case .evicted(let reason) = end {
                // Not stuck in a write (that one would have been cancelled, closing the
                // connection): the client can be told why, then the session is ended (its
                // receive returns nil), which closes the connection.
                try? socket.send(ChatEvent.evicted(reason: reason).json)
                session?.cancel()
            }
        }
        do {
            try socket.send(ChatEvent.joined(room: room, members: members).json)
            while let message = try socket.receive() {
                if case .text(let text) = message { hub.publish(room: room, from: from, text: text) }
            }
        } catch {
            // The connection failed or was closed under the member: it leaves all the same.
        }
        hub.leave(member)  // closes its queue: the writer returns
        writer.cancel()    // or leaves a write the client does not take
        // Returns at once if this fiber was cancelled; a write of the writer still in flight is
        // then waited for by the session's end (WebSocket sends after it throw).
        _ = try? writer.join()
    }

    /// Runs an event-stream member of `room` until its client leaves (noticed when the worker's
    /// heartbeat has it write a keep-alive) or it is evicted (then an `evicted` event ends the
    /// stream, or, if a write was stuck, the connection is closed). Runs in the request's fiber.
    static func runEventStreamMember(_ stream: ServerSentEventStream, room: String, hub: ChatHub) throws {
        let member = ChatMember(room: room, capacity: hub.configuration.memberQueueCapacity, isEventStream: true)
        let members = hub.join(member)
        defer { hub.leave(member) }
        let joined = ChatEvent.joined(room: room, members: members)
        try stream.send(event: joined.name, data: joined.json)
        let end = try member.writeDeliveries { delivery in
            switch delivery {
            case .message(let message):
                let event = ChatEvent.message(message)
                try stream.send(event: event.name, id: String(message.sequence), data: event.json)
            case .keepAlive:
                try stream.comment("keep-alive")  // throws once the client is known gone
            }
        }
        if case .evicted(let reason) = end {
            let evicted = ChatEvent.evicted(reason: reason)
            try stream.send(event: evicted.name, data: evicted.json)
        }
    }
}
