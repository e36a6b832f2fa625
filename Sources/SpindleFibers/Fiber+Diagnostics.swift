import SpindleMemory

// What the running fiber tells the diagnostics about itself, cheaply enough for every request:
// what it serves (for the CPU-hog watchdog's capture), and whether its stack went deep (the
// 75% warning). Both go through its stack's line of the pool's side table.
extension Fiber {
    /// Records `bytes` (an HTTP request's head, say) as what the running fiber serves now: the
    /// watchdog's capture of a fiber that runs too long shows their first line. The bytes must
    /// stay readable while the fiber serves them; the record is cleared at its stack's next
    /// spawn. Cost: a thread-local load and two stores; nothing outside a fiber.
    @inline(__always)
    package static func recordServing(_ bytes: UnsafeRawBufferPointer) {
        guard let raw = CurrentScheduler.raw,
              let core = Unmanaged<Scheduler>.fromOpaque(raw)._withUnsafeGuaranteedRef({ $0.currentCore }) else { return }
        StackPool.setSubject(core.pointee.stack, bytes)
    }

    /// The running fiber's stack use, the first time it has passed 75% of its stack (then
    /// measured, and remembered for that stack until its pages go back to the kernel); nil
    /// otherwise, and outside fibers. Cost: a thread-local load and one load from the stack
    /// (see `StackPool.probablyPassedWarningLine`); a `mincore` and a scan the first time.
    @inline(__always)
    package static func stackPassedWarningLine() -> (highWaterBytes: Int, stackBytes: Int)? {
        guard let raw = CurrentScheduler.raw,
              let core = Unmanaged<Scheduler>.fromOpaque(raw)._withUnsafeGuaranteedRef({ $0.currentCore }) else { return nil }
        let stack = core.pointee.stack
        guard StackPool.probablyPassedWarningLine(stack) else { return nil }
        return firstPassOfWarningLine(stack, scheduler: Unmanaged<Scheduler>.fromOpaque(raw))
    }

    /// The slow part of `stackPassedWarningLine`: nil when this stack was reported already.
    @inline(never)
    static func firstPassOfWarningLine(_ stack: FiberStack, scheduler: Unmanaged<Scheduler>) -> (highWaterBytes: Int, stackBytes: Int)? {
        scheduler._withUnsafeGuaranteedRef { scheduler in
            guard !scheduler.stacks.wasWarned(stack) else { return nil }
            scheduler.stacks.markWarned(stack)
            return (scheduler.stacks.measureHighWater(stack), stack.size)
        }
    }
}
