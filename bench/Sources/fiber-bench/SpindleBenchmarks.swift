import CFiberBench
import SpindleFibers

/// Benchmarks of Spindle's scheduler, each run inside its own `Scheduler.run` with the default
/// configuration (256 KiB stacks, switch budget 64, stacks from `SPINDLE_*` if set).
enum SpindleBenchmarks {
    /// (c) Two fibers that only `Fiber.yield()`: every yield switches to the other fiber.
    /// Returns ns per switch (total yields; the scheduler loop's own turn every
    /// `switchBudget` switches is included in the time, as in real use).
    static func yieldSwitch(yieldsPerFiber n: Int, repetitions: Int) -> Samples {
        Scheduler.run {
            repeatedly(repetitions) {
                let start = bench_now_ns()
                let a = Fiber.spawn { for _ in 0..<n { Fiber.yield() } }
                let b = Fiber.spawn { for _ in 0..<n { Fiber.yield() } }
                try! a.join()
                try! b.join()
                return nsPerOperation(since: start, operations: 2 * n)
            }
        }
    }

    /// (g) Two fibers bouncing a value over two `Channel(capacity: 1)`s. Each round trip is two
    /// switches (ping parks in `receive`, pong parks in `receive`). Returns ns per switch.
    static func channelPingPong(roundTrips n: Int, repetitions: Int) -> Samples {
        Scheduler.run {
            repeatedly(repetitions) {
                let ping = Channel<Int>(capacity: 1)
                let pong = Channel<Int>(capacity: 1)
                let start = bench_now_ns()
                let a = Fiber.spawn {
                    for i in 0..<n {
                        try ping.send(i)
                        _ = try pong.receive()
                    }
                }
                let b = Fiber.spawn {
                    for _ in 0..<n { try pong.send(try ping.receive()!) }
                }
                try! a.join()
                try! b.join()
                return nsPerOperation(since: start, operations: 2 * n)
            }
        }
    }

    /// Fibers spawned per batch in the spawn benchmark (then one yield lets them all run).
    static let spawnBatch = 1000

    /// Spawns `batches` × `spawnBatch` empty fibers: spawn a batch, yield once so each runs and
    /// finishes (FIFO: the yielding fiber comes back after all of them). Stacks come from the
    /// warm pool after the first batch. Stops if any fiber of a batch did not finish.
    /// `detached`: `Fiber.spawnDetached` (no handle, like `go f()`); else `Fiber.spawn` with the
    /// handle dropped at once.
    static func spawnBatches(_ batches: Int, detached: Bool = false) {
        for _ in 0..<batches {
            if detached {
                for _ in 0..<spawnBatch { Fiber.spawnDetached {} }
            } else {
                for _ in 0..<spawnBatch { Fiber.spawn {} }
            }
            Fiber.yield()
            let scheduler = Scheduler.current!
            precondition(scheduler.liveFibers == 1, "spawn benchmark: \(scheduler.liveFibers - 1) fibers still alive after the batch yield")
        }
    }

    /// (f) Spawn + first run + finish of a trivial fiber, amortised over `batches` batches.
    /// Returns ns per fiber.
    static func spawnFinish(batches: Int, detached: Bool, repetitions: Int) -> Samples {
        Scheduler.run {
            repeatedly(repetitions) {
                let start = bench_now_ns()
                spawnBatches(batches, detached: detached)
                return nsPerOperation(since: start, operations: batches * spawnBatch)
            }
        }
    }

    /// The loop `strace` watches: two warm-up batches (the pool maps its stacks, malloc warms
    /// up), then `batches` measured batches. Run with 0 and with N batches; the difference in
    /// system calls is what the measured spawns cost.
    static func spawnOnly(batches: Int) {
        Scheduler.run {
            spawnBatches(2, detached: true)
            spawnBatches(batches, detached: true)
        }
    }
}
