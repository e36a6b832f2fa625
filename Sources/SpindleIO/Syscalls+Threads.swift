// Threads and signals: the pthread and signal calls of SpindleIO.
#if canImport(Glibc)
import Glibc
#endif
import SpindleMemory

/// A plain OS thread running one closure (runtime workers, offload threads).
package final class OSThread: @unchecked Sendable {
    // @unchecked Sendable: `handle` is written once before the thread starts and read by join.
    private var handle = pthread_t()
    private let body: () -> Void
    private let name: String

    private init(name: String, body: @escaping () -> Void) {
        self.name = name
        self.body = body
    }

    /// Starts a thread running `body`.
    package static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(IOError) -> OSThread {
        let thread = OSThread(name: name, body: body)
        let context = Unmanaged.passRetained(thread).toOpaque()
        let rc = pthread_create(&thread.handle, nil, { raw in
            let thread = Unmanaged<OSThread>.fromOpaque(raw!).takeRetainedValue()
            ThreadSyscalls.setCurrentThreadName(thread.name)
            thread.body()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<OSThread>.fromOpaque(context).release()
            throw IOError("pthread_create", errno: rc)
        }
        return thread
    }

    /// Waits for the thread to finish.
    package func join() { pthread_join(handle, nil) }

    /// Lets the thread free its resources by itself when it ends (instead of at `join`, which
    /// must not be called after this). For threads nobody joins.
    package func detach() { pthread_detach(handle) }
}

/// Turns SIGTERM/SIGINT into a call of `onSignal` (once), on a thread of its own via sigwait.
/// The signals are blocked in the calling thread first, so threads started afterwards (the
/// workers) inherit the mask and only the watcher receives them.
package enum SignalWatcher {
    /// Blocks SIGTERM and SIGINT in the calling thread and starts the watcher thread.
    /// Cost: one thread, parked in `sigwait`.
    package static func start(_ onSignal: @escaping @Sendable () -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let watched = set
        _ = try? OSThread.start(name: "spindle-signals") {
            var set = watched
            var signal: Int32 = 0
            sigwait(&set, &signal)
            onSignal()
        }
    }
}
