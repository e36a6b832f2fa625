import Prometheus
import SpindleFibers
import SpindleIO
import SpindleMemory
import Synchronization

/// One server's metrics: the workers a scrape asks, and the registry its answer is exported
/// through. Each worker registers itself when it starts accepting and leaves when it has
/// drained. Safe from any thread; `scrape` must run in a fiber.
///
/// A scrape posts a closure to every worker's scheduler (`Scheduler.submit`), which copies that
/// worker's counters and state on the worker's own thread and posts the copy back to the
/// scraping fiber's thread; the fiber parks until every worker has answered or the timeout has
/// passed. No thread ever reads another's counters.
final class ServerMetrics: Sendable {
    /// Where the counters and gauges go (the histograms are written beside it: see
    /// `MetricsExposition`). One per server, so two servers in a process do not mix.
    let registry = PrometheusCollectorRegistry()
    /// How long a scrape waits for the workers.
    let scrapeTimeout: Duration
    private let workers = Mutex<[RegisteredWorker?]>([])
    /// The CPU-hog watchdog of the same workers (started with the server when its threshold is set).
    let watchdog = HogWatchdog()
    /// Serialises writing the registry and emitting it (two scrapes at once would otherwise
    /// interleave their updates).
    private let exporting = Mutex<Void>(())

    init(scrapeTimeout: Duration = .seconds(2)) {
        self.scrapeTimeout = scrapeTimeout
    }

    /// A worker that a scrape can ask: its scheduler, and the worker itself through a handle
    /// the worker empties when it stops (a worker that has gone answers nothing).
    private struct RegisteredWorker: Sendable {
        let scheduler: Scheduler
        let worker: WorkerHandle
    }

    /// Called by worker `worker.index` on its own thread when it starts accepting.
    func workerStarted(_ worker: ServerWorker) {
        guard let scheduler = Scheduler.current else { return }
        let entry = RegisteredWorker(scheduler: scheduler, worker: WorkerHandle(worker))
        workers.withLock { all in
            while all.count <= worker.index { all.append(nil) }
            all[worker.index] = entry
        }
        watchdog.watch(worker: worker.index, scheduler: scheduler, thread: .current)
    }

    /// Called by `worker` on its own thread when it has drained: scrapes stop asking it, and a
    /// scrape already on its way finds the handle empty.
    func workerStopped(_ worker: ServerWorker) {
        let entry = workers.withLock { all -> RegisteredWorker? in
            guard worker.index < all.count, let entry = all[worker.index], entry.worker.value === worker else { return nil }
            all[worker.index] = nil
            return entry
        }
        entry?.worker.value = nil
        if entry != nil { watchdog.unwatch(worker: worker.index) }
    }

    /// Why a scrape has no answer.
    struct ScrapeError: Error, CustomStringConvertible {
        /// Workers asked, and workers that did not answer in time.
        let asked: Int
        let missing: Int
        let timeout: Duration
        var description: String {
            "\(missing) of \(asked) workers did not answer within \(timeout) (a handler running without parking holds its worker)"
        }
    }

    /// Asks every worker `question` on its own thread (posted with `Scheduler.submit`, run in its
    /// loop between fibers) and returns their answers, in no particular order, once all have
    /// answered; nil when some did not within `scrapeTimeout` (a handler running without
    /// parking holds its worker). From a fiber it parks; from a plain thread it sleeps it.
    /// Allocates.
    func ask<Answer: Sendable>(_ question: @escaping @Sendable (ServerWorker) -> Answer) -> [Answer]? {
        let registered = workers.withLock { $0.compactMap { $0 } }
        let answers = WorkerAnswers<Answer>(expected: registered.count)
        for entry in registered {
            let accepted = entry.scheduler.submit {
                answers.receive(entry.worker.value.map(question))  // on the worker's thread
            }
            if !accepted { answers.receive(nil) }  // that worker's loop has ended
        }
        guard answers.wait(until: .now + scrapeTimeout) else { return nil }
        return answers.answers
    }

    /// Every worker's report, summed, with the fiber figures `fibers` asks for. Parks the
    /// calling fiber until all have answered (at most `scrapeTimeout`); throws `ScrapeError` if
    /// some did not, since a partial sum would make counters go backwards. Allocates (the
    /// copies). Must run in a fiber.
    func collect(fibers: WorkerReport.FiberDetail = .stackHighWater) throws -> (report: WorkerReport, workers: Int) {
        let registered = workers.withLock { $0.compactMap { $0 } }
        let home = Scheduler.current!  // a fiber runs on a scheduler
        let gathering = ReportGathering(expected: registered.count)
        for entry in registered {
            let accepted = entry.scheduler.submit {
                let report = entry.worker.value?.report(fibers: fibers)  // on the worker's thread
                home.submit { gathering.receive(report) }
            }
            if !accepted { gathering.receive(nil) }  // that worker's loop has ended
        }
        let deadline = Deadline.now + scrapeTimeout
        while gathering.answered < gathering.expected {
            do { try gathering.done.wait(deadline: deadline) } catch { break }
        }
        guard gathering.answered == gathering.expected else {
            throw ScrapeError(asked: gathering.expected, missing: gathering.expected - gathering.answered, timeout: scrapeTimeout)
        }
        let routeRows = gathering.reports.first?.counters.routeRows ?? 1  // every worker has the same router
        var total = WorkerReport(counters: WorkerMetrics(recordsRequests: true, routes: routeRows - 1),
                                 pools: WorkerReport.PoolName.allCases.map { _ in .zero })
        for report in gathering.reports { total.add(report) }
        return (total, gathering.reports.count)
    }

    /// The Prometheus text of a scrape: the workers' sums, the process, the allocator, the
    /// offload pool and `backend`, then the application registry (swift-metrics, after
    /// `Server.bootstrapMetrics()`). Parks the calling fiber (see `collect`); allocates.
    func scrape(backend: IOBackendChoice?) throws -> [UInt8] {
        let (report, workerCount) = try collect()
        let process = ProcessMemory.current()
        let resources = ProcessStatistics.current()
        let allocator = Allocator.statistics()
        let offload = OffloadPool.shared.statistics
        var text = exporting.withLock { _ in
            MetricsExposition(registry: registry).export(
                report: report, workers: workerCount, memory: process, resources: resources,
                allocator: allocator, offload: offload, backend: backend, hogs: watchdog.hogs)
        }
        Server.applicationMetrics.emit(into: &text)
        return text
    }
}

/// A worker as `ServerMetrics` holds it: set when the worker starts and emptied when it stops,
/// so a scrape never keeps one alive. Not a `weak` reference: that gives the worker a side
/// table, and then every retain and release of it — several per request — takes the Swift
/// runtime's slow path (measured: 1.3 % of a pipelined request's CPU).
final class WorkerHandle: @unchecked Sendable {
    // @unchecked Sendable: other threads only carry the box; `value` is written and read only
    // on the worker's own thread (`workerStarted`, `workerStopped`, and work posted there).
    var value: ServerWorker?
    init(_ worker: ServerWorker) { value = worker }
}

/// The answers of one scrape, gathered on the scraping fiber's thread.
final class ReportGathering: @unchecked Sendable {
    // @unchecked Sendable: made on the scraping fiber's thread, and afterwards touched only in
    // work posted back to that thread (`Scheduler.submit`): one thread at a time, that one.
    let expected: Int
    var answered = 0
    var reports: [WorkerReport] = []
    let done = Event()

    init(expected: Int) {
        self.expected = expected
        if expected == 0 { done.set() }
    }

    /// One worker's answer (nil: it had gone).
    func receive(_ report: WorkerReport?) {
        answered += 1
        if let report { reports.append(report) }
        if answered == expected { done.set() }
    }
}

extension WorkerReport.PoolStatistics {
    /// Nothing in use, nothing free.
    static var zero: Self { Self() }

    init() {}
}

extension HTTPConnection {
    /// True while idle between requests (no fiber, no buffers).
    var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }
}
