import SpindleMemory

extension Fiber {
    /// The fiber running on this thread, or nil outside fibers. Cost: one thread-local load.
    public static var current: Fiber? {
        guard let raw = CurrentScheduler.raw else { return nil }
        return Unmanaged<Scheduler>.fromOpaque(raw).takeUnretainedValue().current
    }

    /// The running fiber; stops with a message naming `operation` when called outside a fiber.
    @inline(__always)
    static func requireCurrent(_ operation: @autoclosure () -> String) -> Fiber {
        let scheduler = Scheduler.requireCurrent(operation())
        guard let fiber = scheduler.current else { notInFiber(operation()) }
        return fiber
    }

    /// The running fiber's core and its scheduler; stops with a message naming `operation`
    /// when called outside a fiber. Cost: a thread-local load, no reference counting.
    @inline(__always)
    package static func currentCore(_ operation: @autoclosure () -> String) -> CorePointer {
        guard let raw = CurrentScheduler.raw else { _ = Scheduler.requireCurrent(operation()); fatalError() }
        guard let core = Unmanaged<Scheduler>.fromOpaque(raw)._withUnsafeGuaranteedRef({ $0.currentCore }) else {
            notInFiber(operation())
        }
        return core
    }

    static func notInFiber(_ operation: String) -> Never {
        misuse("\(operation) must be called from inside a fiber (it parks the caller), not from the scheduler loop or Scheduler.submit work; wrap it in Fiber.spawn { }")
    }

    /// Starts a new fiber running `body` on the current scheduler. The new fiber is queued and
    /// the caller continues; it first runs at the caller's next suspension point.
    /// Cost: a recycled fiber object (or one allocation when none is free), one allocation for
    /// the closure's captures when it has any (plus the wrapper when `Success` is not `Void`), a
    /// stack from the pool (no system call while the pool has free stacks). Stops the process
    /// with advice when the stack pool is exhausted (`SPINDLE_STACKS_MAX`). The handle holds a
    /// reference (an atomic retain, and a release when dropped); a fiber nobody joins or
    /// cancels is cheaper started with `spawnDetached`.
    /// Call on a scheduler thread: inside `Scheduler.run`, a fiber, or submitted work.
    @inlinable @discardableResult
    public static func spawn<Success>(name: String? = nil, _ body: @escaping () throws -> Success) -> FiberHandle<Success> {
        // Inlinable so the caller specialises the wrapper for `Success` (no run-time
        // generic-metadata lookup per spawn).
        let fiber = Fiber.makeOnCurrentScheduler(name: name)
        fiber.entry = { [unowned(unsafe) fiber] in
            // unowned(unsafe): the entry runs while the scheduler holds the fiber alive.
            fiber.value = try body()
        }
        fiber.start()
        return FiberHandle(typed: fiber)
    }

    /// Starts a new fiber running `body` (see the generic `spawn`); a `Void` body is stored
    /// as is, saving the wrapper's allocation.
    @inlinable @discardableResult
    public static func spawn(name: String? = nil, _ body: consuming @escaping () throws -> Void) -> FiberHandle<Void> {
        // `consuming`: a caller passing a stored closure hands over the one retain its copy
        // took, which becomes the fiber's (borrowed, it was retained once more and released).
        let fiber = Fiber.makeOnCurrentScheduler(name: name)
        fiber.entry = consume body
        fiber.start()
        return FiberHandle(typed: fiber)
    }

    /// Starts a new fiber running `body` that nobody will join or cancel: `spawn` without the
    /// handle, as `go f()` is in Go. The scheduler holds the only reference, so the spawn does
    /// no reference counting (`spawn` with a discarded handle pays an atomic retain/release
    /// pair), and the object and its stack are reused as soon as the body ends.
    /// An error the body throws is dropped with the fiber: catch it in the body.
    /// Cost otherwise as `spawn`. Call on a scheduler thread (see `spawn`).
    public static func spawnDetached(name: String? = nil, _ body: @escaping () throws -> Void) {
        // The +1 that `make` returns goes straight into the scheduler's reference (`Unmanaged`
        // right away, so no ARC traffic is left for the optimiser to pair up or not).
        let fiber = Unmanaged.passRetained(Fiber.makeOnCurrentScheduler(name: name, detached: true))
        fiber._withUnsafeGuaranteedRef { fiber in
            fiber.entry = body
            Unmanaged.passUnretained(fiber.scheduler)._withUnsafeGuaranteedRef { $0.enqueueNew(fiber) }
        }
    }

    /// A fiber object for `spawn` on the calling thread's scheduler (see `make`). Out of line and
    /// without touching the scheduler's reference count: that is the part of `spawn` that does
    /// not depend on `Success`.
    @usableFromInline
    static func makeOnCurrentScheduler(name: String?, detached: Bool = false) -> Fiber {
        guard let raw = CurrentScheduler.raw else {
            _ = Scheduler.requireCurrent(detached ? "Fiber.spawnDetached" : "Fiber.spawn")
            fatalError()
        }
        // Guaranteed (unretained) use: the scheduler outlives every fiber it runs.
        return Unmanaged<Scheduler>.fromOpaque(raw)._withUnsafeGuaranteedRef { make(name: name, scheduler: $0) }
    }

    /// Queues this freshly made fiber on its scheduler (see `Scheduler.start`).
    @usableFromInline
    final func start() {
        Unmanaged.passUnretained(scheduler)._withUnsafeGuaranteedRef { $0.start(self) }
    }

    /// Lets every other runnable fiber run once, then continues. Returns at once when no other
    /// fiber is runnable. Cost: one context switch (~tens of ns), no system call.
    public static func yield() {
        guard let raw = CurrentScheduler.raw else { _ = Scheduler.requireCurrent("Fiber.yield()"); return }
        // Guaranteed (unretained) use: the scheduler outlives every fiber it runs.
        Unmanaged<Scheduler>.fromOpaque(raw)._withUnsafeGuaranteedRef { scheduler in
            guard let core = scheduler.currentCore else { notInFiber("Fiber.yield()") }
            scheduler.yield(core)
        }
    }

    /// Parks the calling fiber for `duration`. Throws `CancellationError` if the fiber is
    /// cancelled first. Zero or negative durations yield once.
    public static func sleep(for duration: Duration) throws {
        try sleep(until: .now + duration)
    }

    /// Parks the calling fiber until `deadline` (monotonic clock). Throws `CancellationError`
    /// if the fiber is cancelled first. Cost: O(log n) timer insertion, no system call.
    public static func sleep(until deadline: Deadline) throws {
        let core = currentCore("Fiber.sleep")
        if core.pointee.cancelRequested { throw CancellationError() }
        if deadline <= .now {
            yield()
            return
        }
        let reason = core.scheduler._withUnsafeGuaranteedRef { scheduler in
            scheduler.addTimer(core, deadline: deadline)
            return scheduler.park(core, cancellable: true, for: .sleep)
        }
        if reason == .cancelled { throw CancellationError() }
    }

    /// Throws `CancellationError` when the running fiber was cancelled. Cost: two loads.
    public static func checkCancellation() throws {
        if isCancelled { throw CancellationError() }
    }

    /// True when the running fiber was cancelled (false outside fibers).
    public static var isCancelled: Bool {
        guard let raw = CurrentScheduler.raw,
              let core = Unmanaged<Scheduler>.fromOpaque(raw)._withUnsafeGuaranteedRef({ $0.currentCore }) else { return false }
        return core.pointee.cancelRequested
    }

    /// The suspension primitive every blocking operation is built on: parks the running fiber
    /// until some code on its scheduler calls `Scheduler.unpark(_:with:)` (or the deadline
    /// passes: `.timedOut`; or, if `cancellable`, it is cancelled: `.cancelled`).
    /// Before calling, make the fiber findable by its waker (a wait queue, an I/O table).
    /// `reason` is what a fiber dump shows it waiting for (one byte stored).
    package static func park(cancellable: Bool, deadline: Deadline? = nil, for reason: FiberWaitReason = .other) -> WakeReason {
        park(currentCore("Fiber.park"), cancellable: cancellable, deadline: deadline, for: reason)
    }

    /// `park` for the running fiber's `core` (already looked up by the caller).
    @inline(__always)
    package static func park(_ core: CorePointer, cancellable: Bool, deadline: Deadline?,
                             for reason: FiberWaitReason = .other) -> WakeReason {
        core.scheduler._withUnsafeGuaranteedRef { scheduler in
            if let deadline { scheduler.addTimer(core, deadline: deadline) }
            return scheduler.park(core, cancellable: cancellable, for: reason)
        }
    }
}
