import SpindleMemory

/// A mutual-exclusion lock for fibers: a fiber that finds it held parks (its thread keeps
/// running other fibers) until the owner unlocks. Ownership is handed to waiters in FIFO order.
/// Not reentrant. Waiting is not cancellable (so `withLock` always runs its body once).
/// Use it to keep a critical section that parks (I/O, sleep) exclusive; code that never parks
/// needs no lock at all, since fibers of a scheduler never run at the same time.
// `@exclusivity(unchecked)` on fields below: owner-thread only, never accessed across a fiber
// switch (see Fiber.swift), so dynamic exclusivity checks would only cost time.
public final class FiberMutex {
    @exclusivity(unchecked) private var owner: CorePointer? = nil
    private let waiters = WaitQueue()

    /// Creates an unlocked mutex.
    public init() {}

    /// True while some fiber holds the lock.
    public var isLocked: Bool { owner != nil }

    /// Acquires the lock, parking while another fiber holds it. Cost: O(1).
    public func lock() {
        let me = Fiber.currentCore("FiberMutex.lock()")
        misusePrecondition(owner != me, "FiberMutex.lock(): the calling fiber already holds this lock (it is not reentrant)")
        guard let holder = owner else {
            owner = me
            return
        }
        misusePrecondition(holder.scheduler.toOpaque() == me.scheduler.toOpaque(),
                     "FiberMutex used from a second scheduler thread; it coordinates fibers of one scheduler")
        waiters.append(me)
        while owner != me {
            _ = Fiber.park(me, cancellable: false, deadline: nil, for: .mutex)
        }
    }

    /// Acquires the lock if it is free; returns whether it did.
    public func tryLock() -> Bool {
        let me = Fiber.currentCore("FiberMutex.tryLock()")
        guard owner == nil else { return false }
        owner = me
        return true
    }

    /// Releases the lock and hands it to the longest waiter, if any.
    public func unlock() {
        let me = Fiber.currentCore("FiberMutex.unlock()")
        misusePrecondition(owner == me, "FiberMutex.unlock() called by a fiber that does not hold the lock")
        if let next = waiters.popFirst() {
            owner = next
            next.scheduler._withUnsafeGuaranteedRef { _ = $0.unpark(next, with: .ready) }
        } else {
            owner = nil
        }
    }

    /// Runs `body` holding the lock.
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
