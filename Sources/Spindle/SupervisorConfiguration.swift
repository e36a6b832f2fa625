import SpindleMemory

/// How the pre-fork supervisor (`ServerConfiguration.processes` > 1) restarts worker processes
/// and when it gives up. See Docs/processes.md.
public struct SupervisorConfiguration: Sendable {
    /// Worker processes that may die before they became ready within `crashLoopWindow` before
    /// the supervisor gives up (default 5): it stops the others and `Server.run()` throws
    /// `SupervisorError`. Deaths of workers that were ready never count: they are restarted,
    /// with a back-off when they repeat.
    public var crashLoopLimit: Int
    /// The window `crashLoopLimit` counts deaths in (default 10 s); also the window repeated
    /// deaths of one worker count in for its restart back-off.
    public var crashLoopWindow: Duration
    /// The longest a worker's restart waits (default 5 s): the first death of a worker in
    /// `crashLoopWindow` restarts it at once, the second after 100 ms, then 200 ms, 400 ms, …
    /// up to this.
    public var maximumRestartDelay: Duration
    /// How long past `shutdownGracePeriod` a stopping worker may take to exit before the
    /// supervisor sends it SIGKILL (default 2 s: the worker's own cancellation and the send of
    /// its last responses).
    public var stopMargin: Duration

    /// The defaults.
    public init(crashLoopLimit: Int = 5, crashLoopWindow: Duration = .seconds(10),
                maximumRestartDelay: Duration = .seconds(5), stopMargin: Duration = .seconds(2)) {
        self.crashLoopLimit = crashLoopLimit
        self.crashLoopWindow = crashLoopWindow
        self.maximumRestartDelay = maximumRestartDelay
        self.stopMargin = stopMargin
    }
}

/// The supervisor gave up: worker processes kept dying before they became ready.
/// `Server.run()` throws it after stopping the workers still running.
public struct SupervisorError: Error, CustomStringConvertible, Sendable {
    /// What happened, with the last worker's exit and what to look at.
    public let description: String
}
