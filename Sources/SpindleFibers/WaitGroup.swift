import SpindleMemory

/// Waits for a group of fibers: `add` before starting work, `done` when each piece finishes,
/// `wait` parks until the count is back to zero.
// `@exclusivity(unchecked)` on fields below: owner-thread only, never accessed across a fiber
// switch (see Fiber.swift), so dynamic exclusivity checks would only cost time.
public final class WaitGroup {
    @exclusivity(unchecked) private var pending = 0
    private let waiters = WaitQueue()

    /// Creates a group with a count of zero.
    public init() {}

    /// The outstanding count.
    public var count: Int { pending }

    /// Adds `n` (≥ 0) to the count.
    public func add(_ n: Int = 1) {
        misusePrecondition(n >= 0, "WaitGroup.add(\(n)): use done() to decrement")
        pending += n
    }

    /// Marks one piece of work finished; wakes the waiters when the count reaches zero.
    public func done() {
        misusePrecondition(pending > 0, "WaitGroup.done() called more often than add()")
        pending -= 1
        if pending == 0 { waiters.wakeAll() }
    }

    /// Parks until the count is zero. Throws `CancellationError` when the fiber is cancelled first.
    public func wait() throws {
        let me = Fiber.currentCore("WaitGroup.wait()")
        while pending > 0 {
            waiters.append(me)
            if Fiber.park(me, cancellable: true, deadline: nil, for: .event) == .cancelled { throw CancellationError() }
        }
    }
}
