import SpindleFibers

/// The rooms' members on one worker thread, and the fiber that hands them their messages.
///
/// Messages come from any thread through `ChatHub`, which posts them to this worker with
/// `Scheduler.submit` (the worker's inbox, in the order the hub gave them their sequence
/// numbers) into an unbounded channel; a pump fiber takes them one at a time and offers each to
/// the room's members here (`ChatMember.offer`, which never parks), then yields, so the members'
/// writers run between two messages and a burst does not fill a queue that is being drained.
/// A heartbeat fiber queues a keep-alive for every event-stream member each
/// `ChatConfiguration.eventStreamHeartbeat` (one fiber per worker rather than one per stream);
/// writing it finds a client that left, and keeps intermediaries from timing the stream out.
/// Both fibers end when the last member on this worker leaves.
final class WorkerRooms: @unchecked Sendable {
    // @unchecked Sendable: the hub keeps it in a table any thread reads and captures it in work
    // submitted to `scheduler`; everything but `scheduler` is touched only on that scheduler's
    // thread (by its fibers and by the submitted work).
    /// The worker's scheduler: messages for these members are submitted to it.
    let scheduler: Scheduler
    private let incoming = Channel<ChatMessage>.unbounded()
    private var rooms: [String: [ObjectIdentifier: ChatMember]] = [:]
    private var count = 0
    private var heartbeat: FiberHandle<Void>? = nil

    /// The rooms of the calling worker, with their pump and heartbeat fibers started (a
    /// keep-alive for each event stream every `heartbeatInterval`). Call from a fiber.
    init(scheduler: Scheduler, heartbeatInterval: Duration) {
        self.scheduler = scheduler
        Fiber.spawnDetached(name: "chat-pump") { [self] in
            for message in incoming {
                guard let members = rooms[message.room] else { continue }
                for member in members.values { member.offer(.message(message)) }
                Fiber.yield()
            }
        }
        heartbeat = Fiber.spawn(name: "chat-heartbeat") { [self] in
            while true {
                try Fiber.sleep(for: heartbeatInterval)  // cancelled by stop()
                for members in rooms.values {
                    for member in members.values where member.isEventStream { member.offer(.keepAlive) }
                }
            }
        }
    }

    /// Queues `message` for the pump. Runs on the worker's thread (submitted work); never parks.
    func post(_ message: ChatMessage) {
        _ = incoming.trySend(message)  // false only once the pump ended: no member is left here
    }

    /// Adds `member` to its room on this worker. Worker's thread.
    func add(_ member: ChatMember) {
        rooms[member.room, default: [:]][ObjectIdentifier(member)] = member
        count += 1
    }

    /// Removes `member`: whether it was here, and the members left on this worker. Worker's
    /// thread.
    func remove(_ member: ChatMember) -> (removed: Bool, remaining: Int) {
        guard rooms[member.room]?.removeValue(forKey: ObjectIdentifier(member)) != nil else { return (false, count) }
        count -= 1
        if rooms[member.room]?.isEmpty == true { rooms[member.room] = nil }
        return (true, count)
    }

    /// Ends the pump (after the messages already posted) and the heartbeat. Worker's thread.
    func stop() {
        incoming.close()
        heartbeat?.cancel()
        heartbeat = nil
    }
}
