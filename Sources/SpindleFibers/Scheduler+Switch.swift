internal import CSpindle
import SpindleMemory
import Synchronization

// The only file that switches stacks (`grep spindle_jump`). Every switch follows one protocol:
//
//  1. The side leaving records its core in `switchingFrom` (nil means the scheduler loop) and
//     whether it has finished, swaps its exclusivity access set out (fibers only), sets
//     `currentCore` to the side arriving, and jumps.
//  2. The side arriving — returning from its own earlier jump, or a new fiber entering through
//     `fiberEntry` — calls `arrived(_:)` with the context the jump handed over: it is stored in
//     the fiber (or loop) that left, or, when that fiber has finished, its stack goes back to
//     the pool (or stays with the object, kept for the next spawn) and the scheduler's reference
//     to it is dropped. A finished fiber's stack is therefore reused only after nobody runs on
//     it any more.
//  3. A fiber arriving swaps its exclusivity access set back in.
//
// In a build with AddressSanitizer every jump goes through `spindle_jump_announced` (switch.c),
// which tells ASan which stack is entered, and `makeContext` clears the stale poison of earlier
// fibers' frames on a reused stack before a new fiber gets it; otherwise those checks report
// frames of one stack as overflows of another.
//
// Invariants: a suspended context is resumed exactly once (fibers reach the run queue only
// through `start` or `unpark`, which requires `.parked`, or by queueing themselves in `yield`);
// no Swift access (inout/modify) is open across a jump in this file; the fiber trampoline holds
// no strong reference when it leaves for good. The hot path works on `FiberCore` pointers so
// that a switch does no reference counting.

/// A suspended stack's saved state (boost.context's `fcontext_t`): a pointer into that stack.
typealias FiberContext = spindle_fcontext_t
/// A fresh context captured once per scheduler and copied for each new fiber.
typealias ContextTemplate = spindle_context_template_t

extension Scheduler {
    /// Where Swift's runtime keeps this thread's exclusivity access-set head (located and
    /// verified by observation, see CSpindle/exclusivity.c), or nil when it cannot be proven.
    static func locateExclusivityHead() -> UnsafeMutablePointer<UnsafeMutableRawPointer?>? {
        spindle_exclusivity_locate_head()
    }

    /// Prepares a fresh context that will enter `fiberEntry` on `stack`: a copy of the
    /// scheduler's captured template (CSpindle/context.c), or `make_fcontext` when the template
    /// could not be captured.
    @inline(__always)
    func makeContext(on stack: FiberStack) -> FiberContext {
        if _slowPath(announcesSwitches) { spindle_fiber_stack_prepared_announced(stack.top - stack.size, stack.size) }
        if contextTemplate.pointee.size != 0 { return spindle_context_from_template(contextTemplate, stack.top) }
        return spindle_make_context(stack.top, stack.size, fiberEntry)!
    }

    /// Whether this build runs under AddressSanitizer (C code sees the flag; Swift does not).
    static func addressSanitizerIsActive() -> Bool { spindle_address_sanitizer_active() != 0 }

    /// Jumps to `target`, the context of `fiber` (nil: the loop, on the thread's own stack),
    /// handing over this scheduler. Announces the switch to AddressSanitizer in a build with it
    /// (the fiber's stack bounds are read only then).
    @inline(__always)
    func jump(to target: FiberContext, of fiber: CorePointer?, leavingForGood: Bool = false) -> spindle_transfer_t {
        let data = Unmanaged.passUnretained(self).toOpaque()
        guard _slowPath(announcesSwitches) else { return spindle_jump(target, data) }
        return Self.jumpAnnounced(to: target, data: data, stack: fiber?.pointee.stack, leavingForGood: leavingForGood)
    }

    /// `jump` in a build with AddressSanitizer (out of line: normal builds never come here).
    @inline(never)
    static func jumpAnnounced(to target: FiberContext, data: UnsafeMutableRawPointer, stack: FiberStack?,
                              leavingForGood: Bool) -> spindle_transfer_t {
        spindle_jump_announced(target, data, stack.map { UnsafeRawPointer($0.top - $0.size) }, stack?.size ?? 0,
                               leavingForGood ? 1 : 0)
    }

    /// A template of the fresh context `makeContext` copies, captured on the calling thread.
    static func captureContextTemplate() -> UnsafeMutablePointer<ContextTemplate> {
        let template = UnsafeMutablePointer<ContextTemplate>.allocate(capacity: 1)
        spindle_context_template_init(template, fiberEntry)
        return template
    }

    /// Suspends the running fiber (already marked parked, or queued as runnable) and resumes
    /// the next runnable fiber directly, or the loop when the queue is empty or the switch
    /// budget is spent. Returns when `core`'s fiber is resumed.
    @inline(__always)
    func switchAway(from core: CorePointer) {
        var next: CorePointer? = nil
        if switchesLeft > 0, let first = runQueue.popFirst() {
            switchesLeft &-= 1
            if first == core {  // it yielded and nobody else is runnable
                core.pointee.state = .running
                return
            }
            next = first
        }
        transfer(from: core, to: next)
    }

    /// `Fiber.yield()` for the running fiber `core`: queues it behind the other runnable fibers
    /// and resumes the first of them (or the loop when the switch budget is spent); returns at
    /// once when no other fiber is runnable. The next fiber is taken *before* `core` is queued,
    /// so the queue's links are read without waiting on the store that queues `core`.
    @inline(__always)
    func yield(_ core: CorePointer) {
        var next: CorePointer? = nil
        if switchesLeft > 0 {
            // Spent even when nobody else runs, so a yield loop still lets the loop in (timers, I/O).
            switchesLeft &-= 1
            guard let first = runQueue.popFirst() else { return }
            next = first
        }
        core.pointee.state = .runnable
        runQueue.append(core)
        transfer(from: core, to: next)
    }

    /// Step 1 of the protocol for a fiber that stays alive: switches from `core` to `next`, or to
    /// the loop when `next` is nil. Returns when `core`'s fiber is resumed.
    @inline(__always)
    private func transfer(from core: CorePointer, to next: CorePointer?) {
        var target = loopContext
        if let next {
            next.pointee.state = .running
            target = next.pointee.context
        }
        leave(core)
        switchingFrom = core
        switchingFromFinished = false
        currentCore = next
        let transfer = jump(to: target.unsafelyUnwrapped, of: next)
        arrived(transfer.fctx)
        enter(core)
    }

    /// Resumes `core`'s fiber from the scheduler loop; returns when control comes back.
    func resumeFromLoop(_ core: CorePointer) {
        switchingFrom = nil
        switchingFromFinished = false
        currentCore = core
        core.pointee.state = .running
        let transfer = jump(to: core.pointee.context.unsafelyUnwrapped, of: core)
        arrived(transfer.fctx)
    }

    /// Step 2 of the protocol, on the side that was just resumed.
    @inline(__always)
    func arrived(_ context: spindle_fcontext_t?) {
        // The one store per switch that a watchdog samples (see `switches`).
        switchCount.store(switchCount.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        guard let from = switchingFrom else {
            loopContext = context
            return
        }
        if switchingFromFinished {
            switchingFrom = nil
            switchingFromFinished = false
            recycleOrRelease(from)  // drops the reference taken in `start`
        } else {
            from.pointee.context = context
        }
    }

    /// True when swapping the exclusivity access set would move nothing: the fiber has no saved
    /// accesses and the thread has no active ones (then exit/enter are no-ops in the runtime).
    @inline(__always)
    func exclusivitySwapIsEmpty(_ core: CorePointer) -> Bool {
        guard let head = accessSetHead else { return false }
        return head.pointee == nil && core.pointee.exclusivity.0 | core.pointee.exclusivity.1 == 0
    }

    /// Swaps the fiber's exclusivity access set back in.
    @inline(__always)
    func enter(_ core: CorePointer) {
        if !exclusivitySwapIsEmpty(core) {
            swift_task_enterThreadLocalContext(core.exclusivityState)
        }
    }

    /// Swaps the fiber's exclusivity access set out, and checks its stack canary.
    @inline(__always)
    func leave(_ core: CorePointer) {
        if !exclusivitySwapIsEmpty(core) {
            swift_task_exitThreadLocalContext(core.exclusivityState)
        }
        if let canary = core.pointee.stack.canaryWord, _slowPath(canary.pointee != StackPool.canaryValue) {
            let fiber = core.pointee.fiber.takeUnretainedValue()
            spindle_overflow_report(fiber.id, core.pointee.stack.size + StackPool.controlSize, "the canary below the stack was overwritten")
        }
    }

    // A new fiber's life on its own stack is three calls made one after another from
    // `fiberEntry`, not nested, so that only the frame of the one running at a time sits below
    // the stack top: the body runs ~140 bytes below the top instead of ~300, which keeps each
    // fiber's share of the cache smaller when many are spawned at once.

    /// Steps 2 and 3 of the protocol for a fiber entering for the first time; returns its core.
    @inline(never)
    static func enterNewFiber(_ transfer: spindle_transfer_t) -> CorePointer {
        // Guaranteed (unretained) use: the scheduler outlives its fibers.
        Unmanaged<Scheduler>.fromOpaque(transfer.data!)._withUnsafeGuaranteedRef { scheduler in
            let core = scheduler.currentCore.unsafelyUnwrapped
            if _slowPath(scheduler.announcesSwitches) { spindle_fiber_arrived_announced() }
            scheduler.arrived(transfer.fctx)
            scheduler.enter(core)
            return core
        }
    }

    /// Runs the body of the fiber whose core is `core` (the running one).
    @inline(never)
    static func runBody(of core: CorePointer) {
        core.pointee.fiber._withUnsafeGuaranteedRef { $0.runBody() }
    }

    /// Finishes the running fiber `core`; returns the context to leave to for good.
    @inline(never)
    static func leaveFinishedFiber(_ core: CorePointer, scheduler: UnsafeMutableRawPointer) -> spindle_fcontext_t {
        Unmanaged<Scheduler>.fromOpaque(scheduler)._withUnsafeGuaranteedRef { $0.finish(core) }
    }

    /// The finished fiber's last jump, to `next` (the context `leaveFinishedFiber` returned).
    @inline(never)
    static func leaveForGood(to next: spindle_fcontext_t, scheduler: UnsafeMutableRawPointer) {
        Unmanaged<Scheduler>.fromOpaque(scheduler)._withUnsafeGuaranteedRef { scheduler in
            _ = scheduler.jump(to: next, of: scheduler.currentCore, leavingForGood: true)
        }
    }

    /// Marks the fiber finished, wakes its joiners and picks who runs next. The stack is
    /// released by whoever arrives next (step 2), once we are off it.
    private func finish(_ core: CorePointer) -> spindle_fcontext_t {
        removeTimer(core)
        core.pointee.fiber._withUnsafeGuaranteedRef { fiber in
            fiber.finished = true
            fiber.cancelledWhenFinished = core.pointee.cancelRequested
            if let joiners = fiber.joiners { joiners.wakeAll(.ready) }
        }
        if core.pointee.locals != nil { core.pointee.locals = nil }
        liveFibers -= 1
        leave(core)
        switchingFrom = core
        switchingFromFinished = true
        if switchesLeft > 0, let next = runQueue.popFirst() {
            switchesLeft &-= 1
            currentCore = next
            next.pointee.state = .running
            return next.pointee.context.unsafelyUnwrapped
        }
        currentCore = nil
        return loopContext.unsafelyUnwrapped
    }
}

/// Entry point of every fiber's stack. Never returns: after the body it jumps away for good,
/// holding only a raw context (no references that would leak).
private let fiberEntry: @convention(c) (spindle_transfer_t) -> Void = { transfer in
    let core = Scheduler.enterNewFiber(transfer)
    Scheduler.runBody(of: core)
    let next = Scheduler.leaveFinishedFiber(core, scheduler: transfer.data!)
    Scheduler.leaveForGood(to: next, scheduler: transfer.data!)
    misuse("a finished fiber was resumed")
}
