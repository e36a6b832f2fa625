import SpindleMemory

/// A cooperative thread of execution with its own fixed-size stack, running on one
/// `Scheduler` (one OS thread) for its whole life. Fibers never migrate between threads.
///
/// Fibers are started with `Fiber.spawn`, and suspend only at explicit points — `Fiber.yield()`,
/// `Fiber.sleep`, channel/mutex/event waits, `join()`, and I/O — where only the fiber parks,
/// never the thread. A `Fiber` object is bound to its scheduler's thread: touching it from
/// another thread stops the process with a message saying what to use instead.
public final class Fiber {
    enum State: UInt8 {
        /// In the run queue, or created and not yet started.
        case runnable
        /// The fiber executing right now on its scheduler.
        case running
        /// Waiting for `Scheduler.unpark`.
        case parked
        /// Its body returned or threw; the stack went back to the pool.
        case finished
    }

    // Scheduler bookkeeping. All of it is touched only on the owning scheduler's thread.
    // `@exclusivity(unchecked)`: never accessed inside an inout/modify that spans a fiber
    // switch, and only on the owner thread, so the runtime's dynamic exclusivity checks could
    // never fire here; on the switch path they would cost ~10 ns per access.

    /// Unique in the process: the scheduler's number in the high 24 bits, a counter below.
    /// (A `var` only because finished, unreferenced fiber objects are recycled: see `recycle`.)
    @exclusivity(unchecked) public private(set) final var id: UInt64
    /// A name for diagnostics (overflow reports, dumps); nil unless given at spawn.
    @exclusivity(unchecked) public private(set) final var name: String?

    // The object holds only what must outlive the fiber's stack (identity, result, joiners) and
    // what `spawn` writes; the rest, stack included, is in its `FiberCore`. That keeps it at 128
    // bytes (one allocator size class, two cache lines): every parked fiber pays for it in RSS.

    @usableFromInline final unowned(unsafe) let scheduler: Scheduler
    /// The switch-path state, in the stack's control block; valid until the fiber finishes.
    @exclusivity(unchecked) final var core: CorePointer
    /// Fibers blocked in `join()` on this one (created on first join).
    @exclusivity(unchecked) final var joiners: WaitQueue? = nil
    /// Next object in the scheduler's list of recycled fibers (while this one is in it).
    @exclusivity(unchecked) final var nextRecycled: Unmanaged<Fiber>? = nil
    @exclusivity(unchecked) final var finished = false
    /// Whether it was cancelled, kept here once the core is gone (after finishing).
    @exclusivity(unchecked) final var cancelledWhenFinished = false
    /// Whether `storedValue` was ever set: lets `clearForReuse` skip destroying an empty `Any?`
    /// (a type-metadata lookup and a value-witness call) for the common `Void` fiber.
    @exclusivity(unchecked) final var hasValue = false
    /// Whether `storedValue` holds the error the body threw.
    @exclusivity(unchecked) final var failed = false

    @usableFromInline
    init(name: String?, scheduler: Scheduler) {
        // Allocation is the caller's; the stack comes from the scheduler's pool (O(1)).
        let stack = Self.takeStack(scheduler)
        self.id = scheduler.nextFiberID()
        self.name = name
        self.scheduler = scheduler
        self.core = stack.control.bindMemory(to: FiberCore.self, capacity: 1)
        // `self` is fully initialised here; the core points back at it unretained.
        FiberCore.initialize(core, for: self, stack: stack, scheduler: scheduler)
    }

    /// A fiber object ready to start on `scheduler`: a recycled one, with the warm stack it kept,
    /// when the scheduler has one (no allocation, no stack pool), else a new one with a stack from
    /// the pool. Either way it has a fresh id and core.
    @usableFromInline
    static func make(name: String?, scheduler: Scheduler) -> Fiber {
        guard let fiber = scheduler.takeRecycledFiber() else { return Fiber(name: name, scheduler: scheduler) }
        let stack = fiber.core.pointee.stack  // kept since it finished (Scheduler+Recycling)
        fiber.id = scheduler.nextFiberID()
        if name != nil || fiber.name != nil { fiber.name = name }
        fiber.finished = false
        fiber.cancelledWhenFinished = false
        FiberCore.initialize(fiber.core, for: fiber, stack: stack, scheduler: scheduler)
        return fiber
    }

    @inline(__always)
    private static func takeStack(_ scheduler: Scheduler) -> FiberStack {
        // Not zeroed: `FiberCore.initialize` writes every field of the control block it uses.
        guard let stack = scheduler.stacks.allocate(zeroingControl: false) else { scheduler.stacksExhausted() }
        return stack
    }

    /// Drops what a finished fiber still holds (its value or error, joiner queue) before the
    /// object is kept for reuse. Only called when nothing but the scheduler references the object.
    final func clearForReuse() {
        if hasValue {
            storedValue = nil
            hasValue = false
            failed = false
        }
        if joiners != nil { joiners = nil }
    }

    /// The fiber's life-cycle state.
    final var state: State {
        @inline(__always) get { finished ? .finished : core.pointee.state }
    }

    /// The fiber's body. `Fiber.spawn` stores a `Void` body as is and wraps any other so it
    /// stores its value in `value`. Moved out (not copied) when it runs, so its captures are
    /// released as soon as it returns.
    @usableFromInline @exclusivity(unchecked) final var entry: (() throws -> Void)? = nil
    /// The body's return value (nil for `Void` bodies); type-erased so that `Fiber` is not
    /// generic — a generic class's deinit looks up generic metadata at run time (~70 ns).
    @usableFromInline final var value: Any? {
        get { hasValue && !failed ? storedValue : nil }
        set {
            storedValue = newValue
            hasValue = true
        }
    }
    /// The error the body threw, if any.
    final var failure: (any Error)? {
        failed ? storedValue.map { $0 as! any Error } : nil
    }
    /// The body's value, or the error it threw when `failed` (one slot for both saves a word).
    @exclusivity(unchecked) final var storedValue: Any? = nil

    /// Runs the fiber's body once. Small on purpose: its frame is what the body runs under.
    final func runBody() {
        guard let body = entry.take() else { return }
        do { try body() } catch { recordFailure(error) }
    }

    /// Keeps the error the body threw for `join()` (out of line: boxing it takes stack space).
    @inline(never)
    final func recordFailure(_ error: any Error) {
        storedValue = error
        hasValue = true
        failed = true
    }

    /// True once the body has returned or thrown.
    public final var isFinished: Bool { finished }

    /// True once `cancel()` was called on this fiber.
    public final var isCancelled: Bool { finished ? cancelledWhenFinished : core.pointee.cancelRequested }

    /// Requests cancellation: the fiber's current or next cancellable wait (sleep, channel
    /// operations, `join`, I/O) throws `CancellationError`. Cooperative: a fiber that never
    /// waits or checks `Fiber.checkCancellation()` runs on. Must be called on the fiber's
    /// scheduler thread (from another thread, use `Scheduler.submit`). Cost: O(1), no allocation.
    public final func cancel() {
        scheduler.assertOnThread("Fiber.cancel()")
        guard !finished, !core.pointee.cancelRequested else { return }
        core.pointee.cancelRequested = true
        if core.pointee.state == .parked && core.pointee.parkIsCancellable {
            scheduler.unpark(core, with: .cancelled)
        }
    }
}

extension Fiber: CustomStringConvertible {
    /// `Fiber #7 "worker" (parked)`.
    public var description: String {
        "Fiber #\(id)" + (name.map { " \"\($0)\"" } ?? "") + " (\(state))"
    }
}

