import SpindleHTTP
import SpindleMemory
import SpindleTLS

/// Server tunables; each has a default here and a `SPINDLE_*` environment override where noted.
/// `ServerConfiguration(config:)` reads every field from a swift-configuration `ConfigReader`
/// instead (environment variables, command-line arguments, files); `Docs/configuration.md` lists
/// the keys.
public struct ServerConfiguration: Sendable {
    /// Address to listen on (default 127.0.0.1): a numeric IPv4 or IPv6 address (`0.0.0.0`,
    /// `::1`) or a host name (`localhost`), resolved when the server binds; the first resolved
    /// address that binds is used (see `TCPListener.init(host:port:)`).
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
    /// The CPU-hog watchdog's threshold: a worker that runs one fiber (or its loop) this long
    /// without a context switch is reported once, with the fiber, its request and a backtrace,
    /// in the log (warning) and `spindle_fiber_hogs_total` (Docs/observability.md). Nothing is
    /// stopped. Default 100 ms; nil or zero turns the watchdog off (`SPINDLE_HOG_THRESHOLD_MS`,
    /// 0 for off). Cost: one thread waking every quarter threshold.
    public var hogThreshold: Duration?
    /// How often each worker gives back the memory a load spike left behind: pooled buffers,
    /// parsers and arenas, recycled fibers and warm stacks that no request needed since the
    /// last trim (down to `preallocatedRequests` and the stack pool's initial count), then the
    /// allocator's free memory (Docs/memory.md, "Memory given back"). Default 5 s; nil or zero
    /// keeps everything the pools' limits allow. Cost: a wake-up of each worker's timeout
    /// fiber per interval.
    public var memoryTrimInterval: Duration?
    /// Worker processes (default 1: the process that calls `run()` serves; `SPINDLE_PROCESSES`).
    /// More than 1 makes the blocking `run()` a pre-fork supervisor: it binds the listeners,
    /// forks this many processes of `workers` worker threads each, restarts those that die, and
    /// stops or replaces them on SIGTERM/SIGINT or SIGHUP. See Docs/processes.md.
    public var processes: Int
    /// How the supervisor restarts worker processes and when it gives up (`processes` > 1).
    public var supervision: SupervisorConfiguration
    /// TLS termination (nil, the default: plain HTTP). With a configuration, every connection
    /// of the listener speaks HTTPS: the certificates are read when the server starts (which
    /// throws `TLSError` naming a missing file or a key that does not match), and each
    /// connection is served by a fiber of its own through a simpler path than plain HTTP's
    /// (see Docs/tls.md for what it supports and what it costs).
    public var tls: TLSConfiguration? = nil

    /// The defaults, with environment overrides: `SPINDLE_HTTP_*` (see `HTTPLimits.fromEnvironment`)
    /// `SPINDLE_MAX_CONNECTIONS`, `SPINDLE_METRICS`, `SPINDLE_HOG_THRESHOLD_MS` and `SPINDLE_PROCESSES`; `SPINDLE_WORKERS` and `SPINDLE_PIN_WORKERS` are read by the
    /// runtime when `workers`/`pinWorkers` are nil. A malformed value stops the process naming the
    /// variable (`ServerConfiguration(config:)` throws instead). Cost: a few `getenv` calls.
    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.init(defaultsWithHost: host, port: port)
        self.limits = .fromEnvironment
        self.maxConnectionsPerWorker = Environment.integer("SPINDLE_MAX_CONNECTIONS")
        self.collectsRequestMetrics = Environment.flag("SPINDLE_METRICS") ?? true
        self.processes = Environment.integer("SPINDLE_PROCESSES") ?? 1
        if let milliseconds = Environment.integer("SPINDLE_HOG_THRESHOLD_MS") {
            self.hogThreshold = milliseconds > 0 ? .milliseconds(milliseconds) : nil
        }
    }

    /// The defaults alone, reading no environment variable.
    init(defaultsWithHost host: String, port: Int) {
        self.host = host
        self.port = port
        self.workers = nil
        self.pinWorkers = nil
        self.limits = .default
        self.idleTimeout = .seconds(60)
        self.headTimeout = .seconds(10)
        self.bodyTimeout = .seconds(60)
        self.minimumBodyRate = 1024
        self.bodyRateGracePeriod = .seconds(5)
        self.writeTimeout = .seconds(30)
        self.maxConnectionsPerWorker = nil
        self.lingeringCloseTimeout = .seconds(2)
        self.lingeringCloseMaxBytes = 64 << 10
        self.shutdownGracePeriod = .seconds(10)
        self.preallocatedRequests = 64
        self.socketSendBufferSize = nil
        self.collectsRequestMetrics = true
        self.adminPort = nil
        self.adminHost = "127.0.0.1"
        self.adminToken = nil
        self.hogThreshold = .milliseconds(100)
        self.memoryTrimInterval = .seconds(5)
        self.processes = 1
        self.supervision = SupervisorConfiguration()
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
