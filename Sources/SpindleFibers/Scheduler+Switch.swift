import CSpindle
import SpindleMemory

// The only file that switches stacks (`grep spindle_jump`). Every switch follows one protocol:
//
//  1. The side leaving records itself in `switchingFrom` (nil means the scheduler loop) and
//     whether it has finished, swaps its exclusivity access set out (fibers only), sets
//     `current` to the side arriving, and jumps.
//  2. The side arriving — returning from its own earlier jump, or a new fiber entering through
//     `fiberEntry` — calls `arrived(_:)` with the context the jump handed over: it is stored in
//     the fiber (or loop) that left, or, when that fiber has finished, its stack goes back to
//     the pool and the scheduler's reference to it is dropped. A finished fiber's stack is
//     therefore recycled only after nobody runs on it any more.
//  3. A fiber arriving swaps its exclusivity access set back in.
//
// Invariants: a suspended context is resumed exactly once (fibers reach the run queue only
// through `unpark`, which requires `.parked`); no Swift access (inout/modify) is open across a
// jump in this file; the fiber trampoline holds no strong reference when it leaves for good.

extension Scheduler {
    /// Prepares a fresh context that will enter `fiberEntry` on `stack`.
    static func makeContext(on stack: FiberStack) -> spindle_fcontext_t {
        spindle_make_context(stack.top, stack.size, fiberEntry)!
    }

    /// Suspends the running `fiber` (already marked parked or queued as runnable) and resumes
    /// the next runnable fiber directly, or the loop when the queue is empty or the switch
    /// budget is spent. Returns when `fiber` is resumed.
    @inline(__always)
    func switchAway(from fiber: Fiber) {
        var next: Fiber? = nil
        if switchesLeft > 0, let first = runQueue.popFirst() {
            switchesLeft &-= 1
            if first === fiber {  // it yielded and nobody else is runnable
                fiber.state = .running
                return
            }
            next = first
        }
        leave(fiber)
        switchingFrom = fiber
        switchingFromFinished = false
        current = next
        let target: spindle_fcontext_t
        if let next {
            next.state = .running
            target = next.context.unsafelyUnwrapped
        } else {
            target = loopContext.unsafelyUnwrapped
        }
        let transfer = spindle_jump(target, Unmanaged.passUnretained(self).toOpaque())
        arrived(transfer.fctx)
        enter(fiber)
    }

    /// Resumes `fiber` from the scheduler loop; returns when control comes back to the loop.
    func resumeFromLoop(_ fiber: Fiber) {
        switchingFrom = nil
        switchingFromFinished = false
        current = fiber
        fiber.state = .running
        let transfer = spindle_jump(fiber.context.unsafelyUnwrapped, Unmanaged.passUnretained(self).toOpaque())
        arrived(transfer.fctx)
    }

    /// Step 2 of the protocol, on the side that was just resumed.
    @inline(__always)
    func arrived(_ context: spindle_fcontext_t?) {
        switches &+= 1
        guard let from = switchingFrom else {
            loopContext = context
            return
        }
        if switchingFromFinished {
            switchingFrom = nil
            switchingFromFinished = false
            from.context = nil
            stacks.release(from.stack)
            Unmanaged.passUnretained(from).release()  // the retain taken in spawn
        } else {
            from.context = context
        }
    }

    /// Swaps the fiber's exclusivity access set out, and checks its stack canary.
    @inline(__always)
    func leave(_ fiber: Fiber) {
        let control = fiber.stack.control.assumingMemoryBound(to: CChar.self)
        swift_task_exitThreadLocalContext(control)
        if !fiber.stack.isIntact {
            spindle_overflow_report(fiber.id, fiber.stack.size, "the canary below the stack was overwritten")
        }
    }

    /// Swaps the fiber's exclusivity access set back in.
    @inline(__always)
    func enter(_ fiber: Fiber) {
        swift_task_enterThreadLocalContext(fiber.stack.control.assumingMemoryBound(to: CChar.self))
    }

    /// Body of every fiber: runs on the fiber's own stack. Returns the context to leave to.
    @inline(never)
    static func runFiber(_ transfer: spindle_transfer_t) -> spindle_fcontext_t {
        let scheduler = Unmanaged<Scheduler>.fromOpaque(transfer.data!).takeUnretainedValue()
        scheduler.arrived(transfer.fctx)
        let fiber = scheduler.current.unsafelyUnwrapped
        scheduler.enter(fiber)
        fiber.runBody()
        return scheduler.finish(fiber)
    }

    /// Marks `fiber` finished, wakes its joiners and picks who runs next. The stack is released
    /// by whoever arrives next (step 2), once we are off it.
    private func finish(_ fiber: Fiber) -> spindle_fcontext_t {
        fiber.state = .finished
        liveFibers -= 1
        removeTimer(fiber)
        fiber.joiners?.wakeAll(.ready)
        fiber.locals = nil
        leave(fiber)
        switchingFrom = fiber
        switchingFromFinished = true
        if switchesLeft > 0, let next = runQueue.popFirst() {
            switchesLeft &-= 1
            current = next
            next.state = .running
            return next.context.unsafelyUnwrapped
        }
        current = nil
        return loopContext.unsafelyUnwrapped
    }
}

/// Entry point of every fiber's stack. Never returns: after the body it jumps away for good,
/// holding only a raw context (no references that would leak).
private let fiberEntry: @convention(c) (spindle_transfer_t) -> Void = { transfer in
    let next = Scheduler.runFiber(transfer)
    _ = spindle_jump(next, transfer.data)
    preconditionFailure("a finished fiber was resumed")
}
