import SpindleFibers
import SpindleIO
import SpindleMemory

/// One sample of the live page's figures, as `GET /_spindle/stats` answers it: JSON of the
/// workers' summed counters (cumulative: the page takes the difference of two samples) and of
/// the gauges now. Made on the admin worker's thread from a collected report; allocates.
///
/// ```
/// {"monotonicSeconds":…, "workers":2, "backend":"uring", "allocator":"mimalloc",
///  "requests":…, "requestsActive":…, "requestsCancelled":…,
///  "durations":{"boundsSeconds":[…22 finite bounds], "counts":[…23 non-cumulative], "sumSeconds":…},
///  "memory":{"residentBytes":…, "allocatorBytesInUse":… or null, "allocatorCommittedBytes":… or null},
///  "fibers":{"running":…, "runnable":…, "parked":{"read":…, "write":…, …}},
///  "connections":{"open":…, "idle":…, "accepted":…, "refused":…},
///  "arena":{"overflowBlocks":…, "largeAllocations":…},
///  "poolMisses":{"receive_buffers":…, …},
///  "routes":[{"route":"GET /users/:id", "counts":[…23], "sumSeconds":…}, …, {"route":"(no route)", …}]}
/// ```
///
/// Routes that have answered nothing yet are left out of `routes`.
struct LiveStats {
    /// The name of the row of requests no route answered.
    static let unroutedName = "(no route)"

    let report: WorkerReport
    let workers: Int
    let routeNames: [String]
    let memory: ProcessMemory
    let allocator: AllocatorStatistics
    let backend: IOBackendChoice?
    /// The monotonic clock when the sample was taken, in seconds.
    let monotonicSeconds: Double

    /// The JSON text.
    var json: [UInt8] {
        let counters = report.counters
        let buckets = PowerOfTwoBuckets.requestNanoseconds
        var out = "{"
        out += "\"monotonicSeconds\":\(monotonicSeconds),\"workers\":\(workers)"
        out += ",\"backend\":" + (backend.map { FiberDump.quoted($0.kind.rawValue) } ?? "null")
        out += ",\"allocator\":" + FiberDump.quoted(allocator.kind.rawValue)
        out += ",\"requests\":\(counters.requests.reduce(0, &+))"
        out += ",\"requestsActive\":\(report.activeRequests),\"requestsCancelled\":\(counters.requestsCancelled)"
        let bounds = (0..<buckets.finiteCount).map { "\(Double(buckets.upperBound($0)) / 1e9)" }
        out += ",\"durations\":{\"boundsSeconds\":[\(bounds.joined(separator: ","))]"
        out += ",\"counts\":[\(Self.list(counters.durations))],\"sumSeconds\":\(Double(counters.durationNanoseconds) / 1e9)}"
        out += ",\"memory\":{\"residentBytes\":\(memory.residentBytes)"
        out += ",\"allocatorBytesInUse\":\(allocator.bytesInUse.map(String.init) ?? "null")"
        out += ",\"allocatorCommittedBytes\":\(allocator.committedBytes.map(String.init) ?? "null")}"
        let states = report.fiberStates
        let parked = FiberWaitReason.allCases.map { "\(FiberDump.quoted($0.name)):\(states.parked(waitingFor: $0))" }
        out += ",\"fibers\":{\"running\":\(states.running),\"runnable\":\(states.runnable)"
        out += ",\"parked\":{\(parked.joined(separator: ","))}}"
        out += ",\"connections\":{\"open\":\(report.openConnections),\"idle\":\(report.idleConnections)"
        out += ",\"accepted\":\(counters.connectionsAccepted),\"refused\":\(counters.connectionsRefused)}"
        out += ",\"arena\":{\"overflowBlocks\":\(counters.arenaOverflowBlocks),\"largeAllocations\":\(counters.arenaLargeAllocations)}"
        let misses = WorkerReport.PoolName.allCases.map { name in
            "\(FiberDump.quoted(name.label)):\(name.rawValue < report.pools.count ? report.pools[name.rawValue].misses : 0)"
        }
        out += ",\"poolMisses\":{\(misses.joined(separator: ","))}"
        out += ",\"routes\":[\(routes(counters).joined(separator: ","))]}"
        return Array(out.utf8)
    }

    /// One JSON object per row that has answered requests: its name, duration counts and sum.
    private func routes(_ counters: WorkerMetrics) -> [String] {
        let width = PowerOfTwoBuckets.requestNanoseconds.count
        var rows: [String] = []
        for row in 0..<counters.routeRows {
            let start = row * width
            guard start + width <= counters.routeDurations.count, row < counters.routeDurationNanoseconds.count else { break }
            let counts = counters.routeDurations[start..<(start + width)]
            guard counts.contains(where: { $0 != 0 }) else { continue }
            let name = row < routeNames.count ? routeNames[row] : Self.unroutedName
            let sum = Double(counters.routeDurationNanoseconds[row]) / 1e9
            rows.append("{\"route\":\(FiberDump.quoted(name)),\"counts\":[\(Self.list(counts))],\"sumSeconds\":\(sum)}")
        }
        return rows
    }

    /// `1,2,3`.
    private static func list<Numbers: Collection<Int>>(_ numbers: Numbers) -> String {
        numbers.map(String.init).joined(separator: ",")
    }
}
