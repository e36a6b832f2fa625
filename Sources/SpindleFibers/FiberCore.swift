import SpindleMemory

/// Everything the scheduler's hot paths touch about a fiber — switching, the run queue, wait
/// queues, timers, parking and cancellation — kept at a fixed address in the control block at
/// the top of the fiber's own stack (the page the fiber touches first anyway). Pointers to it
/// are what the scheduler traffics in: no allocation, no reference counting, no dynamic
/// exclusivity checks on the way through a switch or a wake-up.
///
/// Invariant: valid from spawn until the fiber's stack is released after it finished; only the
/// owning scheduler's thread reads or writes it. `exclusivity` must stay the first field: its
/// address is handed to Swift's runtime as the fiber's access-set save area.
/// (`@usableFromInline`, and `CorePointer`: `Fiber+Diagnostics` is inlined into the HTTP layer.)
@usableFromInline
package struct FiberCore {
    /// Swift's exclusivity access-set save area (SPINDLE_EXCLUSIVITY_STATE_SIZE bytes, zeroed).
    var exclusivity: (UInt64, UInt64) = (0, 0)
    /// The saved machine context while suspended.
    var context: FiberContext? = nil
    /// Next fiber in the run queue.
    var runNext: CorePointer? = nil
    /// The fiber object (unretained: the scheduler holds a reference until the fiber finishes).
    var fiber: Unmanaged<Fiber>
    /// The fiber's stack (this control block sits at its top); its canary word, when it has
    /// no guard page, is checked at every switch-out. Released by whoever runs after the fiber
    /// finished (see Scheduler+Switch), so it is kept here, not in the `Fiber` object.
    /// (`@usableFromInline`: the per-request diagnostics of `Fiber+Diagnostics` are inlined
    /// into the HTTP layer.)
    @usableFromInline var stack: FiberStack
    /// The wait queue this fiber is parked in, and its neighbours there.
    var waitQueue: Unmanaged<WaitQueue>? = nil
    var waitPrev: CorePointer? = nil
    var waitNext: CorePointer? = nil
    /// Deadline of the pending timer and its index in the scheduler's timer heap (-1: none).
    var timerDeadline: UInt64 = 0
    var timerIndex: Int = -1
    var state: Fiber.State = .runnable
    /// Why the last park ended.
    var wakeReason: WakeReason = .ready
    /// Whether the current park may be ended by `cancel()`.
    var parkIsCancellable = false
    var cancelRequested = false
    /// What the fiber waits for while parked (written by every park; in the padding before
    /// `locals`, so the control block keeps its size).
    var waitReason: FiberWaitReason = .other
    /// The pages below the stack pointer were given back since the fiber last parked
    /// (`Scheduler.releaseParkedStackPages`); every park clears it. (In the same padding.)
    var stackPagesReleased = false
    /// `FiberLocal` values (created on first write; released when the fiber finishes). A strong
    /// reference in raw memory: `Scheduler.finish` sets it to nil before the stack is reused.
    var locals: [ObjectIdentifier: Any]? = nil
}

/// A fiber core pointer; the scheduler's hot paths traffic in these instead of references.
@usableFromInline
package typealias CorePointer = UnsafeMutablePointer<FiberCore>

extension FiberCore {
    /// Initialises `core` (the control block of `stack`) for `fiber`, with a fresh context
    /// that enters the fiber trampoline on `stack` (made by `scheduler`, the fiber's).
    @inline(__always)
    static func initialize(_ core: CorePointer, for fiber: Fiber, stack: FiberStack, scheduler: Scheduler) {
        assert(MemoryLayout<FiberCore>.size <= StackPool.controlSize, "FiberCore outgrew the stack control block")
        core.initialize(to: FiberCore(context: scheduler.makeContext(on: stack), fiber: .passUnretained(fiber),
                                      stack: stack))
    }
}

extension UnsafeMutablePointer where Pointee == FiberCore {
    /// The exclusivity save area, as the runtime wants it.
    @inline(__always)
    var exclusivityState: UnsafeMutablePointer<CChar> {
        UnsafeMutableRawPointer(self).assumingMemoryBound(to: CChar.self)
    }

    /// True once the fiber was asked to cancel.
    @inline(__always)
    package var isCancelRequested: Bool { pointee.cancelRequested }

    /// The fiber's scheduler (unretained: it outlives its fibers).
    @inline(__always)
    package var scheduler: Unmanaged<Scheduler> {
        pointee.fiber._withUnsafeGuaranteedRef { .passUnretained($0.scheduler) }
    }
}
