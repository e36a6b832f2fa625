import SpindleFibers

/// Times the requests a serving fiber answers, for `http_request_duration_seconds`, reading the
/// clock once per run of requests rather than once per request (a clock read is about 3 % of
/// a pipelined request's CPU on a virtual machine, where it costs more than elsewhere).
///
/// A run starts when the fiber starts (the first head parsed) and ends when the fiber parks
/// (a handler waiting, a full socket), or is done: every request answered in a run gets the
/// run's duration, from its start to when the last of them was written into the output (or,
/// for a streamed body, its last chunk written). A connection that is not pipelined has one
/// request per fiber, so this is its own duration; requests pipelined behind it share one
/// duration, which is what their client saw: none of their responses left before the batch.
/// After a park, the run restarts at the moment the clock is read.
struct RequestClock {
    private let recording: Bool
    /// When the current run began.
    private var start: UInt64
    /// Requests answered in the current run, not yet timed.
    private var untimed = 0
    /// The scheduler's switch count when the run began: a different count means the fiber
    /// parked since.
    private var switches: UInt64

    /// A clock that reads the time now when `recording`, and does nothing otherwise.
    init(recording: Bool) {
        self.recording = recording
        start = recording ? Deadline.now.nanoseconds : 0
        switches = recording ? Scheduler.current?.switches ?? 0 : 0
    }

    /// One more request answered. Reads the clock only when the fiber parked since the run
    /// began: then the run, this request included, ends now and a new one begins.
    @inline(__always)
    mutating func answered(_ metrics: inout WorkerMetrics) {
        untimed &+= 1
        let current = Scheduler.current?.switches ?? 0
        if current != switches {
            settle(&metrics)
            switches = current
        }
    }

    /// Ends the run now: its requests get its duration, and a new run begins.
    mutating func settle(_ metrics: inout WorkerMetrics) {
        guard recording, untimed > 0 else { return }
        let now = Deadline.now.nanoseconds
        metrics.requestsTimed(untimed, nanoseconds: now &- start)
        untimed = 0
        start = now
    }
}
