import CFiberBench

/// The whole fiber suite (`fiber-bench all`): every benchmark measured in this one run, the
/// comparisons, and the issue's goals.
///
/// The in-process benchmarks and the Go peer run in fresh child processes, interleaved over
/// several rounds, and all their repetitions are pooled: on a shared VM the speed drifts over
/// tens of seconds, and interleaving exposes every row to the same drift instead of giving one
/// row a quiet stretch and its peer a noisy one.
struct Suite {
    /// Sizes of one run. Each repetition takes roughly 10–100 ms; with the defaults the whole
    /// suite (three 1M-fiber subprocesses included) takes about a minute and a half on a 2-core VM.
    struct Options {
        /// Rounds: each in-process benchmark and the Go peer run once per round, in a fresh process.
        var processes = 3
        /// Timed repetitions per process (after one warm-up).
        var repetitions = 5
        var rawRoundTrips = 5_000_000
        var exclusivityPairs = 10_000_000
        var yieldsPerFiber = 1_000_000
        var channelRoundTrips = 500_000
        var taskRoundTrips = 100_000
        var spawnBatches = 200
        /// Spawn batches (of `SpindleBenchmarks.spawnBatch`) in the run watched by strace.
        var stracedSpawnBatches = 1000
        var parkedCounts = [10_000, 100_000, 1_000_000]
        /// Sizes also run with a pool preallocated and prefaulted for every fiber.
        var prefaultedParkedCounts = [1_000_000]
        /// Fresh-process runs per parked size (medians reported).
        var parkedRuns = 3
        /// Path of the Go peer binary (nil: Go rows are skipped).
        var goPeer: String? = nil
        /// Tiny sizes for a smoke test (`--quick`); the numbers mean nothing.
        var quick = false

        mutating func makeQuick() {
            quick = true
            processes = 1
            repetitions = 1
            rawRoundTrips = 100_000
            exclusivityPairs = 100_000
            yieldsPerFiber = 10_000
            channelRoundTrips = 10_000
            taskRoundTrips = 1_000
            spawnBatches = 2
            stracedSpawnBatches = 10
            parkedCounts = [10_000]
            prefaultedParkedCounts = [10_000]
            parkedRuns = 1
        }
    }

    /// The benchmarks `fiber-bench one NAME` runs in-process, in suite order.
    static let inProcess = ["raw", "exclusivity", "yield", "channel", "spawn-detached", "spawn", "task", "task-unpinned"]

    var options: Options

    /// Runs one in-process benchmark by name (`fiber-bench one NAME`), or nil for an unknown name.
    static func single(_ name: String, options: Options) -> Samples? {
        let reps = options.repetitions
        switch name {
        case "raw": return repeatedly(reps) { bench_raw_switch_ns(UInt64(options.rawRoundTrips)) }
        case "exclusivity": return repeatedly(reps) { bench_exclusivity_pair_ns(UInt64(options.exclusivityPairs)) }
        case "yield": return SpindleBenchmarks.yieldSwitch(yieldsPerFiber: options.yieldsPerFiber, repetitions: reps)
        case "channel": return SpindleBenchmarks.channelPingPong(roundTrips: options.channelRoundTrips, repetitions: reps)
        case "spawn-detached":
            return SpindleBenchmarks.spawnFinish(batches: options.spawnBatches, detached: true, repetitions: reps)
        case "spawn": return SpindleBenchmarks.spawnFinish(batches: options.spawnBatches, detached: false, repetitions: reps)
        case "task": return TaskPingPong.run(roundTrips: options.taskRoundTrips, repetitions: reps)
        case "task-unpinned":
            // The default executor as a user runs it: its threads may use every CPU.
            guard bench_unpin() > 0 else { fputsStderr("fiber-bench: could not unpin the Task peer"); return nil }
            return TaskPingPong.run(roundTrips: options.taskRoundTrips, repetitions: reps)
        default: return nil
        }
    }

    /// Runs everything, printing progress to stderr, and returns the report.
    func run() -> Report {
        var pooled: [String: Samples] = [:]
        for round in 1...options.processes {
            progress("round \(round)/\(options.processes): \(Self.inProcess.joined(separator: ", ")), Go peer")
            for name in Self.inProcess {
                if let samples = Peers.one(name, options: options) { pooled[name, default: Samples()].append(contentsOf: samples) }
            }
            if let path = options.goPeer, let go = Peers.go(path: path, options: options) {
                for (name, samples) in go { pooled["go-" + name, default: Samples()].append(contentsOf: samples) }
            }
        }
        progress("system calls of the spawn loop (strace)")
        let base = Peers.syscalls(spawnBatches: 0)
        let loaded = Peers.syscalls(spawnBatches: options.stracedSpawnBatches)
        var parked: [Parked.Summary] = []
        for count in options.parkedCounts {
            progress("\(count) parked fibers (\(options.parkedRuns) fresh processes)")
            if let summary = Peers.parked(count: count, runs: options.parkedRuns) { parked.append(summary) }
        }
        for count in options.prefaultedParkedCounts {
            progress("\(count) parked fibers, pool preallocated and prefaulted (\(options.parkedRuns) fresh processes)")
            if let summary = Peers.parked(count: count, runs: options.parkedRuns, prefaulted: true) { parked.append(summary) }
        }

        let raw = pooled["raw"], yieldSwitch = pooled["yield"]
        let goPingPong = pooled["go-pingpong"], goSpawn = pooled["go-spawn"]
        var report = Report()
        report.rows = [
            .init(name: "raw jump_fcontext ping-pong, C", unit: "ns/switch", samples: raw),
            .init(name: "exclusivity swap exit+enter, C", unit: "ns/pair", samples: pooled["exclusivity"],
                  peerName: "raw jump", peer: raw),
            .init(name: "Spindle Fiber.yield ping-pong", unit: "ns/switch", samples: yieldSwitch,
                  peerName: "raw jump", peer: raw),
            .init(name: "Swift Task ping-pong, pinned to 1 CPU", unit: "ns/switch", samples: pooled["task"],
                  peerName: "Spindle yield", peer: yieldSwitch),
            .init(name: "Swift Task ping-pong, unpinned (all CPUs)", unit: "ns/switch", samples: pooled["task-unpinned"],
                  peerName: "Spindle yield", peer: yieldSwitch),
            .init(name: "Go goroutine ping-pong, unbuffered chan", unit: "ns/switch", samples: goPingPong,
                  peerName: "Spindle yield", peer: yieldSwitch),
            .init(name: "Spindle Channel(capacity: 1) ping-pong", unit: "ns/switch", samples: pooled["channel"],
                  peerName: "Go ping-pong", peer: goPingPong),
            .init(name: "Spindle spawnDetached+run+finish, warm pool", unit: "ns/fiber", samples: pooled["spawn-detached"],
                  peerName: "go f() + wg.Done", peer: goSpawn),
            .init(name: "Spindle spawn (handle dropped)+run+finish, warm pool", unit: "ns/fiber", samples: pooled["spawn"],
                  peerName: "go f() + wg.Done", peer: goSpawn),
            .init(name: "Go go f() + wg.Done", unit: "ns/goroutine", samples: goSpawn),
        ]
        if let base, let loaded {
            var delta: [String: Int] = [:]
            for name in Set(base.keys).union(loaded.keys) {
                delta[name] = (loaded[name] ?? 0) - (base[name] ?? 0)
            }
            report.spawnSyscallDelta = delta
            report.spawnSyscallFibers = options.stracedSpawnBatches * SpindleBenchmarks.spawnBatch
        }
        report.parked = parked
        report.goals = Goals.check(pooled: pooled, report: report)
        let expected = Self.inProcess + (options.goPeer == nil ? [] : ["go-pingpong", "go-spawn"])
        report.missing = expected.filter { pooled[$0] == nil }
            + (base == nil || loaded == nil ? ["strace"] : [])
            + options.parkedCounts.filter { count in !parked.contains { $0.result.fibers == count && !$0.prefaulted } }.map { "parked \($0)" }
            + options.prefaultedParkedCounts.filter { count in !parked.contains { $0.result.fibers == count && $0.prefaulted } }
                .map { "parked \($0) prefaulted" }
        return report
    }

    private func progress(_ what: String) {
        fputsStderr("fiber-bench: \(what)…")
    }
}
