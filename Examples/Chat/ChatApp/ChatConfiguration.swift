/// The chat's limits: how far a member may fall behind, how long a message may be, how often
/// an idle event stream is kept alive. Built once at startup; `Sendable` (every worker reads it).
public struct ChatConfiguration: Sendable {
    /// Messages a member may have waiting (published to its room, not yet written to its
    /// socket). A member with this many waiting when another arrives is disconnected (sent an
    /// `evicted` message or event with the reason when its writer is not stuck in a write; then
    /// a WebSocket's connection is closed, an event stream ended), so a member that does not
    /// read never holds the room back.
    public var memberQueueCapacity: Int
    /// The longest message text in UTF-8 bytes: a longer `POST` body is answered `413`, a longer
    /// WebSocket message closes that socket with 1009.
    public var maxMessageBytes: Int
    /// How often every event stream gets a `: keep-alive` comment (queued like a message by one
    /// fiber per worker); also how soon an event-stream member that left is noticed (the
    /// comment's write finds it gone). Stops with a message when not positive.
    public var eventStreamHeartbeat: Duration

    /// Defaults: 256 waiting messages per member, 16 KiB messages, a heartbeat every 15 s.
    /// Stops with a message when `memberQueueCapacity` or `maxMessageBytes` is below 1.
    public init(memberQueueCapacity: Int = 256, maxMessageBytes: Int = 16 << 10, eventStreamHeartbeat: Duration = .seconds(15)) {
        precondition(memberQueueCapacity >= 1, "ChatConfiguration: memberQueueCapacity must be at least 1")
        precondition(maxMessageBytes >= 1, "ChatConfiguration: maxMessageBytes must be at least 1")
        precondition(eventStreamHeartbeat > .zero, "ChatConfiguration: eventStreamHeartbeat must be positive")
        self.memberQueueCapacity = memberQueueCapacity
        self.maxMessageBytes = maxMessageBytes
        self.eventStreamHeartbeat = eventStreamHeartbeat
    }
}
