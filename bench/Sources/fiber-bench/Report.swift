/// The printed table, the goal checks and the CSV.
struct Report {
    /// One measured benchmark, optionally compared with a peer.
    struct Row {
        var name: String
        var unit: String
        var samples: Samples?
        var peerName: String? = nil
        var peer: Samples? = nil

        /// This row's median over the peer's (> 1: this row is slower).
        var ratio: Double? {
            guard let samples, let peer, !samples.isEmpty, !peer.isEmpty else { return nil }
            return samples.median / peer.median
        }

        /// "4.2× slower" / "12.0× faster" (this row relative to its peer).
        var ratioText: String {
            guard let ratio else { return peerName == nil ? "" : "n/a" }
            return ratio >= 1 ? "\(fixed(ratio, 1))× slower" : "\(fixed(1 / ratio, 1))× faster"
        }
    }

    /// One of the issue's goals.
    struct Goal {
        var text: String
        /// What was measured, in words (e.g. "4.1× raw").
        var measured: String
        /// nil when the measurement is missing.
        var passed: Bool?

        var verdict: String { passed.map { $0 ? "PASS" : "FAIL" } ?? "n/a" }
    }

    var rows: [Row] = []
    var parked: [Parked.Summary] = []
    /// System calls by name added by the measured spawn loop (N-batch run minus 0-batch run).
    var spawnSyscallDelta: [String: Int]? = nil
    var spawnSyscallFibers = 0
    var goals: [Goal] = []
    /// Measurements that failed to run (a child process crashed or printed nothing usable).
    var missing: [String] = []

    /// The Markdown tables printed by `fiber-bench` (also pasted into Docs/benchmarks/fibers.md).
    var markdown: String {
        var out = "| benchmark | ns/op (median) | min–max | peer | ratio |\n|---|---:|---:|---|---|\n"
        for row in rows {
            let median = row.samples.map { fixed($0.median, 1) } ?? "n/a"
            let range = row.samples.map { "\(fixed($0.min, 1))–\(fixed($0.max, 1))" } ?? ""
            out += "| \(row.name) (\(row.unit)) | \(median) | \(range) | \(row.peerName ?? "—") | \(row.ratioText) |\n"
        }
        if let delta = spawnSyscallDelta {
            let total = delta.values.reduce(0, +)
            let names = delta.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            out += "\nSystem calls added by \(spawnSyscallFibers) spawns (strace -f -c, N batches minus 0 batches): "
            out += "**\(total)**" + (names.isEmpty ? "" : " (\(names.joined(separator: ", ")))") + "\n"
        }
        if !parked.isEmpty {
            out += "\n| parked fibers | stack pool | pool start-up (not in create) | create + run to park | per fiber | first-touch floor (C) | create ÷ floor | guarded floor (C) | create ÷ guarded floor | RSS Δ per fiber | page tables Δ per fiber | mappings | guard |\n"
            out += "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
            for summary in parked {
                let p = summary.result
                let floor = summary.firstTouchNs.map { "\(fixed($0 / 1e6, 1)) ms" } ?? "n/a"
                let overFloor = summary.createOverFloor.map { "\(fixed($0, 2))×" } ?? "n/a"
                let guarded = summary.guardedTouchNs.map { "\(fixed($0 / 1e6, 1)) ms" } ?? "n/a"
                let overGuarded = summary.createOverGuardedFloor.map { "\(fixed($0, 2))×" } ?? "n/a"
                let pool = summary.prefaulted ? "preallocated + prefaulted" : "default (grows on demand)"
                out += "| \(p.fibers) | \(pool) | \(fixed(p.startupNs / 1e6, 1)) ms | \(fixed(p.createNs / 1e6, 1)) ms | \(fixed(p.nsPerFiber, 0)) ns | \(floor) | \(overFloor) | \(guarded) | \(overGuarded) | "
                out += "\(fixed(p.residentPerFiber / 1024, 2)) KiB | \(fixed(p.pageTablePerFiber / 1024, 2)) KiB | \(p.mappings) | \(p.guardMode) |\n"
            }
            out += "(medians of \(parked.first?.runs ?? 0) fresh processes per size)\n"
        }
        out += "\n| goal | measured | result |\n|---|---|---|\n"
        for goal in goals { out += "| \(goal.text) | \(goal.measured) | \(goal.verdict) |\n" }
        return out
    }

    /// Every number, one per line: `kind,name,value,unit,min,max,peer,ratio,result`.
    var csv: String {
        var out = "kind,name,value,unit,min,max,peer,ratio,result\n"
        func field(_ s: String) -> String { s.contains(",") ? "\"\(s)\"" : s }
        for row in rows {
            let s = row.samples
            out += "op," + [row.name, s.map { fixed($0.median, 2) } ?? "", row.unit,
                               s.map { fixed($0.min, 2) } ?? "", s.map { fixed($0.max, 2) } ?? "",
                               row.peerName ?? "", row.ratio.map { fixed($0, 3) } ?? "", ""].map(field).joined(separator: ",") + "\n"
        }
        if let delta = spawnSyscallDelta {
            out += "syscalls,spawn loop (\(spawnSyscallFibers) spawns),\(delta.values.reduce(0, +)),calls,,,,,\n"
        }
        for summary in parked {
            let p = summary.result
            let kind = summary.prefaulted ? "parked-prefaulted" : "parked"
            out += "\(kind),\(p.fibers) pool start-up,\(fixed(p.startupNs / 1e6, 1)),ms,,,,,\n"
            out += "\(kind),\(p.fibers) fibers create+park,\(fixed(p.nsPerFiber, 1)),ns/fiber,,,,,\n"
            if let floor = summary.firstTouchNs {
                out += "parked,\(p.fibers) first-touch floor,\(fixed(floor / Double(p.fibers), 1)),ns/fiber,,,,,\n"
            }
            if let overFloor = summary.createOverFloor {
                out += "parked,\(p.fibers) create over first-touch floor,\(fixed(overFloor, 3)),ratio,,,,,\n"
            }
            if let guarded = summary.guardedTouchNs {
                out += "parked,\(p.fibers) guarded floor,\(fixed(guarded / Double(p.fibers), 1)),ns/fiber,,,,,\n"
            }
            if let overGuarded = summary.createOverGuardedFloor {
                out += "parked,\(p.fibers) create over guarded floor,\(fixed(overGuarded, 3)),ratio,,,,,\n"
            }
            out += "\(kind),\(p.fibers) fibers RSS,\(fixed(p.residentPerFiber, 0)),bytes/fiber,,,,,\n"
            out += "\(kind),\(p.fibers) fibers page tables,\(fixed(p.pageTablePerFiber, 0)),bytes/fiber,,,,,\n"
        }
        for goal in goals {
            out += "goal," + [goal.text, goal.measured, "", "", "", "", "", goal.verdict].map(field).joined(separator: ",") + "\n"
        }
        return out
    }
}
