import Foundation
import SpindleFibers

/// The rooms, shared by every worker thread: who is in which room on which worker, and the
/// one place that orders a room's messages.
///
/// A member joins on the worker that accepted its connection and stays there (its fiber and
/// socket belong to that worker). `publish`, from any thread, takes the hub's lock, gives the
/// message the room's next sequence number and, still under the lock, posts it with
/// `Scheduler.submit` to each worker that has members in the room (its own worker included).
/// A worker's inbox runs work in the order it was posted, and every post to it happens under
/// the lock, so each member receives a room's messages in sequence order, whichever workers
/// published them. On the worker, `WorkerRooms` offers each message to the members there.
public final class ChatHub: @unchecked Sendable {
    // @unchecked Sendable: `workers` and `rooms` are read and written only under `lock`; the
    // `WorkerRooms` in `workers` are touched only on their own worker's thread, or reached from
    // another thread only through their scheduler's `submit`.
    /// The limits of every room.
    public let configuration: ChatConfiguration
    private let lock = NSLock()
    private var workers: [UInt64: WorkerRooms] = [:]
    private var rooms: [String: RoomEntry] = [:]

    /// One room: the last sequence number given, and its members on each worker.
    private struct RoomEntry {
        var lastSequence: UInt64 = 0
        var membersByWorker: [UInt64: Int] = [:]
        var members = 0
    }

    /// What `publish` did: the message's sequence number (0 when the room had no member and the
    /// message went nowhere) and the members it was sent to.
    public struct Receipt: Codable, Equatable, Sendable {
        /// The room.
        public var room: String
        /// The message's place in the room's order; 0 when the room was empty.
        public var seq: UInt64
        /// Members the message was sent to.
        public var members: Int

        /// A receipt with these values.
        public init(room: String, seq: UInt64, members: Int) {
            self.room = room
            self.seq = seq
            self.members = members
        }
    }

    /// A hub with no rooms. A room exists while it has members.
    public init(configuration: ChatConfiguration = ChatConfiguration()) {
        self.configuration = configuration
    }

    /// Publishes `text` from `from` to `room`'s members on every worker, in the room's order.
    /// Any thread. Never parks; cost: the lock, and one `Scheduler.submit` (a mutex, and a
    /// `write(2)` when that worker is idle) per worker with members in the room.
    @discardableResult
    public func publish(room: String, from: String, text: String) -> Receipt {
        lock.lock()
        defer { lock.unlock() }
        guard var entry = rooms[room], entry.members > 0 else { return Receipt(room: room, seq: 0, members: 0) }
        entry.lastSequence += 1
        rooms[room] = entry
        let message = ChatMessage(room: room, sequence: entry.lastSequence, from: from, text: text)
        for workerNumber in entry.membersByWorker.keys {
            guard let worker = workers[workerNumber] else { continue }
            worker.scheduler.submit { worker.post(message) }
        }
        return Receipt(room: room, seq: entry.lastSequence, members: entry.members)
    }

    /// Members of `room` now, on all workers. Any thread; cost: the lock.
    public func memberCount(in room: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return rooms[room]?.members ?? 0
    }

    /// Workers with members of `room` now. Any thread; cost: the lock.
    public func workerCount(in room: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return rooms[room]?.membersByWorker.count ?? 0
    }

    /// Members of every room now. Any thread; cost: the lock.
    public var totalMembers: Int {
        lock.lock()
        defer { lock.unlock() }
        return rooms.values.reduce(0) { $0 + $1.members }
    }

    /// Adds `member` to its room on the calling worker (starting the worker's pump with its
    /// first member); returns the room's members now. Call from a fiber of a worker: messages
    /// published from now on reach the member.
    func join(_ member: ChatMember) -> Int {
        guard let scheduler = Scheduler.current else {
            preconditionFailure("ChatHub.join: call it from a fiber of a worker (a handler), not from another thread")
        }
        lock.lock()
        defer { lock.unlock() }
        let worker: WorkerRooms
        if let existing = workers[scheduler.number] {
            worker = existing
        } else {
            worker = WorkerRooms(scheduler: scheduler, heartbeatInterval: configuration.eventStreamHeartbeat)
            workers[scheduler.number] = worker
        }
        worker.add(member)
        var entry = rooms[member.room] ?? RoomEntry()
        entry.membersByWorker[scheduler.number, default: 0] += 1
        entry.members += 1
        rooms[member.room] = entry
        return entry.members
    }

    /// Removes `member` (which `join` added on this worker) and ends it; the worker's pump ends
    /// with its last member, and a room with its last member. Call from a fiber of the same
    /// worker; a second call does nothing. Cost: the lock.
    func leave(_ member: ChatMember) {
        member.leave()
        guard let scheduler = Scheduler.current else {
            preconditionFailure("ChatHub.leave: call it on the worker the member joined on")
        }
        lock.lock()
        defer { lock.unlock() }
        guard let worker = workers[scheduler.number] else { return }
        let (removed, remaining) = worker.remove(member)
        guard removed else { return }  // left already
        if remaining == 0 {
            workers[scheduler.number] = nil
            worker.stop()
        }
        guard var entry = rooms[member.room] else { return }
        let onThisWorker = (entry.membersByWorker[scheduler.number] ?? 0) - 1
        entry.membersByWorker[scheduler.number] = onThisWorker > 0 ? onThisWorker : nil
        entry.members -= 1
        rooms[member.room] = entry.members > 0 ? entry : nil
    }
}
