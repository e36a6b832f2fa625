/// A FIFO of parked fibers, linked through the fibers themselves (a fiber waits in at most one
/// queue at a time). O(1) append, pop and removal — removal is what a timeout or cancellation
/// does to a waiter in the middle. No allocation per wait. Used by every blocking primitive.
/// Single-thread: the queue and its fibers belong to one scheduler.
// `@exclusivity(unchecked)` on fields below: owner-thread only, never accessed across a fiber
// switch (see Fiber.swift), so dynamic exclusivity checks would only cost time.
final class WaitQueue {
    @exclusivity(unchecked) private unowned(unsafe) var head: Fiber? = nil
    @exclusivity(unchecked) private unowned(unsafe) var tail: Fiber? = nil
    @exclusivity(unchecked) private(set) var count = 0

    var isEmpty: Bool { head == nil }

    func append(_ fiber: Fiber) {
        precondition(fiber.waitQueue == nil, "\(fiber) is already waiting in another queue")
        fiber.waitQueue = self
        fiber.waitPrev = tail
        fiber.waitNext = nil
        if let tail { tail.waitNext = fiber } else { head = fiber }
        tail = fiber
        count += 1
    }

    func popFirst() -> Fiber? {
        guard let first = head else { return nil }
        remove(first)
        return first
    }

    func remove(_ fiber: Fiber) {
        guard fiber.waitQueue === self else { return }
        if let prev = fiber.waitPrev { prev.waitNext = fiber.waitNext } else { head = fiber.waitNext }
        if let next = fiber.waitNext { next.waitPrev = fiber.waitPrev } else { tail = fiber.waitPrev }
        fiber.waitQueue = nil
        fiber.waitPrev = nil
        fiber.waitNext = nil
        count -= 1
    }

    /// Wakes the first waiter with `reason`; returns false when nobody waits.
    @discardableResult
    func wakeOne(_ reason: WakeReason = .ready) -> Bool {
        guard let fiber = popFirst() else { return false }
        fiber.scheduler.unpark(fiber, with: reason)
        return true
    }

    /// Wakes every waiter with `reason`.
    func wakeAll(_ reason: WakeReason = .ready) {
        while let fiber = popFirst() { fiber.scheduler.unpark(fiber, with: reason) }
    }
}
