import SpindleFibers
import SpindleMemory
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A bounded pool of OS threads for blocking calls that have no io_uring form (SQLite, DNS via
/// getaddrinfo, CPU-heavy work). `Fiber.offload` queues a closure here and parks the fiber
/// until a thread has run it. A full queue rejects new work with `OffloadRejectedError`
/// instead of letting callers pile up.
public final class OffloadPool: Sendable {
    /// Threads and queue limit (`SPINDLE_OFFLOAD_THREADS`, `SPINDLE_OFFLOAD_QUEUE`).
    public struct Configuration: Sendable {
        /// Worker threads (default 4).
        public var threads: Int
        /// Closures that may wait for a thread (default 1,024); beyond, `offload` throws.
        public var queueLimit: Int

        public init(threads: Int? = nil, queueLimit: Int? = nil) {
            self.threads = max(1, threads ?? Environment.integer("SPINDLE_OFFLOAD_THREADS") ?? 4)
            self.queueLimit = max(1, queueLimit ?? Environment.integer("SPINDLE_OFFLOAD_QUEUE") ?? 1024)
        }
    }

    /// The pool `Fiber.offload` uses, started on first use.
    public static let shared = OffloadPool(configuration: Configuration())

    public let configuration: Configuration
    private let queue = Mutex<Queue>(Queue())
    private let available: Semaphore

    private struct Queue {
        /// Each job with the monotonic time it was queued at (nanoseconds).
        var jobs: [(job: @Sendable () -> Void, queuedAt: UInt64)] = []
        var head = 0
        var started = false
        var running = 0
        var completed = 0
        var rejected = 0
        var queueWaitNanoseconds: UInt64 = 0
        var runNanoseconds: UInt64 = 0
        var pending: Int { jobs.count - head }
    }

    /// What the pool is doing, for metrics.
    public struct Statistics: Sendable, Equatable {
        /// Closures waiting for a thread.
        public var queued: Int
        /// Closures running on the pool's threads now.
        public var running: Int
        /// Closures run to their end since the pool was made.
        public var completed: Int
        /// Closures refused because the queue was full (`OffloadRejectedError`).
        public var rejected: Int
        /// Time the closures that have started spent queued, waiting for a thread (a total,
        /// nanoseconds of the monotonic clock).
        public var queueWaitNanoseconds: UInt64
        /// Time the closures run to their end spent running (a total, nanoseconds). With
        /// `queueWaitNanoseconds`, how long fibers waited in `offload`, bar the wake-up.
        public var runNanoseconds: UInt64

        /// A value with these counts and times (to compare against).
        public init(queued: Int, running: Int, completed: Int, rejected: Int, queueWaitNanoseconds: UInt64 = 0,
                    runNanoseconds: UInt64 = 0) {
            self.queued = queued
            self.running = running
            self.completed = completed
            self.rejected = rejected
            self.queueWaitNanoseconds = queueWaitNanoseconds
            self.runNanoseconds = runNanoseconds
        }
    }

    /// The queue depth, running and finished closures, refusals, and the time spent queued and
    /// running, now. Cost: the pool's mutex; any thread.
    public var statistics: Statistics {
        queue.withLock {
            Statistics(queued: $0.pending, running: $0.running, completed: $0.completed, rejected: $0.rejected,
                       queueWaitNanoseconds: $0.queueWaitNanoseconds, runNanoseconds: $0.runNanoseconds)
        }
    }

    /// Creates a pool; its threads start on first use.
    public init(configuration: Configuration) {
        self.configuration = configuration
        self.available = Semaphore()
    }

    /// Queues `job`; false when the queue is full. Reads the monotonic clock once.
    func enqueue(_ job: @escaping @Sendable () -> Void) -> Bool {
        let now = Deadline.now.nanoseconds
        let (accepted, start) = queue.withLock { q -> (Bool, Bool) in
            if q.pending >= configuration.queueLimit {
                q.rejected += 1
                return (false, false)
            }
            q.jobs.append((job, now))
            let start = !q.started
            q.started = true
            return (true, start)
        }
        guard accepted else { return false }
        if start {
            for i in 0..<configuration.threads {
                _ = try? OSThread.start(name: "spindle-offload-\(i)") { [self] in self.workerLoop() }
            }
        }
        available.signal()
        return true
    }

    private func workerLoop() {
        while true {
            available.wait()
            let started = Deadline.now.nanoseconds
            let job = queue.withLock { q -> (@Sendable () -> Void)? in
                guard q.head < q.jobs.count else { return nil }
                let (job, queuedAt) = q.jobs[q.head]
                q.head += 1
                if q.head == q.jobs.count { q.jobs.removeAll(keepingCapacity: true); q.head = 0 }
                q.running += 1
                q.queueWaitNanoseconds &+= started &- min(queuedAt, started)
                return job
            }
            guard let job else { continue }
            job()
            let ran = Deadline.now.nanoseconds &- started
            queue.withLock { q in
                q.running -= 1
                q.completed += 1
                q.runNanoseconds &+= ran
            }
        }
    }
}

/// Thrown by `Fiber.offload` when the pool's queue is full.
public struct OffloadRejectedError: Error, CustomStringConvertible, Sendable {
    public let queueLimit: Int
    public var description: String {
        "offload queue full (\(queueLimit) waiting); raise SPINDLE_OFFLOAD_QUEUE/SPINDLE_OFFLOAD_THREADS or shed load"
    }
}

/// Carries a result from another thread back to a parked fiber.
final class CrossThreadResult<T>: @unchecked Sendable {
    // @unchecked Sendable: written once by the producing thread before it posts the wake-up
    // through `Scheduler.submit` (a mutex), read only after that by the fiber's thread.
    var value: Result<T, any Error>? = nil
    var finished = false
}

/// A fiber core pointer carried to another thread only to be handed back to its own scheduler.
struct ParkedFiber: @unchecked Sendable {
    // @unchecked Sendable: dereferenced only on the fiber's own scheduler thread.
    let core: CorePointer
}

extension Fiber {
    /// Runs `work` on `pool`'s threads and parks the calling fiber (not its worker thread) until
    /// it returns; rethrows its error. Throws `OffloadRejectedError` when the queue is full. If the
    /// fiber is cancelled meanwhile, it still waits for `work` to finish (it cannot be
    /// interrupted); a successful result is returned, a failure becomes `CancellationError`. A
    /// fiber already cancelled gets `CancellationError` at once, and `work` is not queued.
    public static func offload<T>(pool: OffloadPool = .shared, _ work: @escaping @Sendable () throws -> T) throws -> T {
        let core = Fiber.currentCore("Fiber.offload")
        if Fiber.isCancelled { throw CancellationError() }
        let scheduler = core.scheduler.takeUnretainedValue()
        let box = CrossThreadResult<T>()
        let parked = ParkedFiber(core: core)
        let accepted = pool.enqueue {
            let outcome = Result { try work() }
            box.value = outcome
            scheduler.submit {
                box.finished = true
                scheduler.unpark(parked.core, with: .ready)
            }
        }
        guard accepted else { throw OffloadRejectedError(queueLimit: pool.configuration.queueLimit) }
        return try waitForCrossThreadResult(core: core, box: box, waiting: .offload, onCancel: {})
    }

    /// Runs an async operation on Swift concurrency and parks the calling fiber until it
    /// finishes, so handlers can call async libraries. Cancelling the fiber cancels the task;
    /// the fiber still waits for the task to end; a successful result is returned, a failure
    /// becomes `CancellationError`. A fiber already cancelled gets `CancellationError` at once,
    /// and no task is started.
    /// Never call from `async` code (there is no fiber there to park).
    public static func await<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
        let core = Fiber.currentCore("Fiber.await")
        if Fiber.isCancelled { throw CancellationError() }
        let scheduler = core.scheduler.takeUnretainedValue()
        let box = CrossThreadResult<T>()
        let parked = ParkedFiber(core: core)
        let task = Task {
            let outcome: Result<T, any Error>
            do { outcome = .success(try await operation()) } catch { outcome = .failure(error) }
            box.value = outcome
            scheduler.submit {
                box.finished = true
                scheduler.unpark(parked.core, with: .ready)
            }
        }
        return try waitForCrossThreadResult(core: core, box: box, waiting: .await, onCancel: { task.cancel() })
    }

    private static func waitForCrossThreadResult<T>(core: CorePointer, box: CrossThreadResult<T>, waiting reason: FiberWaitReason,
                                                    onCancel: () -> Void) throws -> T {
        var cancelled = false
        while !box.finished {
            if Fiber.park(core, cancellable: !cancelled, deadline: nil, for: reason) == .cancelled, !cancelled {
                cancelled = true
                onCancel()
            }
        }
        // A result that arrived despite cancellation is returned: nothing computed is lost.
        if cancelled, case .failure = box.value! { throw CancellationError() }
        return try box.value!.get()
    }
}

/// A counting semaphore for the offload threads (futex-free: a mutex and a condition variable).
final class Semaphore: @unchecked Sendable {
    // @unchecked Sendable: all state behind the pthread mutex.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var count = 0

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    func signal() {
        pthread_mutex_lock(mutex)
        count += 1
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    func wait() {
        pthread_mutex_lock(mutex)
        while count == 0 { pthread_cond_wait(condition, mutex) }
        count -= 1
        pthread_mutex_unlock(mutex)
    }
}
