import SpindleMemory

/// One fiber as a dump shows it: identity, state, what it waits for, age and stack use.
/// Made by `Scheduler.fiberSnapshots()` on the fiber's own thread; a plain value afterwards.
public struct FiberSnapshot: Sendable {
    /// The state of a fiber that has not finished.
    public enum State: String, Sendable {
        /// Executing now (only the fiber that takes the snapshot, if it is taken in a fiber).
        case running
        /// In the run queue, or spawned and not started yet.
        case runnable
        /// Parked: see `waitReason`.
        case parked
    }

    /// The fiber's id (`Fiber.id`).
    public let id: UInt64
    /// The name given at spawn, if any.
    public let name: String?
    /// Running, runnable or parked.
    public let state: State
    /// What it waits for, when parked.
    public let waitReason: FiberWaitReason?
    /// When its timer fires (a sleep's end, a wait's deadline), when it has one.
    public let timer: Deadline?
    /// When it was spawned (coarse monotonic clock: a few milliseconds' resolution).
    public let spawnedAt: Deadline
    /// The deepest its stack has been used so far, in bytes (see `StackPool.highWaterBytes(of:)`).
    public let stackHighWaterBytes: Int
    /// The usable size of its stack, in bytes.
    public let stackSize: Int
}

extension Scheduler {
    /// A snapshot of every unfinished fiber of this scheduler, ordered by id. Finds them through
    /// the stack pool's side table (no list of fibers is kept on the spawn path) and measures
    /// each one's stack high-water (a `mincore` per fiber). Allocates the array. Must run on
    /// this scheduler's thread: in one of its fibers or in work posted with `submit`.
    public func fiberSnapshots() -> [FiberSnapshot] {
        assertOnThread("Scheduler.fiberSnapshots()")
        var snapshots: [FiberSnapshot] = []
        snapshots.reserveCapacity(liveFibers)
        forEachUnfinishedFiber { fiber, core in
            let state = FiberSnapshot.State(core.pointee.state)
            let stack = core.pointee.stack
            snapshots.append(FiberSnapshot(
                id: fiber.id, name: fiber.name, state: state,
                waitReason: state == .parked ? core.pointee.waitReason : nil,
                timer: core.pointee.timerIndex >= 0 ? Deadline(nanoseconds: core.pointee.timerDeadline) : nil,
                spawnedAt: Deadline(nanoseconds: stacks.spawnTime(of: stack)),
                stackHighWaterBytes: stacks.highWaterBytes(of: stack), stackSize: stack.size))
        }
        snapshots.sort { $0.id < $1.id }
        return snapshots
    }

    /// How many unfinished fibers of this scheduler are in each state, and what the parked ones
    /// wait for. Walks the stack pool's side table as `fiberSnapshots()` does but reads only
    /// each fiber's control block: no `mincore`, no allocation. Must run on this scheduler's
    /// thread: in one of its fibers or in work posted with `submit`.
    public func fiberStateCounts() -> FiberStateCounts {
        assertOnThread("Scheduler.fiberStateCounts()")
        var counts = FiberStateCounts()
        forEachUnfinishedFiber { _, core in
            switch FiberSnapshot.State(core.pointee.state) {
            case .running: counts.running &+= 1
            case .runnable: counts.runnable &+= 1
            case .parked: counts.countParked(waitingFor: core.pointee.waitReason)
            }
        }
        return counts
    }

    /// Calls `body` with every unfinished fiber of this scheduler and its control block.
    func forEachUnfinishedFiber(_ body: (Fiber, UnsafeMutablePointer<FiberCore>) -> Void) {
        stacks.forEachOwnedStack { control, owner in
            let core = control.assumingMemoryBound(to: FiberCore.self)
            // Invariant: a stack whose side table names an owner was handed to `Fiber.init`
            // (which bound its control block to `FiberCore`) and has not gone back to the pool
            // (which clears the owner); the object it points to is alive while the scheduler
            // holds it (unfinished) or keeps it for reuse (finished).
            let fiber = core.pointee.fiber.takeUnretainedValue()
            guard !fiber.finished, fiber.id == owner else { return }
            body(fiber, core)
        }
    }
}

extension FiberSnapshot.State {
    /// The state a dump shows for a control block's state (a finished fiber not yet recycled
    /// counts as runnable: it is about to leave its stack).
    init(_ state: Fiber.State) {
        switch state {
        case .running: self = .running
        case .parked: self = .parked
        case .runnable, .finished: self = .runnable
        }
    }
}

/// How many fibers of a scheduler are in each state (`Scheduler.fiberStateCounts()`); a plain
/// value, summed over workers by adding.
public struct FiberStateCounts: Sendable, Equatable {
    /// Executing now (only the fiber that counts, if it counts from a fiber).
    public var running = 0
    /// In the run queue, or spawned and not started yet.
    public var runnable = 0
    /// Parked, by what they wait for: index `FiberWaitReason.rawValue`.
    public var parkedByReason: [Int] = Array(repeating: 0, count: FiberWaitReason.allCases.count)

    /// No fibers.
    public init() {}

    /// Parked fibers, whatever they wait for.
    public var parked: Int { parkedByReason.reduce(0, &+) }

    /// Parked fibers waiting for `reason`.
    public func parked(waitingFor reason: FiberWaitReason) -> Int {
        Int(reason.rawValue) < parkedByReason.count ? parkedByReason[Int(reason.rawValue)] : 0
    }

    /// One more parked fiber, waiting for `reason`.
    mutating func countParked(waitingFor reason: FiberWaitReason) {
        let index = Int(reason.rawValue)
        if index < parkedByReason.count { parkedByReason[index] &+= 1 }
    }

    /// Adds `other`'s counts to these (summing schedulers).
    public mutating func add(_ other: FiberStateCounts) {
        running &+= other.running
        runnable &+= other.runnable
        for index in parkedByReason.indices where index < other.parkedByReason.count {
            parkedByReason[index] &+= other.parkedByReason[index]
        }
    }
}
