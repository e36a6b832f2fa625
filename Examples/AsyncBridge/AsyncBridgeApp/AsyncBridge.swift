import AsyncHTTPClient
import NIOCore
import NIOPosix
import ServiceLifecycle
import Spindle
import Synchronization

/// The async bridge: Spindle handlers (plain synchronous functions on fibers) calling an `async`
/// library, AsyncHTTPClient, through `Context.await`, which parks the request's fiber while a
/// Swift `Task` runs the call. `GET /fetch?path=/x` answers with the upstream's response to
/// `/x`; `GET /fan-out?path=/a&path=/b` calls several paths concurrently inside one async
/// closure; `GET /stats` counts the calls.
///
/// The app owns its HTTP client and the client's `MultiThreadedEventLoopGroup` (threads of
/// their own, made in `init`); `shutdown()` shuts both down. As a swift-service-lifecycle
/// `Service` it does so when the group shuts down: put it before the `Server` in the group's
/// services (they are shut down in reverse order), so the server has finished its requests
/// before the client goes away.
public final class AsyncBridge: Sendable {
    /// What the app calls and its bounds.
    public let configuration: AsyncBridgeConfiguration
    /// The app's AsyncHTTPClient: every worker's handlers share it (it is thread-safe; its
    /// connections live on the event loop group's threads, not on Spindle's workers).
    let client: HTTPClient
    private let eventLoopGroup: MultiThreadedEventLoopGroup
    private let lifecycle = Mutex(Lifecycle.running)
    private let counts = Mutex(AsyncBridgeStatistics())

    private enum Lifecycle {
        case running
        case shuttingDown
        case shutDown
    }

    /// Starts the event loop group (`configuration.eventLoopThreads` threads) and makes the
    /// client on it; nothing connects until a request needs it. Call `shutdown()` (or run the
    /// app as a `Service`) before dropping it: the threads live until then (and
    /// AsyncHTTPClient stops the process when its client is released without a shutdown).
    public init(configuration: AsyncBridgeConfiguration) {
        self.configuration = configuration
        eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoopThreads)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.timeout = .init(connect: .seconds(2), read: configuration.requestTimeAmount)
        clientConfiguration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: clientConfiguration)
    }

    /// A router with the app's routes and no middleware (allocates the router).
    public func router() -> Router<Handler> {
        let router = Router<Handler>()
        addRoutes(to: router)
        return router
    }

    /// Adds `GET /fetch`, `GET /fan-out` and `GET /stats` to `router` (before it serves).
    public func addRoutes(to router: Router<Handler>) {
        router.get("/fetch") { [self] request, context in
            guard let path = request.queryParameter("path") else { throw HTTPError(.badRequest, "Bad Request: expected ?path=/…") }
            return try fetchResponse(path: try Self.checked(path), context: context)
        }
        router.get("/fan-out") { [self] request, context in
            var paths = try request.queryParameters.all("path")
            if paths.isEmpty { paths = Self.defaultFanOutPaths }
            guard paths.count <= configuration.maxFanOutPaths else {
                throw HTTPError(.badRequest, "Bad Request: at most \(configuration.maxFanOutPaths) paths")
            }
            return try Self.json(try fanOut(paths: try paths.map(Self.checked), context: context))
        }
        router.get("/stats") { [self] _, _ in
            try Self.json(statistics)
        }
    }

    /// The upstream calls so far. Cost: a mutex; any thread.
    public var statistics: AsyncBridgeStatistics { counts.withLock { $0 } }

    /// True once `shutdown()` has finished: the client and its event loop threads are gone.
    /// Cost: a mutex; any thread.
    public var isShutDown: Bool {
        lifecycle.withLock { if case .shutDown = $0 { true } else { false } }
    }

    /// Shuts the client down (its idle connections closed; a call still running fails), then
    /// the event loop group, and returns once both have (the group's threads have ended). Call
    /// it after the server has stopped. Suspends; never blocks a thread. Only the first call
    /// does it; a later one returns at once.
    public func shutdown() async throws {
        let first = lifecycle.withLock { state -> Bool in
            guard case .running = state else { return false }
            state = .shuttingDown
            return true
        }
        guard first else { return }
        defer { lifecycle.withLock { $0 = .shutDown } }
        do {
            try await client.shutdown()
        } catch {
            try? await eventLoopGroup.shutdownGracefully()
            throw error
        }
        try await eventLoopGroup.shutdownGracefully()
    }

    /// Records how a call ended.
    func count(_ outcome: CallOutcome) {
        counts.withLock { statistics in
            switch outcome {
            case .succeeded: statistics.succeeded += 1
            case .failed: statistics.failed += 1
            case .cancelled: statistics.cancelled += 1
            }
        }
    }

    enum CallOutcome {
        case succeeded
        case failed
        case cancelled
    }

    /// What `GET /fan-out` calls when the request names no path: the demo upstream's slow
    /// answers (concurrent, so the whole takes about the slowest) and its hello.
    public static let defaultFanOutPaths = ["/slow/300", "/slow/200", "/hello"]

    private static func checked(_ path: String) throws(HTTPError) -> UpstreamPath {
        do {
            return try UpstreamPath(path)
        } catch {
            throw HTTPError(.badRequest, "Bad Request: \(error)")
        }
    }
}

extension AsyncBridge: Service {
    /// Waits for the service group's graceful shutdown (or the task's cancellation), then calls
    /// `shutdown()`. Suspends throughout; blocks no thread.
    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }
}

/// The upstream calls the app made, by how they ended (a fan-out counts each of its calls).
public struct AsyncBridgeStatistics: Sendable, Codable, Equatable {
    /// Calls that got a response and its body (whatever the status).
    public var succeeded = 0
    /// Calls that failed: no connection, a timeout, a body over the limit.
    public var failed = 0
    /// Calls cancelled before they ended: their request's fiber was cancelled (the client went
    /// away), which cancelled the task running them.
    public var cancelled = 0

    /// Zero calls.
    public init() {}
}
