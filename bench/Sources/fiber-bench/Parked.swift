import CFiberBench
import SpindleFibers
import SpindleMemory

/// (h) Many parked fibers: each is spawned, runs, and parks on one shared `Event`.
/// Meant to run in a fresh process (`fiber-bench parked N`) so the RSS delta is clean.
/// With `SPINDLE_STACKS_INITIAL`/`SPINDLE_STACKS_PREFAULT` in the environment the pool maps and
/// commits its stacks when the scheduler starts: that start-up is timed on its own (`startupNs`),
/// and the RSS growth is counted from before it, so prefaulted pages are not hidden.
enum Parked {
    /// What one run measured.
    struct Result {
        var fibers: Int
        /// Wall time from the first spawn until every fiber has run to its park.
        var createNs: Double
        /// Wall time of `Scheduler` start-up (mapping, guard pages, any prefault) before that.
        var startupNs: Double
        /// Growth of VmRSS / VmPTE from before the scheduler started until all have parked.
        var residentBytes: Int
        var pageTableBytes: Int
        /// Memory mappings afterwards (`/proc/self/maps` lines; `vm.max_map_count` is the limit).
        var mappings: Int
        /// The stack pool's guard mode ("MADV_GUARD_INSTALL", "mprotect" or "canary").
        var guardMode: String

        var nsPerFiber: Double { createNs / Double(fibers) }
        var residentPerFiber: Double { Double(residentBytes) / Double(fibers) }
        var pageTablePerFiber: Double { Double(pageTableBytes) / Double(fibers) }

        /// One line for the parent process:
        /// `parked <fibers> <ns> <rss> <pte> <maps> <guard> <startup ns>`.
        var line: String {
            "parked \(fibers) \(Int(createNs)) \(residentBytes) \(pageTableBytes) \(mappings) \(guardMode) \(Int(startupNs))"
        }

        /// Parses `line`; nil when the child printed something else.
        init?(line: String) {
            let f = line.split(separator: " ")
            guard f.count == 8, f[0] == "parked", let n = Int(f[1]), let ns = Double(f[2]),
                  let rss = Int(f[3]), let pte = Int(f[4]), let maps = Int(f[5]), let startup = Double(f[7]) else { return nil }
            self.init(fibers: n, createNs: ns, startupNs: startup, residentBytes: rss, pageTableBytes: pte,
                      mappings: maps, guardMode: String(f[6]))
        }

        init(fibers: Int, createNs: Double, startupNs: Double, residentBytes: Int, pageTableBytes: Int, mappings: Int, guardMode: String) {
            self.fibers = fibers
            self.createNs = createNs
            self.startupNs = startupNs
            self.residentBytes = residentBytes
            self.pageTableBytes = pageTableBytes
            self.mappings = mappings
            self.guardMode = guardMode
        }
    }

    /// The medians of several fresh-process runs of one size, and the page-fault floor.
    struct Summary {
        var result: Result
        var runs: Int
        /// `bench_first_touch_ns` for the same count at the pool's slot stride (median), if measured.
        var firstTouchNs: Double?
        /// `bench_guarded_touch_ns` for the same count (median), if measured: the kernel's work
        /// for a guarded stack (guard installation and first touch) with no fiber code at all.
        var guardedTouchNs: Double?
        /// True when the pool was preallocated for every fiber and prefaulted at start-up.
        var prefaulted: Bool

        /// "Create + run to park" over the first-touch floor of the same count, both medians of
        /// this run (issue #19's goal for 1M: ≤ 1.3); nil without a floor.
        var createOverFloor: Double? {
            guard let firstTouchNs, firstTouchNs > 0 else { return nil }
            return result.createNs / firstTouchNs
        }

        /// "Create + run to park" over the guarded floor of the same count: what the fiber code
        /// adds over the kernel work a guarded stack costs. nil without that floor.
        var createOverGuardedFloor: Double? {
            guard let guardedTouchNs, guardedTouchNs > 0 else { return nil }
            return result.createNs / guardedTouchNs
        }

        /// Field-wise medians of `results` (all of one size).
        init?(_ results: [Result], firstTouchNs: Double?, guardedTouchNs: Double? = nil, prefaulted: Bool) {
            guard var median = results.first else { return nil }
            median.createNs = Samples(results.map(\.createNs)).median
            median.startupNs = Samples(results.map(\.startupNs)).median
            median.residentBytes = Int(Samples(results.map { Double($0.residentBytes) }).median)
            median.pageTableBytes = Int(Samples(results.map { Double($0.pageTableBytes) }).median)
            median.mappings = results.map(\.mappings).max() ?? 0
            self.result = median
            self.runs = results.count
            self.firstTouchNs = firstTouchNs
            self.guardedTouchNs = guardedTouchNs
            self.prefaulted = prefaulted
        }
    }

    /// Bytes between the tops of two neighbouring stacks in the pool (stack + guard), which is
    /// the stride the first-touch floor uses.
    static var slotStride: Int {
        StackPool.slotSize(for: .fromEnvironment)
    }

    /// The environment that makes `fiber-bench parked <count>` start with a pool of `count + 1`
    /// stacks (the fibers and the main fiber) whose top pages are committed at start-up.
    static func prefaultEnvironment(count: Int) -> String {
        "SPINDLE_STACKS_INITIAL=\(count + 1) SPINDLE_STACKS_PREFAULT=1"
    }

    /// `fiber-bench touch N`: the first-touch floor in this fresh process, one line
    /// `touch <count> <ns>`.
    static func firstTouchLine(count: Int) -> String {
        "touch \(count) \(Int(bench_first_touch_ns(UInt64(count), UInt64(slotStride))))"
    }

    /// `fiber-bench touch-guarded N`: the first-touch floor with a guard at the bottom of every
    /// slot, installed as the pool installs them (`MADV_GUARD_INSTALL`, one batched call per
    /// `StackPool.guardWindow` slots), in this fresh process: one line `touch-guarded <count> <ns>`
    /// (a negative ns where the kernel has no lightweight guards).
    static func guardedTouchLine(count: Int) -> String {
        let configuration = StackPool.Configuration.fromEnvironment
        let ns = bench_guarded_touch_ns(UInt64(count), UInt64(slotStride), UInt64(configuration.guardSize), UInt64(StackPool.guardWindow))
        return "touch-guarded \(count) \(Int(ns))"
    }

    /// Spawns `count` fibers that park on an `Event`, measures, then sets the event so every
    /// fiber finishes and `Scheduler.run` returns.
    static func run(count: Int) -> Result {
        let before = ProcessMemory.current()
        let launched = bench_now_ns()
        return Scheduler.run {
            let scheduler = Scheduler.current!
            let release = Event()
            let start = bench_now_ns()
            for _ in 0..<count {
                Fiber.spawn { try release.wait() }
            }
            Fiber.yield()  // FIFO: every new fiber runs up to its park before we continue
            let elapsed = bench_now_ns() - start
            let after = ProcessMemory.current()
            precondition(scheduler.liveFibers == count + 1, "parked: only \(scheduler.liveFibers - 1) of \(count) fibers are alive")
            release.set()
            return Result(fibers: count, createNs: Double(elapsed), startupNs: Double(start - launched),
                          residentBytes: after.residentBytes - before.residentBytes,
                          pageTableBytes: after.pageTableBytes - before.pageTableBytes,
                          mappings: after.mappings, guardMode: scheduler.stacks.guardMode.rawValue)
        }
    }
}
