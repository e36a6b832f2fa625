import Logging
import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleMemory
import SpindleTLS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 server: per-core workers, each with its own `SO_REUSEPORT` listener, I/O backend
/// (io_uring, or epoll where io_uring is denied) and scheduler; a fiber per request running a plain synchronous handler.
/// With `ServerConfiguration.processes` > 1, `run()` serves from worker processes under a
/// pre-fork supervisor (Docs/processes.md).
///
///     let router = Router<Handler>()
///     router.on(.get, "/plaintext") { _, _ in .text("Hello, World!") }
///     try Server(router: router, configuration: .init(port: 8080)).run()
public final class Server: Sendable {
    /// The configuration it runs with.
    public let configuration: ServerConfiguration
    let router: Router<Handler>
    let runtime: Runtime
    let listeners: Mutex<[UnsafeSendableBox<TCPListener>]> = Mutex([])
    let logger: Logger
    /// Ends the grace period early (the `Service` path's cancellation).
    let forcedStop = ForcedStop()
    /// The workers' metrics, for the admin listener and `metricsHandler()`.
    let metrics = ServerMetrics()
    /// The admin listener, while the server runs (`configuration.adminPort`).
    let admin = AdminListener()
    /// The TLS context new connections take (nil until started, or without `configuration.tls`).
    let tlsSlot = Mutex<TLSContextSlot?>(nil)

    /// Creates a server; nothing listens until `run()` or `start()`.
    public init(router: Router<Handler>, configuration: ServerConfiguration = ServerConfiguration(),
                logger: Logger = Logger(label: "spindle")) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        runtime = Runtime(configuration: .init(workers: configuration.workers, pinWorkers: configuration.pinWorkers))
    }

    /// The address the first listener is bound to (after `start()`/`run()` began).
    public var address: SocketAddress? { listeners.withLock { $0.first?.value.address } }

    /// The I/O backend the workers run on and why (nil until they have started).
    public var backendChoice: IOBackendChoice? { runtime.backendChoice }

    /// Binds the listeners (`count`, by default one per worker, `SO_REUSEPORT`), resolving a
    /// host name first (the others bind the address the first one got). Throws
    /// `HostResolutionError` when the host resolves to nothing, an `IOError` when the address is
    /// taken.
    func bind(count: Int? = nil) throws {
        let first = try TCPListener(host: configuration.host, port: configuration.port,
                                    sendBufferSize: configuration.socketSendBufferSize)
        var all = [UnsafeSendableBox(first)]
        for _ in 1..<max(1, count ?? runtime.configuration.workers) {
            all.append(UnsafeSendableBox(try TCPListener(address: first.address, sendBufferSize: configuration.socketSendBufferSize)))
        }
        listeners.withLock { $0 = all }
    }

    /// Serves until `stop()` (or, with `handleSignals`, SIGTERM/SIGINT): then stops accepting,
    /// closes idle connections (after up to 100 ms for a request on its way), lets requests in flight finish (up to the grace period) and
    /// returns. With `handleSignals`, SIGQUIT prints a fiber dump to stderr and serving goes on
    /// (Docs/observability.md). Blocks the calling thread. The signals are blocked in the calling thread and in
    /// every thread started after it, and taken by a watcher thread; a thread started before the
    /// call that leaves them unblocked would receive them with their default action (the
    /// process ends), so call `run` before starting threads of your own.
    ///
    /// This is the blocking way to run; `run() async throws` (the `Service` conformance) is the
    /// way inside a swift-service-lifecycle `ServiceGroup`. From synchronous code `try run()`
    /// calls this one; from asynchronous code `try await run()` calls the `Service` one and
    /// `try run(handleSignals:)`, with the argument written out, this one (which blocks a
    /// thread of the cooperative pool: give it a thread of its own).
    ///
    /// With `configuration.processes` > 1 the calling thread becomes the pre-fork supervisor
    /// instead (see Docs/processes.md): it must be the process's only thread; it binds, forks the
    /// worker processes (which serve, and never return from here), and returns once SIGTERM or
    /// SIGINT has stopped them all; it throws `SupervisorError` when they crash-loop at start.
    /// The supervisor always takes SIGTERM, SIGINT and SIGHUP (`handleSignals` is not used).
    public func run(handleSignals: Bool = true) throws {
        misusePrecondition(configuration.processes >= 1, "ServerConfiguration.processes must be at least 1 (it is \(configuration.processes))")
        if configuration.processes > 1 { return try runSupervisor() }
        let (address, serve) = try prepare(handleSignals: handleSignals)
        logger.info("listening on \(configuration.tls == nil ? "http" : "https")://\(address) with \(runtime.configuration.workers) workers")
        defer {
            admin.stopAndWait()
            metrics.watchdog.stopAndWait()
        }
        try runtime.run(serve)
    }

    /// Starts serving on background threads and returns once listening (for tests and
    /// embedding). `stop()` ends it; `wait()` blocks until it has. With `handleSignals`,
    /// SIGTERM/SIGINT stop it too and SIGQUIT prints a fiber dump (see `run`): they are blocked in the calling thread and in
    /// every thread started after it, and a watcher thread takes them; threads started before
    /// the call keep the default action (end the process), so call it before starting others.
    ///
    /// It always serves in this process: `configuration.processes` is for `run()` (a warning is
    /// logged when it is above 1, e.g. from `SPINDLE_PROCESSES`).
    public func start(handleSignals: Bool = false) throws -> SocketAddress {
        warnIfProcessesIgnored("Server.start()")
        let (address, serve) = try prepare(handleSignals: handleSignals)
        let logger = self.logger
        let thread = try OSThread.start(name: "spindle-server") { [runtime, admin, metrics] in
            do {
                try runtime.run(serve)
            } catch {
                logger.error("server stopped with error: \(error)")
            }
            admin.stopAndWait()
            metrics.watchdog.stopAndWait()
        }
        background.withLock { $0 = thread }
        return address
    }

    /// What `run`, `start` and a worker process share: freezes the router, binds the listeners
    /// (unless `alreadyBound`: a worker process inherits them), starts the signal watcher when
    /// asked and the admin listener (unless `withAdmin` is false), and returns the listening
    /// address and what each worker runs (its accept loop on its own listener, after calling
    /// `onAccepting`).
    func prepare(handleSignals: Bool, alreadyBound: Bool = false, withAdmin: Bool = true,
                 onAccepting: (@Sendable () -> Void)? = nil) throws -> (SocketAddress, @Sendable (Runtime.Worker) throws -> Void) {
        router.freeze()
        router.prepareResponder()
        let softLimitBefore = DescriptorLimit.current
        let descriptorLimit = DescriptorLimit.raiseToHardLimit()
        let workers = runtime.configuration.workers
        let connectionCap = configuration.connectionCapPerWorker(workers: workers, descriptorLimit: descriptorLimit)
        // Read the certificates before binding: a missing file or a mismatched key stops the start.
        let tlsSlot = try configuration.tls.map { TLSContextSlot(try TLSContext(configuration: $0)) }
        self.tlsSlot.withLock { $0 = tlsSlot }
        if tlsSlot != nil {
            logger.info("\(Self.kernelTLSSummary(tlsSlot?.context.configuration.kernelTLS ?? .whenAvailable))")
        }
        if !alreadyBound { try bind() }
        if handleSignals {
            SignalWatcher.start(onDump: { [metrics] in
                writeToStandardError(metrics.fiberDump()?.text ?? "Spindle fiber dump: a worker did not answer within \(metrics.scrapeTimeout)\n")
            }) { [self] in stop() }
        }
        let all = listeners.withLock { $0 }
        metrics.watchdog.start(threshold: configuration.hogThreshold, logger: logger)
        do {
            if withAdmin {
                try admin.start(configuration: configuration, metrics: metrics, routeNames: router.routeNames, backend: { [runtime] in runtime.backendChoice }, logger: logger)
            }
        } catch {
            for listener in all { listener.value.close() }
            throw error
        }
        let router = self.router
        let configuration = self.configuration
        let logger = self.logger
        let runtime = self.runtime
        let forcedStop = self.forcedStop
        let metrics = self.metrics
        let limitNote = descriptorLimit == softLimitBefore ? "\(descriptorLimit)" : "\(descriptorLimit), raised from \(softLimitBefore)"
        return (all[0].value.address, { worker in
            if worker.index == 0, let choice = runtime.backendChoice {
                logger.info("\(choice); up to \(connectionCap) connections per worker (descriptor limit \(limitNote))")
            }
            let state = ServerWorker(index: worker.index, configuration: configuration, connectionCap: connectionCap,
                                     router: router, logger: logger, forcedStop: forcedStop, metrics: metrics,
                                     tlsSlot: tlsSlot)
            onAccepting?()
            try state.acceptLoop(listener: all[worker.index].value)
        })
    }

    private let background = Mutex<OSThread?>(nil)

    /// Blocks until a server started with `start()` has stopped. Call it from one thread, once;
    /// later calls return at once.
    public func wait() {
        background.withLock { thread -> OSThread? in
            defer { thread = nil }
            return thread
        }?.join()
    }

    /// Stops gracefully (see `run`), the admin listener too. Safe from any thread, including
    /// handlers. In a worker process under the supervisor it ends that process only (the
    /// supervisor starts another); SIGTERM to the supervisor stops them all.
    public func stop() {
        runtime.stop()
        admin.stop()
        metrics.watchdog.stop()
    }

    /// Stops without the grace period: as `stop()`, but the requests in flight are cancelled at
    /// once (their parked waits throw `CancellationError`) instead of after
    /// `shutdownGracePeriod`. What cancelling the task of `run()` (the `Service` path) does.
    func stopNow() {
        forcedStop.request()
        runtime.stop()
        admin.stop()
        metrics.watchdog.stop()
    }
}

/// A value handed across threads whose use stays on one thread at a time by construction.
struct UnsafeSendableBox<Value>: @unchecked Sendable {
    // @unchecked Sendable: a listener is used by exactly one worker.
    let value: Value
    init(_ value: Value) { self.value = value }
}
