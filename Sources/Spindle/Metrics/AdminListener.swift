import HTTPTypes
import Logging
import SpindleFibers
import SpindleIO
import SpindleMemory
import Synchronization

/// A server's admin listener (`ServerConfiguration.adminPort`): a `Server` of its own, with one
/// worker thread (not pinned) and a router serving `GET /metrics`, `GET /_spindle/fibers` and the
/// live page (`GET /_spindle/`, polling `GET /_spindle/stats`), so scrapes never take a
/// connection slot or a request count of the main port, and a main worker busy with requests
/// does not delay them beyond the time it takes to answer the scrape's posted copy. Started
/// and stopped with its server. Safe from any thread.
package final class AdminListener: Sendable {
    private let server = Mutex<Server?>(nil)

    /// Starts the admin server when `configuration.adminPort` is set (nothing otherwise);
    /// `routeNames` names the rows of the live page's route table (`Router.routeNames`).
    /// Throws `AdminListenerError` when the host is not loopback and no token is set, and what
    /// binding throws (the port is taken). Cost: a thread, a runtime of one worker.
    func start(configuration: ServerConfiguration, metrics: ServerMetrics, routeNames: [String],
               backend: @escaping @Sendable () -> IOBackendChoice?, logger: Logger) throws {
        guard let port = configuration.adminPort else { return }
        if configuration.adminToken == nil && !Self.isLoopback(configuration.adminHost) {
            throw AdminListenerError(host: configuration.adminHost)
        }
        let router = Router<Handler>()
        router.get("/metrics", MetricsEndpoint.handler(metrics: metrics, backend: backend, token: configuration.adminToken))
        router.get("/_spindle/fibers", FiberDumpEndpoint.handler(metrics: metrics, token: configuration.adminToken))
        router.get("/_spindle/heap-profile", HeapProfileEndpoint.handler(token: configuration.adminToken))
        router.get("/_spindle/", LivePageEndpoint.pageHandler(token: configuration.adminToken))
        router.get("/_spindle", LivePageEndpoint.redirectHandler(token: configuration.adminToken))
        router.get("/_spindle/stats", LivePageEndpoint.statsHandler(metrics: metrics, routeNames: routeNames, backend: backend,
                                                                    token: configuration.adminToken))
        var admin = ServerConfiguration(host: configuration.adminHost, port: port)
        admin.workers = 1
        admin.pinWorkers = false
        admin.preallocatedRequests = 4
        admin.maxConnectionsPerWorker = 64
        admin.collectsRequestMetrics = false
        admin.hogThreshold = nil  // the admin worker only answers scrapes; the main server has the watchdog
        var adminLogger = logger
        adminLogger[metadataKey: "listener"] = "admin"
        let adminServer = Server(router: router, configuration: admin, logger: adminLogger)
        let address = try adminServer.start(handleSignals: false)
        server.withLock { $0 = adminServer }
        logger.info("admin listener on http://\(address) (GET /metrics, GET /_spindle/fibers, the live page GET /_spindle/)")
    }

    /// The admin listener's address while it runs.
    var address: SocketAddress? { server.withLock { $0?.address } }

    /// Asks the admin server to stop (returns at once).
    func stop() {
        server.withLock { $0 }?.stop()
    }

    /// Stops the admin server and waits until it has (once; later calls return at once).
    func stopAndWait() {
        let stopping = server.withLock { server -> Server? in
            defer { server = nil }
            return server
        }
        stopping?.stop()
        stopping?.wait()
    }

    /// True for 127.0.0.0/8, `::1` and `localhost`.
    package static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}

/// The admin listener would be reachable from other hosts without a token.
public struct AdminListenerError: Error, CustomStringConvertible, Sendable {
    /// The non-loopback admin host.
    public let host: String

    /// What to do about it: set a token, or listen on loopback.
    public var description: String {
        "the admin listener on \(host) is not on a loopback address: set ServerConfiguration.adminToken (clients then send Authorization: Bearer <token>), or listen on 127.0.0.1"
    }
}

/// The `/metrics` handler: a scrape of one server's workers, as Prometheus text.
package enum MetricsEndpoint {
    /// The text format's content type (version 0.0.4).
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// A handler that scrapes `metrics` (parking its fiber until the workers answered) and
    /// answers 200 with the text; 503 when a worker did not answer in time, 401 without the
    /// right bearer `token` (when one is set).
    static func handler(metrics: ServerMetrics, backend: @escaping @Sendable () -> IOBackendChoice?, token: String?) -> Handler {
        { request, _ in
            try requireToken(token, request)
            do {
                return .bytes(try metrics.scrape(backend: backend()), contentType: contentType)
            } catch let error as ServerMetrics.ScrapeError {
                throw HTTPError(.serviceUnavailable, error.description)
            }
        }
    }

    /// Throws 401 (with `WWW-Authenticate: Bearer`) unless `request` carries `token` as a bearer
    /// token; nothing without a token.
    static func requireToken(_ token: String?, _ request: Request) throws {
        if let token, !authorized(request.header("authorization"), token: token) {
            throw HTTPError(.unauthorized, "a bearer token is required", headerFields: [.wwwAuthenticate: "Bearer realm=\"spindle\""])
        }
    }

    /// True when `authorization` is `Bearer <token>` (the scheme in any case). Compares every
    /// byte of equal-length tokens, so the time taken does not tell how much of a guess matched.
    package static func authorized(_ authorization: String?, token: String) -> Bool {
        guard let authorization else { return false }
        let scheme = "bearer "
        guard authorization.count > scheme.count, authorization.prefix(scheme.count).lowercased() == scheme else { return false }
        let given = Array(authorization.utf8.dropFirst(scheme.count))
        let expected = Array(token.utf8)
        guard given.count == expected.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<given.count { difference |= given[i] ^ expected[i] }
        return difference == 0
    }
}

/// The `/_spindle/fibers` handler: a fiber dump of one server's workers, as JSON, or as text
/// with `?format=text` or `Accept: text/plain`.
package enum FiberDumpEndpoint {
    /// A handler that asks every worker for its fibers (parking its fiber until all answered)
    /// and answers 200 with the dump; 503 when a worker did not answer in time (a handler
    /// running without parking holds it), 401 without the right bearer `token`.
    static func handler(metrics: ServerMetrics, token: String?) -> Handler {
        { request, _ in
            try MetricsEndpoint.requireToken(token, request)
            guard let dump = metrics.fiberDump() else {
                throw HTTPError(.serviceUnavailable, "a worker did not answer within \(metrics.scrapeTimeout) (a handler running without parking holds its worker)")
            }
            if wantsText(format: request.queryParameter("format"), accept: request.header("accept")) {
                return .bytes(Array(dump.text.utf8), contentType: "text/plain; charset=utf-8")
            }
            return .bytes(Array(dump.json.utf8), contentType: "application/json")
        }
    }

    /// True for `format=text`, or without a `format` an `Accept` naming `text/plain` first.
    package static func wantsText(format: String?, accept: String?) -> Bool {
        if let format { return format == "text" }
        guard let accept else { return false }
        return accept.lowercased().trimmingPrefix(while: { $0 == " " }).hasPrefix("text/plain")
    }
}

/// The live page (`GET /_spindle/`, `LivePage`) and the figures it polls (`GET /_spindle/stats`).
package enum LivePageEndpoint {
    /// A handler answering the page (a constant document; nothing is collected), 401 without
    /// the right bearer `token`. Allocates the response's copy of the bytes.
    static func pageHandler(token: String?) -> Handler {
        { request, _ in
            try MetricsEndpoint.requireToken(token, request)
            var response = Response.bytes(LivePage.bytes, contentType: LivePage.contentType)
            response.headerFields[.cacheControl] = "no-store"
            return response
        }
    }

    /// A handler redirecting `/_spindle` to `/_spindle/` (308), whose relative links the page
    /// uses; 401 without the right bearer `token`.
    static func redirectHandler(token: String?) -> Handler {
        { request, _ in
            try MetricsEndpoint.requireToken(token, request)
            return try .redirect(to: "/_spindle/", status: .permanentRedirect)
        }
    }

    /// A handler answering one sample of the live page's figures as JSON (`LiveStats`): it
    /// collects every worker's report as a scrape does (parking its fiber until all answered;
    /// 503 when one did not in time), with the fibers' states instead of the stacks'
    /// high-water marks, and reads the process's and the allocator's memory figures. 401
    /// without the right bearer `token`. Allocates.
    static func statsHandler(metrics: ServerMetrics, routeNames: [String], backend: @escaping @Sendable () -> IOBackendChoice?,
                             token: String?) -> Handler {
        { request, _ in
            try MetricsEndpoint.requireToken(token, request)
            do {
                let (report, workers) = try metrics.collect(fibers: .states)
                let stats = LiveStats(report: report, workers: workers, routeNames: routeNames, memory: .current(),
                                      allocator: Allocator.statistics(), backend: backend(),
                                      monotonicSeconds: Double(Deadline.now.nanoseconds) / 1e9)
                var response = Response.bytes(stats.json, contentType: "application/json")
                response.headerFields[.cacheControl] = "no-store"
                return response
            } catch let error as ServerMetrics.ScrapeError {
                throw HTTPError(.serviceUnavailable, error.description)
            }
        }
    }
}
