import SpindleFibers
import SpindleMemory
import Synchronization

/// Spindle's per-core I/O runtime: one thread, one io_uring, one scheduler and one stack pool
/// per worker, shared-nothing (no work stealing; fibers never migrate).
///
///     let runtime = Runtime()
///     try runtime.run { worker in
///         let listener = try TCPListener(host: "127.0.0.1", port: 8080)
///         while true {
///             let connection = try listener.accept()
///             Fiber.spawn { /* serve connection */ }
///         }
///     }
///
/// `run` calls its body once per worker, as that worker's first fiber, and returns when
/// `stop()` has been called and every fiber has finished. `stop()` cancels the body fibers
/// (so `accept` throws `CancellationError`) and lets the fibers they spawned finish.
public final class Runtime: @unchecked Sendable {
    // @unchecked Sendable: mutable state is behind `state`'s mutex or atomics.

    /// Tunables, each with a `SPINDLE_*` environment override.
    public struct Configuration: Sendable {
        /// Worker threads (default: the CPUs this process may use; `SPINDLE_WORKERS`).
        public var workers: Int
        /// Pin worker i to the i-th allowed CPU (`SPINDLE_PIN_WORKERS=1`).
        public var pinWorkers: Bool
        /// Submission queue entries per ring (`SPINDLE_RING_ENTRIES`, default 4096).
        public var ringEntries: Int
        /// Each worker's scheduler (stack pool sizes and the like).
        public var scheduler: Scheduler.Configuration
        /// The I/O backend: nil (the default) picks io_uring and falls back to epoll when the
        /// kernel or a seccomp filter denies io_uring; `SPINDLE_IO=uring|epoll` forces one.
        public var backend: IOBackendKind?

        /// Defaults with environment overrides.
        public init(workers: Int? = nil, pinWorkers: Bool? = nil, ringEntries: Int? = nil,
                    scheduler: Scheduler.Configuration = Scheduler.Configuration(), backend: IOBackendKind? = nil) {
            self.workers = workers ?? Environment.integer("SPINDLE_WORKERS") ?? CPUs.available
            self.pinWorkers = pinWorkers ?? (Environment.integer("SPINDLE_PIN_WORKERS") ?? 0 != 0)
            self.ringEntries = ringEntries ?? Environment.integer("SPINDLE_RING_ENTRIES") ?? 4096
            self.scheduler = scheduler
            self.backend = backend ?? Environment.string("SPINDLE_IO").map { name in
                guard let kind = IOBackendKind(rawValue: name) else {
                    misuse("SPINDLE_IO=\(name) is not a backend; use SPINDLE_IO=uring or SPINDLE_IO=epoll (or leave it unset to choose automatically)")
                }
                return kind
            }
            misusePrecondition(self.workers >= 1, "Runtime: workers must be at least 1")
        }
    }

    /// One worker as seen by the body: its index and runtime.
    public struct Worker: Sendable {
        /// 0 ..< workers.
        public let index: Int
        /// The runtime it belongs to.
        public let runtime: Runtime
    }

    public let configuration: Configuration
    private let state = Mutex<State>(State())
    private let stopping = Atomic<Bool>(false)

    private struct State {
        var schedulers: [Scheduler?] = []
        var roots: [WorkerRoot?] = []
        var errors: [any Error] = []
        var backendChoice: IOBackendChoice? = nil
    }

    /// Creates a runtime (no threads start until `run`).
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Starts the workers, runs `body` as each worker's first fiber, and blocks until `stop()`
    /// and all fibers have finished. Throws the first error a body threw (other than
    /// cancellation by `stop()`), or `IOUringUnavailableError` when a ring cannot be set up.
    public func run(_ body: @escaping @Sendable (Worker) throws -> Void) throws {
        let count = configuration.workers
        state.withLock {
            $0.schedulers = Array(repeating: nil, count: count)
            $0.roots = Array(repeating: nil, count: count)
            $0.errors = []
        }
        let allowed = CPUs.allowed
        let cpuCount = allowed.count
        var threads: [OSThread] = []
        let setUp = StartBarrier(parties: count)
        for index in 0..<count {
            let cpu: Int32? = configuration.pinWorkers && cpuCount > 0 ? allowed[index % cpuCount] : nil
            do {
                threads.append(try OSThread.start(name: "spindle-\(index)") { [self] in
                    if let cpu { _ = CPUs.pinCurrentThread(to: cpu) }
                    self.workerMain(index: index, setUp: setUp, body: body)
                })
            } catch {
                // The workers started so far wait for this one's set-up: release them, stop them.
                setUp.abandon(parties: count - index)
                stop()
                for thread in threads { thread.join() }
                throw error
            }
        }
        for thread in threads { thread.join() }
        if let error = state.withLock({ $0.errors.first }) { throw error }
    }

    /// Asks every worker to finish: cancels the body fibers and lets the loops end when their
    /// fibers are done. Safe from any thread, including a worker's fibers.
    public func stop() {
        // Setting `stopping` and reading the registered schedulers happen under the lock the
        // workers register under, so each worker is stopped exactly once: here, or by itself.
        let schedulers: [Scheduler?]? = state.withLock { state in
            guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return nil }
            return state.schedulers
        }
        guard let schedulers else { return }
        for (index, scheduler) in schedulers.enumerated() {
            scheduler?.submit { [self] in
                let root = state.withLock { $0.roots[index] }
                root?.fiber.cancel()
                Scheduler.current?.keepAliveCount -= 1
            }
        }
    }

    /// The backend the workers run on and why, once `run` has chosen it (nil before).
    public var backendChoice: IOBackendChoice? { state.withLock { $0.backendChoice } }

    /// True once `stop()` was called.
    public var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// One worker thread: its scheduler and I/O backend, then — once every worker has set up
    /// its own (see `StartBarrier`) — `body` as its first fiber, until the runtime stops.
    private func workerMain(index: Int, setUp: StartBarrier, body: @escaping @Sendable (Worker) throws -> Void) {
        OSThread.blockBrokenPipeSignal()  // sendfile raises it (see there); no other call does
        let scheduler: Scheduler
        do { scheduler = try Scheduler(configuration: configuration.scheduler) } catch {
            record(error)
            stop()
            setUp.arriveAndWait()
            return
        }
        defer { scheduler.detach() }
        let backend: any IOBackend
        do {
            backend = try makeBackend(scheduler: scheduler)
        } catch {
            record(error)
            stop()
            setUp.arriveAndWait()
            return
        }
        // No worker serves before all have their ring (or epoll set): a worker that accepted
        // early could take the descriptors a slower one needs for its ring.
        setUp.arriveAndWait()
        backend.install()
        defer { backend.uninstall() }
        scheduler.keepAliveCount += 1
        let worker = Worker(index: index, runtime: self)
        let root = Fiber.spawn(name: "worker-\(index)") { [self] in
            do { try body(worker) } catch is CancellationError where isStopping {
            } catch { record(error); stop() }
        }
        let stoppedBeforeRegistering = state.withLock { state -> Bool in
            if isStopping { return true }
            state.schedulers[index] = scheduler
            state.roots[index] = WorkerRoot(fiber: root.fiber)
            return false
        }
        if stoppedBeforeRegistering {  // stop() ran before this worker registered
            root.cancel()
            scheduler.keepAliveCount -= 1
        }
        scheduler.runLoop()
        state.withLock {
            $0.schedulers[index] = nil
            $0.roots[index] = nil
        }
    }

    /// The backend for one worker: the configured one, or io_uring with a fall-back to epoll
    /// when io_uring is denied (the first worker's choice is recorded for `backendChoice`).
    private func makeBackend(scheduler: Scheduler) throws -> any IOBackend {
        let entries = UInt32(clamping: configuration.ringEntries)
        switch configuration.backend {
        case .uring?:
            let backend = try UringBackend(scheduler: scheduler, entries: entries, receiveBuffers: BufferRing.Configuration())
            noteChoice(IOBackendChoice(kind: .uring, reason: "chosen by configuration (SPINDLE_IO=uring or Runtime.Configuration.backend)"))
            return backend
        case .epoll?:
            let backend = try EpollBackend(scheduler: scheduler)
            noteChoice(IOBackendChoice(kind: .epoll, reason: "chosen by configuration (SPINDLE_IO=epoll or Runtime.Configuration.backend)"))
            return backend
        case nil:
            do {
                let backend = try UringBackend(scheduler: scheduler, entries: entries, receiveBuffers: BufferRing.Configuration())
                noteChoice(IOBackendChoice(kind: .uring, reason: "io_uring is available"))
                return backend
            } catch let error as IOUringUnavailableError where error.fallsBackToEpoll {
                let backend = try EpollBackend(scheduler: scheduler)
                noteChoice(IOBackendChoice(kind: .epoll, reason: error.description))
                return backend
            }
        }
    }

    private func noteChoice(_ choice: IOBackendChoice) {
        state.withLock { if $0.backendChoice == nil { $0.backendChoice = choice } }
    }

    private func record(_ error: any Error) {
        state.withLock { $0.errors.append(error) }
    }
}

/// Which I/O backend a runtime's workers use, and why.
public struct IOBackendChoice: Sendable, CustomStringConvertible {
    /// The backend.
    public let kind: IOBackendKind
    /// Why it was chosen (for the one log line a server prints at start).
    public let reason: String

    public var description: String { "I/O backend \(kind): \(reason)" }
}

/// A worker's body fiber, held by the runtime so `stop()` can cancel it.
private struct WorkerRoot: @unchecked Sendable {
    // @unchecked Sendable: only touched on its own worker thread (inside `Scheduler.submit`
    // work posted to that worker); other threads just carry the reference.
    let fiber: Fiber
}

/// Holds every worker thread of a `run` until all of them have set up (their scheduler and I/O
/// backend, successfully or not), so that none serves — and takes descriptors, memory or CPU —
/// while another is still setting up. Blocks threads (workers have no fibers yet at that point).
final class StartBarrier: Sendable {
    private let parties: Int
    private let remaining: Mutex<Int>
    private let released = Semaphore()

    init(parties: Int) {
        self.parties = parties
        self.remaining = Mutex(parties)
    }

    /// Counts this thread as set up and blocks until every party has.
    func arriveAndWait() {
        arrive(count: 1)
        released.wait()
    }

    /// Counts `parties` that will never arrive (their threads did not start) as arrived.
    func abandon(parties count: Int) {
        arrive(count: count)
    }

    private func arrive(count: Int) {
        let releaseAll = remaining.withLock { remaining -> Bool in
            let before = remaining
            remaining -= count
            return before > 0 && remaining <= 0
        }
        if releaseAll { for _ in 0..<parties { released.signal() } }
    }
}
