import SpindleMemory

// What a running fiber tells the diagnostics about itself, cheaply enough for every request:
// what it serves (for the CPU-hog watchdog's capture), and whether its stack went deep (the
// 75% warning). Both go through its stack's line of the pool's side table, reached from the
// fiber's core, which the caller looks up once (`Fiber.currentCore`) and keeps for all the
// requests the fiber serves.
extension Fiber {
    /// Records `bytes` (an HTTP request's head, say) as what the fiber of `core` serves now: the
    /// watchdog's capture of a fiber that runs too long shows their first line. The bytes must
    /// stay readable while the fiber serves them; the record is cleared at its stack's next
    /// spawn. Call from that fiber. Cost: a load and two stores, inlined into the caller.
    @inlinable
    package static func recordServing(_ bytes: UnsafeRawBufferPointer, in core: CorePointer) {
        StackPool.setSubject(core.pointee.stack, bytes)
    }

    /// The stack use of the fiber of `core`, the first time it has passed 75% of its stack (then
    /// measured, and remembered for that stack until its pages go back to the kernel); nil
    /// otherwise. Call from that fiber. Cost: the loads of one line of its stack (see
    /// `StackPool.probablyPassedWarningLine`), inlined into the caller; a `mincore` and a scan
    /// the first time.
    @inlinable
    package static func stackPassedWarningLine(in core: CorePointer) -> (highWaterBytes: Int, stackBytes: Int)? {
        guard StackPool.probablyPassedWarningLine(core.pointee.stack) else { return nil }
        return firstPassOfWarningLine(core)
    }

    /// The slow part of `stackPassedWarningLine`: nil when this stack was reported already.
    @usableFromInline @inline(never)
    static func firstPassOfWarningLine(_ core: CorePointer) -> (highWaterBytes: Int, stackBytes: Int)? {
        let stack = core.pointee.stack
        return core.scheduler._withUnsafeGuaranteedRef { scheduler in
            guard !scheduler.stacks.wasWarned(stack) else { return nil }
            scheduler.stacks.markWarned(stack)
            return (scheduler.stacks.measureHighWater(stack), stack.size)
        }
    }
}
