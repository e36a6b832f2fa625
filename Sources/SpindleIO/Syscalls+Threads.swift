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

    /// Blocks SIGPIPE in the calling thread. `sendfile` has no `MSG_NOSIGNAL`: a peer that
    /// reset its connection would otherwise end the process with SIGPIPE (its default
    /// action). Blocked, the signal stays pending on this thread and the call fails with
    /// EPIPE, which the caller handles. For worker threads, before they serve.
    package static func blockBrokenPipeSignal() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits for the thread to finish.
    package func join() { pthread_join(handle, nil) }

    /// Lets the thread free its resources by itself when it ends (instead of at `join`, which
    /// must not be called after this). For threads nobody joins.
    package func detach() { pthread_detach(handle) }
}

/// Turns SIGTERM/SIGINT into a call of `onSignal` (once), on a thread of its own via sigwait,
/// and, when `onDump` is given, each SIGQUIT into a call of `onDump` on that thread (the
/// server keeps running, as a Go program prints its goroutines). The signals are blocked in
/// the calling thread first, so threads started afterwards (the workers) inherit the mask and
/// only the watcher receives them.
package enum SignalWatcher {
    /// Blocks SIGTERM, SIGINT (and SIGQUIT with `onDump`) in the calling thread and starts the
    /// watcher thread. Cost: one thread, parked in `sigwait`.
    package static func start(onDump: (@Sendable () -> Void)? = nil, _ onSignal: @escaping @Sendable () -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        if onDump != nil { sigaddset(&set, SIGQUIT) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let watched = set
        _ = try? OSThread.start(name: "spindle-signals") {
            var set = watched
            var signal: Int32 = 0
            while sigwait(&set, &signal) == 0 {
                if signal == SIGQUIT, let onDump {
                    onDump()
                    continue
                }
                break
            }
            onSignal()
        }
    }
}

/// Writes `text` to the standard error stream (unbuffered, all of it). Any thread.
package func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 && errno == EINTR { continue }
        if written <= 0 { return }
        offset += written
    }
}
