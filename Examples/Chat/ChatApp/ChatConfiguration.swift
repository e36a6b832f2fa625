/// The chat's limits: how far a member may fall behind, how long a message may be, how often
/// an idle event stream is kept alive. Built once at startup; `Sendable` (every worker reads it).
public struct ChatConfiguration: Sendable {
    /// Messages a member may have waiting (published to its room, not yet written to its
    /// socket). A member with this many waiting when another arrives is disconnected (a
    /// WebSocket closed with 1008 when its socket can still take the close frame, an event
    /// stream ended), so a member that does not read never holds the room back.
    public var memberQueueCapacity: Int
    /// The longest message text in UTF-8 bytes: a longer `POST` body is answered `413`, a longer
    /// WebSocket message closes that socket with 1009.
    public var maxMessageBytes: Int
    /// How long an event stream may stay silent before a `: keep-alive` comment goes out; also
    /// how soon a member that left without a word is noticed (`Response.serverSentEvents`).
    public var eventStreamHeartbeat: Duration

    /// Defaults: 256 waiting messages per member, 16 KiB messages, a heartbeat every 15 s.
    /// Stops with a message when `memberQueueCapacity` or `maxMessageBytes` is below 1.
    public init(memberQueueCapacity: Int = 256, maxMessageBytes: Int = 16 << 10, eventStreamHeartbeat: Duration = .seconds(15)) {
        precondition(memberQueueCapacity >= 1, "ChatConfiguration: memberQueueCapacity must be at least 1")
        precondition(maxMessageBytes >= 1, "ChatConfiguration: maxMessageBytes must be at least 1")
        self.memberQueueCapacity = memberQueueCapacity
        self.maxMessageBytes = maxMessageBytes
        self.eventStreamHeartbeat = eventStreamHeartbeat
    }
}
