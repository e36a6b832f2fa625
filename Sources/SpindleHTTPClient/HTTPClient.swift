import HTTPTypes
import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleMemory
import SpindleTLS

/// A blocking-style HTTP/1.1 client for fibers: `execute` and `get` park the calling fiber
/// (never its worker thread) while the request goes out and the response comes back.
///
///     let client = HTTPClient()
///     let response = try client.get("http://127.0.0.1:8080/plaintext")
///     print(response.status, try response.body.collect())
///
/// **One client per worker.** A client belongs to the scheduler thread that first uses it: its
/// pooled connections are that worker's sockets, registered with that worker's I/O backend.
/// Using it from another worker stops the process with a message saying so; create one client
/// per worker (in `Runtime.run`'s body, or lazily per worker in a `FiberLocal`-like table).
/// The type is not `Sendable`, so the compiler refuses most cross-thread sharing already.
/// Any number of fibers of that worker may use it at once (see "fan-out" in
/// Docs/http-client.md).
///
/// **HTTPS.** `https` URLs go over TLS (OpenSSL, through SpindleTLS): the server's certificate
/// is verified against the system's trust store (or the CA file of `Configuration.tls`) and
/// the URL's host, which is also sent for SNI; the handshake parks like any other I/O and
/// counts against `connectTimeout`.
///
/// **Pooling.** Connections are kept per (host, port, `http` or `https`), at most `maxConnectionsPerHost` of
/// them; a request that finds them all busy parks until one is released, in arrival order.
/// A connection is reused only after its response was read to the end and the server kept it
/// alive; idle ones older than `idleTimeout` are closed when the pool is next used (there is no
/// timer fiber: a client left alone keeps its idle sockets until `closeIdleConnections()`,
/// its deinit, or the server closing them). A request that fails on a reused connection
/// because the server had closed it meanwhile (nothing of a response was received) is sent
/// again on a fresh one when its method is idempotent (or the request never went out) and its
/// body is repeatable.
///
/// **Deadlines.** `connectTimeout`, `headTimeout`, `bodyReadTimeout`, and a total deadline
/// for the whole exchange (`totalTimeout`, or the `deadline` argument). A cancelled fiber's
/// call throws `CancellationError`.
public final class HTTPClient {
    /// What the client counted since it was created (for tests and metrics). Cost: none.
    public struct Statistics: Sendable, Equatable {
        /// Connections opened (each after a successful connect).
        public var connectionsOpened = 0
        /// Exchanges that reused a pooled connection.
        public var connectionsReused = 0
        /// Requests sent (retries and redirects count again).
        public var requestsSent = 0
        /// Requests sent again on a fresh connection after a reused one turned out closed.
        public var retries = 0
    }

    /// The tunables this client was created with.
    public let configuration: Configuration
    /// Counts since creation.
    public private(set) var statistics = Statistics()
    private var pools: [PoolKey: ConnectionPool] = [:]
    /// The OpenSSL client context of `configuration.tls`, made on the first `https` connection.
    private var tlsContext: TLSClientContext? = nil
    /// The number of the scheduler this client belongs to, set on first use.
    private var owner: UInt64? = nil

    /// Creates a client. Nothing is connected until the first request. Cost: one allocation.
    /// Call anywhere; the client belongs to the worker that first uses it.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    deinit {
        for pool in pools.values { pool.closeIdle() }
    }

    /// Sends `request` with `body` and returns the response once its head has arrived; read
    /// the body from `response.body` (the connection returns to the pool when it is read to
    /// the end). Follows redirects when the configuration says so. `deadline` bounds the whole
    /// exchange, redirects and body included (default: `totalTimeout` from now, if set).
    ///
    /// The request needs an authority (`host[:port]`) and scheme `http` (or none) or `https`; its path is
    /// sent as is (percent-encode it first). `Host` comes from the authority; `Content-Length`
    /// or `Transfer-Encoding` from the body; the other fields are sent as given.
    ///
    /// Parks the calling fiber; call it from a fiber of the worker that owns the client. Throws
    /// `HTTPClientError`, `CancellationError`, or `OffloadRejectedError` (host lookup).
    /// Cost: the request head (an array), the response head's fields, the response objects;
    /// for a new connection a lookup (offloaded for names) and a connect, and for `https` a TLS
    /// handshake (OpenSSL's state and a 16 KiB buffer per connection; the client's OpenSSL
    /// context is made on its first `https` connection).
    public func execute(_ request: HTTPRequest, body: HTTPClientRequestBody = .empty, deadline: Deadline? = nil) throws -> HTTPClientResponse {
        checkOwner("execute")
        let deadlines = ExchangeDeadlines(configuration: configuration,
                                          total: deadline ?? configuration.totalTimeout.map { Deadline.now + $0 })
        var request = request
        var body = body
        var redirects = 0
        while true {
            let target = try RequestTarget(request)
            let response = try send(request, body: body, to: target, deadlines: deadlines)
            response.redirectCount = redirects
            guard case .follow(let max) = configuration.redirects,
                  let (nextRequest, nextBody) = try Redirect.next(after: response, to: request, body: body, from: target) else {
                return response
            }
            guard redirects < max else {
                response.body.discard(maxBytes: 0)
                throw HTTPClientError(.tooManyRedirects(redirects))
            }
            response.body.discard(maxBytes: 64 << 10)
            redirects += 1
            request = nextRequest
            body = nextBody
        }
    }

    /// `GET url` with the body collected (at most `maxBodyBytes`, default
    /// `maxCollectedBodyBytes`): the connection is back in the pool when this returns, and
    /// `response.body.collect()` returns the bytes without I/O. `url` is
    /// `http[s]://host[:port][/path][?query]`. Errors and cost as `execute`, plus the body.
    public func get(_ url: String, headerFields: HTTPFields = [:], maxBodyBytes: Int? = nil, deadline: Deadline? = nil) throws -> HTTPClientResponse {
        let parsed = try HTTPClientURL(url)
        let request = HTTPRequest(method: .get, scheme: parsed.secure ? "https" : "http", authority: parsed.authority,
                                  path: parsed.path, headerFields: headerFields)
        let response = try execute(request, deadline: deadline)
        try response.body.buffer(maxBytes: maxBodyBytes ?? configuration.maxCollectedBodyBytes)
        return response
    }

    /// Closes every idle pooled connection now (connections carrying a response close or
    /// return when their bodies end). Never parks. Call on the owning worker.
    public func closeIdleConnections() {
        checkOwner("closeIdleConnections")
        for pool in pools.values { pool.closeIdle() }
    }

    /// Connections open to `host:port` (in use or idle; `https` ones with `secure`), for tests
    /// and metrics. Cost: a lookup.
    public func openConnections(host: String, port: Int, secure: Bool = false) -> Int {
        pools[PoolKey(host: host.lowercased(), port: port, secure: secure)]?.openCount ?? 0
    }

    // MARK: - One request

    /// Sends one request (no redirect handling) and reads the response head, on a pooled or new
    /// connection; retries once per stale reused connection (see the type's documentation).
    private func send(_ request: HTTPRequest, body: HTTPClientRequestBody, to target: RequestTarget,
                      deadlines: ExchangeDeadlines) throws -> HTTPClientResponse {
        let pool = self.pool(for: target.key)
        while true {
            let lease = try deadlines.run(.poolWait, deadlines.total) { deadline in
                try pool.acquire(cap: configuration.maxConnectionsPerHost, idleTimeout: configuration.idleTimeout, deadline: deadline)
            }
            let connection: ClientConnection
            let reused: Bool
            switch lease {
            case .reuse(let pooled):
                connection = pooled
                reused = true
                statistics.connectionsReused += 1
            case .open:
                do { connection = try connect(target.key, deadlines: deadlines) } catch {
                    pool.release(nil, reusable: false)
                    throw error
                }
                connection.lease()
                reused = false
                statistics.connectionsOpened += 1
            }
            statistics.requestsSent += 1
            do {
                return try Exchange.run(request, body: body, authority: target.authority, on: connection, pool: pool, deadlines: deadlines)
            } catch let stale as StaleConnection {
                pool.release(connection, reusable: false)
                let idempotent = [.get, .head, .options, .trace, .put, .delete].contains(request.method)
                guard reused, body.isRepeatable, idempotent || !stale.requestSent else { throw stale.error }
                statistics.retries += 1
            } catch {
                pool.release(connection, reusable: false)
                throw error
            }
        }
    }

    /// Resolves and connects, trying each address of the host in order within `connectTimeout`.
    private func connect(_ key: PoolKey, deadlines: ExchangeDeadlines) throws -> ClientConnection {
        let deadline = deadlines.phase(configuration.connectTimeout)
        let addresses: [SocketAddress]
        do { addresses = try SocketAddress.lookUp(host: key.host, port: key.port) } catch let error as HostLookupError {
            throw HTTPClientError(.hostNotFound(error))
        }
        var lastError: IOError? = nil
        for address in addresses {
            if Deadline.now >= deadline { throw deadlines.timedOut(.connect, deadline) }
            do {
                let socket = try deadlines.run(.connect, deadline) { try TCPConnection.connect(to: address, deadline: $0) }
                try? socket.setNoDelay()
                guard key.secure else { return ClientConnection(transport: .plain(socket), key: key) }
                let stream = try handshake(on: socket, key: key, deadline: deadline, deadlines: deadlines)
                return ClientConnection(transport: .tls(stream), key: key)
            } catch let error as IOError {
                lastError = error
            }
        }
        throw HTTPClientError(.connectFailed(lastError ?? IOError("connect to \(key)", errno: 0)))
    }

    /// TLS on a new connection to `key`: the handshake within the connect deadline, the
    /// server's certificate verified for `key.host`. Closes the socket when it fails.
    private func handshake(on socket: TCPConnection, key: PoolKey, deadline: Deadline, deadlines: ExchangeDeadlines) throws -> TLSStream {
        do {
            let context: TLSClientContext
            if let tlsContext { context = tlsContext } else {
                context = try TLSClientContext(configuration: configuration.tls)
                tlsContext = context
            }
            let stream = try TLSStream(connecting: socket, context: context, serverName: key.host)
            try deadlines.run(.connect, deadline) { try stream.handshake(deadline: $0) }
            return stream
        } catch let error as TLSError {
            socket.close()
            throw HTTPClientError(.tls(error))
        } catch {
            socket.close()
            throw error
        }
    }

    private func pool(for key: PoolKey) -> ConnectionPool {
        if let pool = pools[key] { return pool }
        let pool = ConnectionPool(key: key)
        pools[key] = pool
        return pool
    }

    /// Binds the client to the calling worker on first use; stops with advice on another one.
    private func checkOwner(_ operation: String) {
        guard let scheduler = Scheduler.current else {
            misuse("HTTPClient.\(operation) must be called from a fiber on a Spindle worker (a Runtime.run body, a Server handler, or a fiber they spawned): it parks the fiber for I/O")
        }
        if let owner {
            misusePrecondition(owner == scheduler.number, """
                HTTPClient.\(operation) was called on worker scheduler #\(scheduler.number), but this client belongs to \
                scheduler #\(owner), the one that first used it (its pooled connections are that worker's sockets). \
                Create one HTTPClient per worker instead of sharing one.
                """)
        } else {
            owner = scheduler.number
        }
    }
}
