import SpindleFibers

/// One member of a room on one worker: the bounded queue of messages (and, for an event stream,
/// keep-alives) waiting to be written to its client, and the fiber writing them. Used only on its worker's thread (it is created,
/// fed and ended there).
///
/// A member's queue is filled by its worker's `WorkerRooms` without parking (`offer`); when it
/// is full, the member is evicted instead of making the room wait: its queue is closed and, if
/// its writer is parked in a write the client does not read, that write is cancelled (which
/// closes the connection).
final class ChatMember {
    /// Where the member stands.
    enum State: Equatable {
        /// Receiving the room's messages.
        case active
        /// Dropped by the room (its queue was full): the reason, for the client when it can
        /// still be told.
        case evicted(reason: String)
        /// Gone: its client left or its connection ended.
        case left
    }

    /// What waits in a member's queue.
    enum Delivery {
        /// A message of the room.
        case message(ChatMessage)
        /// A keep-alive for an idle event stream (`WorkerRooms`'s heartbeat): writing it finds
        /// out whether the client is still there.
        case keepAlive
    }

    let room: String
    /// True for an event-stream member (the worker's heartbeat keeps it alive).
    let isEventStream: Bool
    private let queue: Channel<Delivery>
    private(set) var state = State.active
    /// The fiber writing to the client, while a write is in progress.
    private var writing: Fiber? = nil

    /// A member of `room` whose queue holds up to `capacity` deliveries.
    init(room: String, capacity: Int, isEventStream: Bool) {
        self.room = room
        self.isEventStream = isEventStream
        queue = Channel(capacity: capacity)
    }

    /// Queues `message` without parking; evicts the member when its queue is full. Cost: an
    /// enqueue and a wake of the writer.
    func offer(_ delivery: Delivery) {
        guard state == .active else { return }
        if !queue.trySend(delivery) {
            evict(reason: "too slow: \(queue.capacity) messages waiting")
        }
    }

    /// Drops the member: no more messages are queued, the writer stops before its next one,
    /// and a write in progress is cancelled (the connection is closed then: the client's
    /// buffers are full, a close frame could not reach it anyway).
    func evict(reason: String) {
        guard state == .active else { return }
        state = .evicted(reason: reason)
        queue.close()
        writing?.cancel()
    }

    /// Ends the member (its client left): the writer stops.
    func leave() {
        if state == .active { state = .left }
        queue.close()
    }

    /// Writes the queued deliveries with `write`, in order, until the member is evicted or has
    /// left (then returns its state), parking while the queue is empty. Runs in the member's
    /// writer fiber; throws what `write` throws, and `CancellationError` when the fiber is
    /// cancelled while waiting.
    func writeDeliveries(_ write: (Delivery) throws -> Void) throws -> State {
        while true {
            guard state == .active, let delivery = try queue.receive(), state == .active else { return state }
            writing = Fiber.current
            defer { writing = nil }
            try write(delivery)
        }
    }
}
