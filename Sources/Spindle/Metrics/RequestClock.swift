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
///
/// Each request's duration also goes to its route's row (`WorkerMetrics.routeTimed`). The
/// requests of a run that share a route are timed together when the run ends; when a pipelined
/// run changes route, the clock is read once more to time the previous route's requests (from
/// the run's start to then), and the run itself goes on.
struct RequestClock {
    private let recording: Bool
    /// When the current run began.
    private var start: UInt64
    /// Requests answered in the current run, not yet timed.
    private var untimed = 0
    /// The row of the run's last requests, and how many of them (at the end of the run) are
    /// not yet timed in it.
    private var route = 0
    private var routeUntimed = 0
    /// The scheduler's switch count when the run began: a different count means the fiber
    /// parked since.
    private var switches: UInt64

    /// A clock that reads the time now when `recording`, and does nothing otherwise (then a
    /// few stores, inlined into the caller; the reads are out of line).
    @inline(__always)
    init(recording: Bool) {
        self.recording = recording
        start = 0
        switches = 0
        if recording { begin() }
    }

    /// Starts the first run now (`init` when recording).
    @inline(never)
    private mutating func begin() {
        start = Deadline.now.nanoseconds
        switches = Scheduler.currentSwitches
    }

    /// One more request answered, by the route of row `route`. Reads the clock only when the
    /// fiber parked since the run began (then the run, this request included, ends now and a
    /// new one begins), or when the request's route differs from the untimed ones before it in
    /// the run (a pipelined run of mixed routes).
    @inline(__always)
    mutating func answered(route: Int, _ metrics: inout WorkerMetrics) {
        if route != self.route {
            if routeUntimed > 0 { timeRoute(&metrics) }
            self.route = route
        }
        routeUntimed &+= 1
        untimed &+= 1
        let current = Scheduler.currentSwitches
        if current != switches {
            settle(&metrics)
            switches = current
        }
    }

    /// Ends the run now: its requests get its duration, and a new run begins. Without requests
    /// to time (or when not recording), two loads and a branch, inlined into the caller.
    @inline(__always)
    mutating func settle(_ metrics: inout WorkerMetrics) {
        guard recording, untimed > 0 else { return }
        settleRun(&metrics)
    }

    /// `settle` of a run with requests to time.
    @inline(never)
    private mutating func settleRun(_ metrics: inout WorkerMetrics) {
        let now = Deadline.now.nanoseconds
        metrics.requestsTimed(untimed, nanoseconds: now &- start)
        if routeUntimed > 0 { metrics.routeTimed(route, routeUntimed, nanoseconds: now &- start) }
        untimed = 0
        routeUntimed = 0
        start = now
    }

    /// Times the untimed requests of the current route, from the run's start to now; the run
    /// goes on. Out of line: only pipelined runs of mixed routes come here.
    @inline(never)
    private mutating func timeRoute(_ metrics: inout WorkerMetrics) {
        if recording { metrics.routeTimed(route, routeUntimed, nanoseconds: Deadline.now.nanoseconds &- start) }
        routeUntimed = 0
    }
}
