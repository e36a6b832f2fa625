import CFiberBench

/// Repeated measurements of one benchmark, in nanoseconds per operation.
struct Samples: Sendable {
    private(set) var values: [Double] = []

    init(_ values: [Double] = []) { self.values = values }

    mutating func append(_ value: Double) { values.append(value) }

    mutating func append(contentsOf other: Samples) { values.append(contentsOf: other.values) }

    /// The median (the number reported), or NaN when nothing was measured.
    var median: Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    var min: Double { values.min() ?? .nan }
    var max: Double { values.max() ?? .nan }
    var isEmpty: Bool { values.isEmpty }
}

/// Calls `measure` once to warm up (caches, pools, page faults), then `repetitions` times,
/// and keeps every timed result. `measure` returns ns per operation for one repetition.
func repeatedly(_ repetitions: Int, _ measure: () -> Double) -> Samples {
    _ = measure()
    var samples = Samples()
    for _ in 0..<repetitions { samples.append(measure()) }
    return samples
}

/// Nanoseconds per operation for a loop that ran `operations` times since `start`
/// (a `bench_now_ns()` reading).
func nsPerOperation(since start: UInt64, operations: Int) -> Double {
    Double(bench_now_ns() - start) / Double(operations)
}
