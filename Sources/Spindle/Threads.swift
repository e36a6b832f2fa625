import SpindleIO
#if canImport(Glibc)
import Glibc
#endif

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
        _ = try? OSThread.start(name: "spindle-signals") {
            var set = watched
            var signal: Int32 = 0
            sigwait(&set, &signal)
            onSignal()
        }
    }
}
