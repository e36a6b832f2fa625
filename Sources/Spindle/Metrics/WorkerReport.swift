import SpindleFibers
import SpindleMemory

/// What one worker answers a scrape with: a copy of its counters and the state it is in now
/// (connections, requests in flight, pools, fibers). Made on the worker's thread
/// (`ServerWorker.report(fibers:)`); summed over the workers on the scraping fiber's thread.
struct WorkerReport: Sendable {
    /// The counters (a copy).
    var counters: WorkerMetrics
    /// Open connections.
    var openConnections = 0
    /// Open connections idle between requests (no fiber, no buffers).
    var idleConnections = 0
    /// Requests being handled now.
    var activeRequests = 0
    /// Responses being sent after their fiber ended.
    var pendingSends = 0
    /// The worker's object pools, by `PoolName`.
    var pools: [PoolStatistics]
    /// Fiber stacks: in use now, the most at once, mapped.
    var stacksInUse = 0
    var stacksPeak = 0
    var stacksMapped = 0
    /// Stack high-water figures by `PowerOfTwoBuckets.stackBytes` bucket, and their sum (bytes).
    var stackHighWater: [Int] = Array(repeating: 0, count: PowerOfTwoBuckets.stackBytes.count)
    var stackHighWaterSum = 0
    /// Unfinished fibers now, and fibers ever spawned.
    var liveFibers = 0
    var spawnedFibers: UInt64 = 0
    /// Finished fibers kept, with their stacks, for the next spawns (their stacks count in
    /// `stacksInUse`).
    var recycledFibers = 0
    /// Unfinished fibers by state (with `FiberDetail.states` only; zero otherwise).
    var fiberStates = FiberStateCounts()

    /// What a report measures of the worker's fibers beyond the counts.
    enum FiberDetail: Sendable {
        /// Each stack's high-water mark (a `mincore` per stack in use): `/metrics`.
        case stackHighWater
        /// How many fibers are in each state (a read of each one's control block): the live page.
        case states
    }

    /// The per-worker pools, in the order of `WorkerReport.pools`.
    enum PoolName: Int, CaseIterable, Sendable {
        case receiveBuffers, smallReceiveBuffers, parsers, outputs, arenas

        /// The label value (`pool`).
        var label: String {
            switch self {
            case .receiveBuffers: "receive_buffers"
            case .smallReceiveBuffers: "small_receive_buffers"
            case .parsers: "parsers"
            case .outputs: "output_buffers"
            case .arenas: "arenas"
            }
        }
    }

    /// One pool's figures (`ObjectPool`).
    struct PoolStatistics: Sendable {
        var inUse = 0
        var available = 0
        /// The most in use at once (summed over workers: the sum of each worker's peak).
        var peakInUse = 0
        /// Objects made because the pool was empty.
        var misses = 0

        init<Object>(_ pool: ObjectPool<Object>) {
            inUse = pool.inUse
            available = pool.available
            peakInUse = pool.peakInUse
            misses = pool.misses
        }

        mutating func add(_ other: PoolStatistics) {
            inUse &+= other.inUse
            available &+= other.available
            peakInUse &+= other.peakInUse
            misses &+= other.misses
        }
    }

    /// Adds `other` (summing workers).
    mutating func add(_ other: WorkerReport) {
        counters.add(other.counters)
        openConnections &+= other.openConnections
        idleConnections &+= other.idleConnections
        activeRequests &+= other.activeRequests
        pendingSends &+= other.pendingSends
        for i in pools.indices where i < other.pools.count { pools[i].add(other.pools[i]) }
        stacksInUse &+= other.stacksInUse
        stacksPeak &+= other.stacksPeak
        stacksMapped &+= other.stacksMapped
        for i in stackHighWater.indices where i < other.stackHighWater.count { stackHighWater[i] &+= other.stackHighWater[i] }
        stackHighWaterSum &+= other.stackHighWaterSum
        liveFibers &+= other.liveFibers
        spawnedFibers &+= other.spawnedFibers
        recycledFibers &+= other.recycledFibers
        fiberStates.add(other.fiberStates)
    }
}

extension ServerWorker {
    /// This worker's report. Worker thread only (posted there by a scrape); walks the
    /// connection table to count idle connections and the stack pool's side table, for the
    /// stack high-water figures (a `mincore` per stack in use) or the fibers' states as
    /// `fibers` says, and allocates the copies.
    func report(fibers: WorkerReport.FiberDetail) -> WorkerReport {
        var idle = 0
        for connection in connections.values where connection.isIdle { idle += 1 }
        for connection in tlsConnections.values where connection.isIdle { idle += 1 }
        var report = WorkerReport(counters: metrics.copied(),
                                  pools: [.init(receiveBuffers), .init(smallReceiveBuffers), .init(parsers), .init(outputs),
                                          .init(arenas)])
        report.openConnections = connections.count &+ tlsConnections.count
        report.idleConnections = idle
        report.activeRequests = activeRequests
        report.pendingSends = asyncSends
        if let scheduler = Scheduler.current {
            report.stacksInUse = scheduler.stacks.inUse
            report.stacksPeak = scheduler.stacks.peakInUse
            report.stacksMapped = scheduler.stacks.mapped
            switch fibers {
            case .stackHighWater:
                for bytes in scheduler.stacks.highWaterFigures() {
                    report.stackHighWater[PowerOfTwoBuckets.stackBytes.index(UInt64(bytes))] &+= 1
                    report.stackHighWaterSum &+= bytes
                }
            case .states:
                report.fiberStates = scheduler.fiberStateCounts()
            }
            report.liveFibers = scheduler.liveFibers
            report.spawnedFibers = scheduler.spawnedFibers
            report.recycledFibers = scheduler.recycledFiberCount
        }
        return report
    }
}
