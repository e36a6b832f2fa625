import Logging
import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleMemory
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Server tunables; each has a default here and a `SPINDLE_*` environment override where noted.
public struct ServerConfiguration: Sendable {
    /// Numeric address to listen on (default 127.0.0.1).
    public var host: String
    /// Port (default 8080; 0 picks a free one, see `Server.address`).
    public var port: Int
    /// Worker threads, one listener/ring/scheduler each (default: usable CPUs; `SPINDLE_WORKERS`).
    public var workers: Int?
    /// Pin worker i to the i-th allowed CPU (`SPINDLE_PIN_WORKERS=1`).
    public var pinWorkers: Bool?
    /// Parser limits (`SPINDLE_HTTP_MAX_*`, see `HTTPLimits`).
    public var limits: HTTPLimits
    /// How long an idle keep-alive connection stays open (default 60 s).
    public var idleTimeout: Duration
    /// How long a request head may take to arrive, from its first byte (default 10 s).
    public var headTimeout: Duration
    /// The total time a request body may keep the server waiting for it (default 60 s): the
    /// time body reads spend waiting for the client's bytes, summed over the whole body (a
    /// handler that works between reads is not counted against the client). Past it, the read
    /// throws `HTTPError(408)`, the client gets `408 Request Timeout` (also when the handler
    /// turned that error into another) and the connection closes lingeringly. It also bounds
    /// the wait for the rest of a body the handler left unread, which the server discards.
    public var bodyTimeout: Duration
    /// The slowest a request body may arrive, in bytes per second of that waiting time, once
    /// `bodyRateGracePeriod` of it has passed (default 1,024; 0: no floor). Slower: 408 as for
    /// `bodyTimeout`, without waiting for it to pass (a client dripping a body holds a fiber for
    /// the grace period, not for the whole `bodyTimeout`).
    public var minimumBodyRate: Int
    /// How long a body may arrive slower than `minimumBodyRate` at its start (default 5 s).
    public var bodyRateGracePeriod: Duration
    /// How long each response write may wait (default 30 s).
    public var writeTimeout: Duration
    /// Open connections per worker; beyond, new ones get 503 and are closed. nil (the default,
    /// unless `SPINDLE_MAX_CONNECTIONS` sets it) derives it from the descriptor limit at start:
    /// the soft `RLIMIT_NOFILE` is raised to the hard limit, a reserve is kept for files,
    /// offload, logging and the runtime's own descriptors (see `descriptorReserve`), and the
    /// rest is shared by the workers. A cap above what the limit allows makes accept run out of
    /// descriptors (`EMFILE`), which the server survives by backing off, less gracefully.
    public var maxConnectionsPerWorker: Int?
    /// After an error response (4xx/5xx) that closes the connection: once the response is sent,
    /// the server half-closes (FIN) and reads and discards what the client still sends, for at
    /// most this long (default 2 s; zero: close at once), so that a client still sending (a body
    /// the server refused) reads the response instead of a reset that can wipe it.
    public var lingeringCloseTimeout: Duration
    /// ... and at most this many bytes (default 64 KiB): then it closes.
    public var lingeringCloseMaxBytes: Int
    /// How long `stop()` lets requests in flight finish before cancelling them (default 10 s).
    public var shutdownGracePeriod: Duration
    /// Receive buffers, parsers and arenas made at worker start (default 64).
    public var preallocatedRequests: Int
    /// `SO_SNDBUF` of accepted connections (default nil: the kernel's autotuning, which is what
    /// a server wants; a small fixed size bounds the memory a slow reader can pin in the kernel).
    public var socketSendBufferSize: Int?
    /// Count and time every request for the metrics (`http_requests_total`, the duration and
    /// arena histograms): a few integer adds and a clock read per request, on the worker's
    /// thread (default on; `SPINDLE_METRICS=off` turns it off). Rare events (timeouts, parse
    /// errors, refusals) and the state a scrape reads are counted either way.
    public var collectsRequestMetrics: Bool
    /// Port of the admin listener, which serves `GET /metrics` (Docs/observability.md) on a
    /// listener and worker thread of its own (default nil: no admin listener; 0 picks a free
    /// port, see `Server.adminAddress`).
    public var adminPort: Int?
    /// Numeric address of the admin listener (default 127.0.0.1).
    public var adminHost: String
    /// The bearer token the admin listener requires (`Authorization: Bearer <token>`; default
    /// nil: none). Required when `adminHost` is not a loopback address: the server refuses to
    /// start without one.
    public var adminToken: String?

    /// The defaults, with environment overrides.
    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
        self.workers = nil
        self.pinWorkers = nil
        self.limits = .fromEnvironment
        self.idleTimeout = .seconds(60)
        self.headTimeout = .seconds(10)
        self.bodyTimeout = .seconds(60)
        self.minimumBodyRate = 1024
        self.bodyRateGracePeriod = .seconds(5)
        self.writeTimeout = .seconds(30)
        self.maxConnectionsPerWorker = Environment.integer("SPINDLE_MAX_CONNECTIONS")
        self.lingeringCloseTimeout = .seconds(2)
        self.lingeringCloseMaxBytes = 64 << 10
        self.shutdownGracePeriod = .seconds(10)
        self.preallocatedRequests = 64
        self.socketSendBufferSize = nil
        self.collectsRequestMetrics = Environment.flag("SPINDLE_METRICS") ?? true
        self.adminPort = nil
        self.adminHost = "127.0.0.1"
        self.adminToken = nil
    }
}

extension ServerConfiguration {
    /// Descriptors kept out of the connection cap for everything else a server opens: an eighth
    /// of the limit, at least 32 and at most 1,024.
    public static func descriptorReserve(forLimit limit: Int) -> Int {
        min(1024, max(32, limit / 8))
    }

    /// The connection cap per worker this configuration gives with `workers` workers and a soft
    /// descriptor limit of `descriptorLimit` (see `maxConnectionsPerWorker`).
    public func connectionCapPerWorker(workers: Int, descriptorLimit: Int) -> Int {
        if let maxConnectionsPerWorker { return max(1, maxConnectionsPerWorker) }
        let limit = min(descriptorLimit, 1 << 24)
        return max(1, (limit - Self.descriptorReserve(forLimit: limit)) / max(1, workers))
    }
}

/// An HTTP/1.1 server: per-core workers, each with its own `SO_REUSEPORT` listener, I/O backend
/// (io_uring, or epoll where io_uring is denied) and scheduler; a fiber per request running a plain synchronous handler.
///
///     let router = Router<Handler>()
///     router.on(.get, "/plaintext") { _, _ in .text("Hello, World!") }
///     try Server(router: router, configuration: .init(port: 8080)).run()
public final class Server: Sendable {
    /// The configuration it runs with.
    public let configuration: ServerConfiguration
    private let router: Router<Handler>
    private let runtime: Runtime
    private let listeners: Mutex<[UnsafeSendableBox<TCPListener>]> = Mutex([])
    private let logger: Logger
    /// The workers' metrics, for the admin listener and `metricsHandler()`.
    let metrics = ServerMetrics()
    /// The admin listener, while the server runs (`configuration.adminPort`).
    let admin = AdminListener()

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

    /// Binds the listeners (one per worker, `SO_REUSEPORT`). Throws if the address is taken.
    private func bind() throws {
        let first = try TCPListener(host: configuration.host, port: configuration.port,
                                    sendBufferSize: configuration.socketSendBufferSize)
        var all = [UnsafeSendableBox(first)]
        for _ in 1..<runtime.configuration.workers {
            all.append(UnsafeSendableBox(try TCPListener(address: first.address, sendBufferSize: configuration.socketSendBufferSize)))
        }
        listeners.withLock { $0 = all }
    }

    /// Serves until `stop()` (or, with `handleSignals`, SIGTERM/SIGINT): then stops accepting,
    /// closes idle connections, lets requests in flight finish (up to the grace period) and
    /// returns. Blocks the calling thread. The signals are blocked in the calling thread and in
    /// every thread started after it, and taken by a watcher thread; a thread started before the
    /// call that leaves them unblocked would receive them with their default action (the
    /// process ends), so call `run` before starting threads of your own.
    public func run(handleSignals: Bool = true) throws {
        let (address, serve) = try prepare(handleSignals: handleSignals)
        logger.info("listening on http://\(address) with \(runtime.configuration.workers) workers")
        defer { admin.stopAndWait() }
        try runtime.run(serve)
    }

    /// Starts serving on background threads and returns once listening (for tests and
    /// embedding). `stop()` ends it; `wait()` blocks until it has. With `handleSignals`,
    /// SIGTERM/SIGINT stop it too (see `run`): they are blocked in the calling thread and in
    /// every thread started after it, and a watcher thread takes them; threads started before
    /// the call keep the default action (end the process), so call it before starting others.
    public func start(handleSignals: Bool = false) throws -> SocketAddress {
        let (address, serve) = try prepare(handleSignals: handleSignals)
        let logger = self.logger
        let thread = try OSThread.start(name: "spindle-server") { [runtime, admin] in
            do {
                try runtime.run(serve)
            } catch {
                logger.error("server stopped with error: \(error)")
            }
            admin.stopAndWait()
        }
        background.withLock { $0 = thread }
        return address
    }

    /// What `run` and `start` share: freezes the router, binds the listeners, starts the signal
    /// watcher when asked, and returns the listening address and what each worker runs (its
    /// accept loop on its own listener).
    private func prepare(handleSignals: Bool) throws -> (SocketAddress, @Sendable (Runtime.Worker) throws -> Void) {
        router.freeze()
        router.prepareResponder()
        let softLimitBefore = DescriptorLimit.current
        let descriptorLimit = DescriptorLimit.raiseToHardLimit()
        let workers = runtime.configuration.workers
        let connectionCap = configuration.connectionCapPerWorker(workers: workers, descriptorLimit: descriptorLimit)
        try bind()
        if handleSignals { SignalWatcher.start { [self] in stop() } }
        let all = listeners.withLock { $0 }
        do {
            try admin.start(configuration: configuration, metrics: metrics, backend: { [runtime] in runtime.backendChoice }, logger: logger)
        } catch {
            for listener in all { listener.value.close() }
            throw error
        }
        let router = self.router
        let configuration = self.configuration
        let logger = self.logger
        let runtime = self.runtime
        let metrics = self.metrics
        let limitNote = descriptorLimit == softLimitBefore ? "\(descriptorLimit)" : "\(descriptorLimit), raised from \(softLimitBefore)"
        return (all[0].value.address, { worker in
            if worker.index == 0, let choice = runtime.backendChoice {
                logger.info("\(choice); up to \(connectionCap) connections per worker (descriptor limit \(limitNote))")
            }
            let state = ServerWorker(index: worker.index, configuration: configuration, connectionCap: connectionCap,
                                     router: router, logger: logger, metrics: metrics)
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

    /// Stops gracefully (see `run`), the admin listener too. Safe from any thread, including handlers.
    public func stop() {
        runtime.stop()
        admin.stop()
    }
}

/// A value handed across threads whose use stays on one thread at a time by construction.
struct UnsafeSendableBox<Value>: @unchecked Sendable {
    // @unchecked Sendable: a listener is used by exactly one worker.
    let value: Value
    init(_ value: Value) { self.value = value }
}
