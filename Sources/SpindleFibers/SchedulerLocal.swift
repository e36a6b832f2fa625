import Synchronization

/// A value with a separate instance per scheduler — per worker thread — made on first use:
/// what a worker keeps for itself without locks (a cache, a buffer), the way `FiberLocal` is
/// per fiber. The instances live as long as their scheduler (also those of a local that has
/// gone: make locals once, not per request).
///
/// Use an instance only on the thread of the scheduler it came from (the fibers of one worker
/// run one at a time on one thread, so they may share it without locks, as long as none
/// parks halfway through changing it).
public final class SchedulerLocal<Value: AnyObject>: Sendable {
    private let make: @Sendable () -> Value
    /// Unique in the process: a new local never finds the instances of one that has gone
    /// (an object identifier could be reused by a local allocated at the same address).
    private let key: UInt64

    /// A scheduler-local whose instances `make` creates (on the thread that first asks).
    public init(_ make: @escaping @Sendable () -> Value) {
        self.make = make
        key = schedulerLocalSerials.add(1, ordering: .relaxed).newValue
    }

    /// The calling scheduler's instance, made now if it has none; nil on a thread that runs no
    /// scheduler. Cost: a dictionary lookup; the first use on a scheduler allocates.
    public var current: Value? {
        guard let scheduler = Scheduler.current else { return nil }
        if let value = scheduler.locals[key] { return unsafeDowncast(value, to: Value.self) }
        let value = make()
        scheduler.locals[key] = value
        return value
    }
}

private let schedulerLocalSerials = Atomic<UInt64>(0)
