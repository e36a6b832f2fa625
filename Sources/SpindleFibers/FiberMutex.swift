/// A mutual-exclusion lock for fibers: a fiber that finds it held parks (its thread keeps
/// running other fibers) until the owner unlocks. Ownership is handed to waiters in FIFO order.
/// Not reentrant. Waiting is not cancellable (so `withLock` always runs its body once).
/// Use it to keep a critical section that parks (I/O, sleep) exclusive; code that never parks
/// needs no lock at all, since fibers of a scheduler never run at the same time.
// `@exclusivity(unchecked)` on fields below: owner-thread only, never accessed across a fiber
// switch (see Fiber.swift), so dynamic exclusivity checks would only cost time.
public final class FiberMutex {
    @exclusivity(unchecked) private unowned(unsafe) var owner: Fiber? = nil
    private let waiters = WaitQueue()

    /// Creates an unlocked mutex.
    public init() {}

    /// True while some fiber holds the lock.
    public var isLocked: Bool { owner != nil }

    /// Acquires the lock, parking while another fiber holds it. Cost: O(1).
    public func lock() {
        let me = Fiber.requireCurrent("FiberMutex.lock()")
        precondition(owner !== me, "FiberMutex.lock(): \(me) already holds this lock (it is not reentrant)")
        guard owner != nil else {
            owner = me
            return
        }
        precondition(owner!.scheduler === me.scheduler, "FiberMutex used from a second scheduler thread; it coordinates fibers of one scheduler")
        waiters.append(me)
        while owner !== me {
            _ = Fiber.park(cancellable: false)
        }
    }

    /// Acquires the lock if it is free; returns whether it did.
    public func tryLock() -> Bool {
        let me = Fiber.requireCurrent("FiberMutex.tryLock()")
        guard owner == nil else { return false }
        owner = me
        return true
    }

    /// Releases the lock and hands it to the longest waiter, if any.
    public func unlock() {
        let me = Fiber.requireCurrent("FiberMutex.unlock()")
        precondition(owner === me, "FiberMutex.unlock() called by \(me), which does not hold the lock")
        if let next = waiters.popFirst() {
            owner = next
            next.scheduler.unpark(next, with: .ready)
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
