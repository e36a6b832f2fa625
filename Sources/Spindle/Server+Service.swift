import ServiceLifecycle
import SpindleIO

/// A `Server` runs as a swift-service-lifecycle `Service`:
///
///     let server = Server(router: router, configuration: try ServerConfiguration(config: config))
///     let group = ServiceGroup(configuration: .init(
///         services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
///     try await group.run()
///
/// The group's graceful shutdown (a signal it watches, `triggerGracefulShutdown()`, another
/// service ending) stops the server gracefully, as `stop()` does; cancelling the task stops it
/// at once. Signals are the group's: this path never installs Spindle's own signal watcher.
extension Server: Service {
    /// Binds (resolving the host), starts the workers on threads of their own, as `start()`
    /// does, and returns once they have all stopped; throws what `run(handleSignals:)` would
    /// (a bind or resolution error at once, a worker's error at the end).
    ///
    /// - Graceful shutdown of the surrounding `ServiceGroup` (`withGracefulShutdownHandler`)
    ///   calls `stop()`: new connections are refused, idle ones closed, requests in flight
    ///   finish within `shutdownGracePeriod`, then it returns.
    /// - Cancelling the task forces the stop: the same, but the requests still in flight are
    ///   cancelled now (their parked waits throw `CancellationError`), not after the grace
    ///   period. It returns once their fibers have ended.
    ///
    /// Never blocks a thread of the cooperative pool: it suspends until the server's thread
    /// resumes it. Installs no signal handling (the group's `gracefulShutdownSignals` do that).
    /// From synchronous code, the blocking `run(handleSignals:)` is the one `try run()` calls.
    /// Cost: one thread besides the workers (it waits for them, then ends).
    ///
    /// It always serves in this process: a process running Swift concurrency has threads, and
    /// only a process with one thread may fork, so `configuration.processes` is for the blocking
    /// `run(handleSignals:)` (a warning is logged when it is above 1).
    public func run() async throws {
        warnIfProcessesIgnored("Server.run() async (the Service path)")
        let (address, serve) = try prepare(handleSignals: false)
        logger.info("listening on \(configuration.tls == nil ? "http" : "https")://\(address) with \(runtime.configuration.workers) workers (as a service)")
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                defer { metrics.watchdog.stop() }
                try await serveOnOwnThread(serve)
            } onGracefulShutdown: { [self] in
                stop()
            }
        } onCancel: { [self] in
            stopNow()
        }
    }

    /// Runs the workers from a thread of their own and suspends until they have all stopped.
    private func serveOnOwnThread(_ serve: @escaping @Sendable (Runtime.Worker) throws -> Void) async throws {
        let runtime = self.runtime
        try await withCheckedThrowingContinuation { (finished: CheckedContinuation<Void, any Error>) in
            do {
                let thread = try OSThread.start(name: "spindle-server") {
                    finished.resume(with: Result { try runtime.run(serve) })
                }
                thread.detach()
            } catch {
                // No thread: the workers never start; stop the runtime so nothing waits on them.
                runtime.stop()
                finished.resume(throwing: error)
            }
        }
    }
}
