// The C crossings of SpindleFibers other than the context switch (which lives in
// Scheduler+Switch.swift): the thread-local scheduler slot, the eventfd a scheduler sleeps on,
// and the alternate signal stack the overflow handler runs on. Everything else in this module
// is Swift.
internal import CSpindle

/// The calling thread's scheduler, kept in a C thread-local (`initial-exec`: one load).
/// Invariant: set by `Scheduler.init` on its own thread and cleared by `detach()`; the object
/// is not retained by the slot, so it must not be freed while installed (a scheduler is kept
/// alive by the thread running it).
enum CurrentScheduler {
    /// The scheduler object of the calling thread, unretained, or nil.
    @inline(__always)
    static var raw: UnsafeMutableRawPointer? { spindle_current_scheduler() }

    /// Installs (or, with nil, clears) the calling thread's scheduler.
    @inline(__always)
    static func set(_ scheduler: UnsafeMutableRawPointer?) { spindle_set_current_scheduler(scheduler) }
}

enum FiberSyscalls {
    /// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`; the descriptor, or -1 with errno set.
    static func eventfd() -> Int32 { spindle_eventfd() }

    /// Waits until `fd` is readable or `timeoutNanoseconds` pass (negative: no timeout); `ppoll`'s
    /// result (-1 with errno, EINTR included).
    static func waitReadable(_ fd: Int32, timeoutNanoseconds: Int64) -> Int32 {
        spindle_wait_readable(fd, timeoutNanoseconds)
    }

    /// Gives the calling thread an alternate signal stack for the overflow handler (idempotent);
    /// 0 or an errno.
    static func installAlternateSignalStack() -> Int32 { spindle_thread_install_altstack() }
}
