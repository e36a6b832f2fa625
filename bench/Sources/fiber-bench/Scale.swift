// Switch cost as the run queue grows: `fiber-bench round-robin N [ROUNDS]` (one line).
//
// N fibers and the measuring fiber take turns through the scheduler's FIFO run queue, each
// calling `Fiber.yield()` once per round. With N in the millions every switch lands on a stack
// and a `Fiber` object that left the caches (and the TLB) a whole round ago, so the ns per
// switch here, compared with the two-fiber `yield` row, shows what a large run queue costs.
// Used by `make -C bench scale` (bench/scale/scale.py), one fresh process per size.
import CFiberBench
import SpindleFibers
import SpindleMemory

enum RoundRobin {
    /// Timed yields per size when ROUNDS is not given: enough rounds that small N still run for
    /// tens of milliseconds, and at least three rounds for the largest N.
    static let targetSwitches = 4_000_000
    static let minimumRounds = 3

    static func defaultRounds(fibers: Int) -> Int {
        max(minimumRounds, targetSwitches / max(1, fibers))
    }

    /// Spawns `count` fibers that yield `rounds + 1` times each. The measuring fiber yields once
    /// unmeasured (every fiber runs to its first yield: spawn, first touch of its stack), then
    /// `rounds` times under the clock; FIFO order makes each of its yields one full round of
    /// `count + 1` switches. Returns the line
    /// `round-robin <fibers> <rounds> <switches> <ns> <rss-bytes> <pte-bytes>`, where the last two
    /// are VmRSS/VmPTE growth from before the first spawn to the end of the timed rounds.
    static func line(count: Int, rounds: Int) -> String {
        Scheduler.run {
            let scheduler = Scheduler.current!
            let before = ProcessMemory.current()
            for _ in 0..<count {
                Fiber.spawn { for _ in 0...rounds { Fiber.yield() } }
            }
            Fiber.yield()  // warm-up round
            precondition(scheduler.liveFibers == count + 1, "round-robin: only \(scheduler.liveFibers - 1) of \(count) fibers are alive")
            let start = bench_now_ns()
            for _ in 0..<rounds { Fiber.yield() }
            let elapsed = bench_now_ns() - start
            let after = ProcessMemory.current()
            // Each fiber still owes the resume from its last yield; Scheduler.run waits for it.
            return "round-robin \(count) \(rounds) \(rounds * (count + 1)) \(elapsed) "
                + "\(after.residentBytes - before.residentBytes) \(after.pageTableBytes - before.pageTableBytes)"
        }
    }
}
