/// The goals of the "Fiber core" issue, checked against the measured medians.
enum Goals {
    /// One verdict per goal; a goal whose measurement is missing is reported as "n/a".
    static func check(pooled: [String: Samples], report: Report) -> [Report.Goal] {
        func median(_ name: String) -> Double? { pooled[name].flatMap { $0.isEmpty ? nil : $0.median } }
        var goals: [Report.Goal] = []

        /// Adds a goal "Spindle is ≥ `factor`× faster than `peer`" (ratio peer/Spindle).
        func faster(_ text: String, spindle: String, peer: String, factor: Double) {
            guard let s = median(spindle), let p = median(peer) else {
                goals.append(.init(text: text, measured: "missing", passed: nil))
                return
            }
            goals.append(.init(text: text, measured: speedup(p / s), passed: p / s >= factor))
        }

        if let sw = median("yield"), let raw = median("raw") {
            goals.append(.init(text: "scheduler switch ≤ 5× raw jump", measured: "\(fixed(sw / raw, 2))× raw", passed: sw / raw <= 5))
        } else {
            goals.append(.init(text: "scheduler switch ≤ 5× raw jump", measured: "missing", passed: nil))
        }
        // Judged against the faster of the two Task variants (pinned or unpinned) in this run: the
        // peer's best case, so the stricter test. The goal text names which one it was.
        let taskPeer = [("task", "pinned"), ("task-unpinned", "unpinned")]
            .compactMap { name, label in median(name).map { (name, label, $0) } }
            .min { $0.2 < $1.2 }
        faster("scheduler switch ≥ 10× faster than Swift Task ping-pong (\(taskPeer?.1 ?? "pinned"), the faster Task run)",
               spindle: "yield", peer: taskPeer?.0 ?? "task", factor: 10)
        faster("scheduler switch ≥ 5× faster than Go ping-pong", spindle: "yield", peer: "go-pingpong", factor: 5)
        // Judged on `Fiber.spawnDetached`, the analogue of `go f()` (no handle); the spawn whose
        // handle is dropped is measured too and named in the measured text.
        let handleSpawn = median("spawn").map { "; spawn with a dropped handle \(fixed($0, 1)) ns" } ?? ""
        if let spawn = median("spawn-detached") {
            goals.append(.init(text: "spawn+finish ≤ 150 ns (spawnDetached)", measured: "\(fixed(spawn, 1)) ns\(handleSpawn)",
                               passed: spawn <= 150))
        } else {
            goals.append(.init(text: "spawn+finish ≤ 150 ns (spawnDetached)", measured: "missing", passed: nil))
        }
        faster("spawn+finish ≥ 4× faster than go f() (spawnDetached)", spindle: "spawn-detached", peer: "go-spawn", factor: 4)
        if let handle = median("spawn"), let go = median("go-spawn"), var last = goals.popLast() {
            last.measured += " (spawn with a dropped handle: \(speedup(go / handle)))"
            goals.append(last)
        }

        if let delta = report.spawnSyscallDelta {
            // "No syscalls": fewer than one per 1,000 spawns. A constant few (the allocator, the
            // pool) would not scale with the loop; one per spawn would show as ≥ 1M.
            let total = delta.values.reduce(0, +)
            let perSpawn = Double(total) / Double(report.spawnSyscallFibers)
            goals.append(.init(text: "spawn+finish makes no system calls",
                               measured: "\(total) calls / \(report.spawnSyscallFibers) spawns", passed: perSpawn < 0.001))
        } else {
            goals.append(.init(text: "spawn+finish makes no system calls", measured: "strace failed", passed: nil))
        }

        let floorGoal = "1M parked fibers ≤ 1.3× first-touch floor"
        let guardedGoal = "1M parked fibers ≤ 1.1× guarded floor (first touch + guard install, C)"
        if let summary = report.parked.first(where: { $0.result.fibers == 1_000_000 && !$0.prefaulted }) {
            let million = summary.result
            goals.append(.init(text: "1M parked fibers created in ≤ 1.5 s",
                               measured: "\(fixed(million.createNs / 1e9, 2)) s", passed: million.createNs <= 1.5e9))
            goals.append(.init(text: "1M parked fibers ≤ 4.5 KiB RSS per fiber",
                               measured: "\(fixed(million.residentPerFiber / 1024, 2)) KiB", passed: million.residentPerFiber <= 4.5 * 1024))
            // Issue #19: the absolute 1.5 s is out of reach where a fresh page costs microseconds
            // (see fibers.md); this judges what the fiber code adds over the page faults it cannot
            // avoid, both measured in this run, so the host's speed of the moment cancels out.
            /// The goal line `text`: create ÷ a floor of this run (`floorName`) ≤ `limit`.
            func floorGoalLine(_ text: String, ratio: Double?, floorNs: Double?, floorName: String, limit: Double, missing: String,
                               note: String = "") -> Report.Goal {
                guard let ratio, let floorNs else { return .init(text: text, measured: missing, passed: nil) }
                return .init(text: text,
                             measured: "\(fixed(ratio, 2))× (\(fixed(million.createNs / 1e9, 2)) s vs \(floorName) \(fixed(floorNs / 1e9, 2)) s\(note))",
                             passed: ratio <= limit)
            }
            // The guarded floor over the first-touch floor: the kernel's work for a guarded stack
            // alone, no fiber code. Above 1.3× no pool that guards its stacks can pass this goal.
            var guardedOverFirstTouch = ""
            if let guarded = summary.guardedTouchNs, let firstTouch = summary.firstTouchNs, firstTouch > 0 {
                guardedOverFirstTouch = "; the guarded floor alone \(fixed(guarded / firstTouch, 2))× the first-touch floor"
            }
            goals.append(floorGoalLine(floorGoal, ratio: summary.createOverFloor, floorNs: summary.firstTouchNs,
                                       floorName: "floor", limit: 1.3, missing: "first-touch floor missing", note: guardedOverFirstTouch))
            // What the fiber code adds over the kernel work of a guarded stack (the guard's
            // installation, then the first touch): the first-touch floor above leaves the guard
            // out, and installing it is a page-table walk per stack that costs 20–35 % of that
            // floor on these VMs (fibers.md). Spawning and running to the park is ~50–100 ns of
            // ~2 µs per fiber, hence 1.1×.
            goals.append(floorGoalLine(guardedGoal, ratio: summary.createOverGuardedFloor, floorNs: summary.guardedTouchNs,
                                       floorName: "guarded floor", limit: 1.1, missing: "guarded floor missing (\(million.guardMode))"))
        } else {
            goals.append(.init(text: "1M parked fibers created in ≤ 1.5 s", measured: "not run", passed: nil))
            goals.append(.init(text: "1M parked fibers ≤ 4.5 KiB RSS per fiber", measured: "not run", passed: nil))
            goals.append(.init(text: floorGoal, measured: "not run", passed: nil))
            goals.append(.init(text: guardedGoal, measured: "not run", passed: nil))
        }
        return goals
    }

    /// "12.0× faster" for a peer/Spindle ratio of 12, "1.2× slower" for 0.83.
    private static func speedup(_ peerOverSpindle: Double) -> String {
        peerOverSpindle >= 1 ? "\(fixed(peerOverSpindle, 1))× faster" : "\(fixed(1 / peerOverSpindle, 1))× slower"
    }
}
