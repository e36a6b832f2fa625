import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A one-shot latch: `wait` blocks until `signal`.
final class Latch: Sendable {
    private let state = Mutex<Bool>(false)
    private let condition = Condition()

    func signal() {
        state.withLock { $0 = true }
        condition.broadcast()
    }

    func wait() {
        condition.wait { state.withLock { $0 } }
    }
}

/// A condition variable over pthreads.
final class Condition: @unchecked Sendable {
    // @unchecked Sendable: all state behind the pthread mutex.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    func broadcast() {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(mutex)
    }

    /// Waits until `done()` is true (checked under the mutex, re-checked every 100 ms).
    func wait(until done: () -> Bool) {
        pthread_mutex_lock(mutex)
        while !done() {
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            ts.tv_nsec += 100_000_000
            if ts.tv_nsec >= 1_000_000_000 { ts.tv_sec += 1; ts.tv_nsec -= 1_000_000_000 }
            pthread_cond_timedwait(cond, mutex, &ts)
        }
        pthread_mutex_unlock(mutex)
    }
}

/// Starts detached helper threads.
enum OSThreadStarter {
    static func start(_ body: @escaping @Sendable () -> Void) throws -> pthread_t {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(context).release()
            throw HTTPError(.internalServerError, "pthread_create failed: \(rc)")
        }
        pthread_detach(thread)
        return thread
    }
}

/// Turns SIGTERM/SIGINT into a call of `onSignal` (once), on a thread of its own via sigwait.
/// The signals are blocked in the calling thread first, so threads started afterwards (the
/// workers) inherit the mask and only the watcher receives them.
enum SignalWatcher {
    static func start(_ onSignal: @escaping @Sendable () -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let watched = set
        _ = try? OSThreadStarter.start {
            var set = watched
            var signal: Int32 = 0
            sigwait(&set, &signal)
            onSignal()
        }
    }
}
