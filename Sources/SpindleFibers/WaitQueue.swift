import SpindleMemory

// `@exclusivity(unchecked)` on fields below: owner-thread only, never accessed across a fiber
// switch (see Fiber.swift), so dynamic exclusivity checks would only cost time.

/// A FIFO of parked fibers, linked through their cores (a fiber waits in at most one queue at a
/// time). O(1) append, pop and removal — removal is what a timeout or cancellation does to a
/// waiter in the middle. No allocation or reference counting per wait. Used by every blocking
/// primitive. Single-thread: the queue and its fibers belong to one scheduler.
package final class WaitQueue {
    @exclusivity(unchecked) private var head: CorePointer? = nil
    @exclusivity(unchecked) private var tail: CorePointer? = nil
    @exclusivity(unchecked) private(set) var count = 0

    package init() {}

    package var isEmpty: Bool { head == nil }

    @inline(__always)
    private var unmanagedSelf: Unmanaged<WaitQueue> { .passUnretained(self) }

    package func append(_ core: CorePointer) {
        misusePrecondition(core.pointee.waitQueue == nil, "a fiber is already waiting in another queue")
        core.pointee.waitQueue = unmanagedSelf
        core.pointee.waitPrev = tail
        core.pointee.waitNext = nil
        if let tail { tail.pointee.waitNext = core } else { head = core }
        tail = core
        count &+= 1
    }

    package func popFirst() -> CorePointer? {
        guard let first = head else { return nil }
        remove(first)
        return first
    }

    package func remove(_ core: CorePointer) {
        guard core.pointee.waitQueue?.toOpaque() == unmanagedSelf.toOpaque() else { return }
        let prev = core.pointee.waitPrev, next = core.pointee.waitNext
        if let prev { prev.pointee.waitNext = next } else { head = next }
        if let next { next.pointee.waitPrev = prev } else { tail = prev }
        core.pointee.waitQueue = nil
        core.pointee.waitPrev = nil
        core.pointee.waitNext = nil
        count &-= 1
    }

    /// Wakes the first waiter with `reason`; returns false when nobody waits.
    @discardableResult
    package func wakeOne(_ reason: WakeReason = .ready) -> Bool {
        guard let core = popFirst() else { return false }
        core.scheduler._withUnsafeGuaranteedRef { _ = $0.unpark(core, with: reason) }
        return true
    }

    /// Wakes every waiter with `reason`.
    package func wakeAll(_ reason: WakeReason = .ready) {
        while let core = popFirst() {
            core.scheduler._withUnsafeGuaranteedRef { _ = $0.unpark(core, with: reason) }
        }
    }
}
