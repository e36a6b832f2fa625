#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleMemory

/// Results produced by other processes: the Go peer, `strace`, and `fiber-bench parked N`.
enum Peers {
    /// Runs `fiber-bench one <name>` in a fresh process and returns every timed repetition.
    static func one(_ name: String, options: Suite.Options) -> Samples? {
        let quick = options.quick ? " --quick" : ""
        let command = "\(Subprocess.quote(Subprocess.selfPath)) one \(name) --reps \(options.repetitions)\(quick)"
        guard let text = Subprocess.output(of: command) else { return nil }
        return samplesLines(text)[name]
    }

    /// Runs the Go peer at `path` once (GOMAXPROCS=1, the same repetitions) and returns its
    /// samples by name (`pingpong`, `spawn`).
    static func go(path: String, options: Suite.Options) -> [String: Samples]? {
        var command = "GOMAXPROCS=1 \(Subprocess.quote(path)) -reps \(options.repetitions)"
        if options.quick { command += " -roundtrips 10000 -batches 2" }
        guard let text = Subprocess.output(of: command) else { return nil }
        let rows = samplesLines(text)
        guard rows["pingpong"] != nil, rows["spawn"] != nil else {
            fputsStderr("fiber-bench: unexpected output from the Go peer:\n\(text)")
            return nil
        }
        return rows
    }

    /// Parses lines `<name> <ns> <ns> …` (one value per timed repetition).
    static func samplesLines(_ text: String) -> [String: Samples] {
        var rows: [String: Samples] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 2 else { continue }
            let values = f.dropFirst().compactMap { Double($0) }
            if values.count == f.count - 1 { rows[String(f[0])] = Samples(values) }
        }
        return rows
    }

    /// System calls made by `fiber-bench spawn-only <batches>` under `strace -f -c`, by name.
    static func syscalls(spawnBatches batches: Int) -> [String: Int]? {
        let file = "/tmp/fiber-bench-strace-\(getpid())-\(batches).txt"
        defer { unlink(file) }
        let command = "strace -f -c -U calls,name -o \(file) \(Subprocess.quote(Subprocess.selfPath)) spawn-only \(batches)"
        guard Subprocess.output(of: command) != nil, let text = readTextFile(file) else { return nil }
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 2, let calls = Int(f[0]), f[1] != "total" else { continue }
            counts[String(f[1])] = calls
        }
        return counts
    }

    /// Runs `fiber-bench parked <count>` `runs` times, each in a fresh process, and (for the
    /// default pool) `fiber-bench touch <count>` as often for the page-fault floor, and
    /// `fiber-bench touch-guarded <count>` for the guarded floor when the pool guards with
    /// `MADV_GUARD_INSTALL`; returns the medians. `prefaulted`: the pool is preallocated for
    /// all fibers and prefaulted at start-up.
    static func parked(count: Int, runs: Int, prefaulted: Bool = false) -> Parked.Summary? {
        let me = Subprocess.quote(Subprocess.selfPath)
        let environment = prefaulted ? Parked.prefaultEnvironment(count: count) + " " : ""
        /// The nanoseconds a floor command printed (`<command> <count> <ns>`), nil when it failed.
        func floorNanoseconds(_ command: String) -> Double? {
            guard let text = Subprocess.output(of: "\(me) \(command) \(count)") else { return nil }
            let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
            guard f.count == 3, f[0] == command, let ns = Double(f[2]), ns >= 0 else { return nil }
            return ns
        }
        var results: [Parked.Result] = []
        var floor = Samples()
        var guardedFloor = Samples()
        for _ in 0..<runs {
            if let text = Subprocess.output(of: "\(environment)\(me) parked \(count)"),
               let result = text.split(separator: "\n").lazy.compactMap({ Parked.Result(line: String($0)) }).first {
                results.append(result)
            }
            guard !prefaulted else { continue }
            if let ns = floorNanoseconds("touch") { floor.append(ns) }
            if results.last?.guardMode == StackPool.GuardMode.lightweightGuard.rawValue,
               let ns = floorNanoseconds("touch-guarded") {
                guardedFloor.append(ns)
            }
        }
        return Parked.Summary(results, firstTouchNs: floor.isEmpty ? nil : floor.median,
                              guardedTouchNs: guardedFloor.isEmpty ? nil : guardedFloor.median, prefaulted: prefaulted)
    }
}
