import SpindleHTTP
import SpindleTLS

extension HTTPClient {
    /// The client's tunables. A value type; copying it costs nothing.
    ///
    /// | field | default | what it bounds |
    /// |---|---|---|
    /// | `connectTimeout` | 5 s | resolving the host and connecting, per new connection |
    /// | `headTimeout` | 30 s | from the first byte of the request sent to the last byte of the response head |
    /// | `bodyReadTimeout` | 30 s | each wait for response body bytes |
    /// | `totalTimeout` | none | the whole exchange: pool wait, connect, request, head, body, redirects |
    /// | `maxConnectionsPerHost` | 8 | open connections per (host, port); more callers park, first come first served |
    /// | `idleTimeout` | 60 s | how long an idle pooled connection may be kept |
    /// | `redirects` | `.none` | following 3xx responses (opt-in) |
    /// | `maxCollectedBodyBytes` | 8 MiB | bodies collected by `get` (and `collect()` without a limit) |
    /// | `limits` | `HTTPLimits.default` | response head size and field count |
    /// | `tls` | system trust store, TLS 1.2+ | `https` connections: the CAs trusted, the lowest version |
    public struct Configuration: Sendable {
        /// Longest time to resolve a host and connect one new connection.
        public var connectTimeout: Duration
        /// Longest time from sending a request to having the whole response head.
        public var headTimeout: Duration
        /// Longest wait for each read of the response body.
        public var bodyReadTimeout: Duration
        /// Longest time for a whole exchange, redirects and body included; nil for none.
        /// A `deadline` passed to `execute` takes its place for that call.
        public var totalTimeout: Duration?
        /// Most connections open to one (host, port) at once, in use or idle. A request that
        /// finds them all in use parks until one is released (FIFO).
        public var maxConnectionsPerHost: Int
        /// An idle connection older than this is closed instead of reused.
        public var idleTimeout: Duration
        /// Whether and how far redirects are followed.
        public var redirects: RedirectPolicy
        /// The body size `get` collects at most (and `collect()` when given no limit).
        public var maxCollectedBodyBytes: Int
        /// Limits on response heads (`maxHeaderBytes`, `maxHeaderCount`) and chunk lines.
        public var limits: HTTPLimits
        /// How `https` connections verify servers: the system's trust store by default, or
        /// only the CA certificates of a PEM file (`TLSClientConfiguration.caCertificatesPath`).
        /// The certificate must be valid for the host of the URL; the host is sent for SNI.
        public var tls: TLSClientConfiguration

        /// Creates a configuration; omitted fields take the defaults above. Cost: none.
        public init(connectTimeout: Duration = .seconds(5), headTimeout: Duration = .seconds(30),
                    bodyReadTimeout: Duration = .seconds(30), totalTimeout: Duration? = nil,
                    maxConnectionsPerHost: Int = 8, idleTimeout: Duration = .seconds(60),
                    redirects: RedirectPolicy = .none, maxCollectedBodyBytes: Int = 8 << 20,
                    limits: HTTPLimits = .default, tls: TLSClientConfiguration = TLSClientConfiguration()) {
            precondition(maxConnectionsPerHost >= 1, "HTTPClient.Configuration: maxConnectionsPerHost must be at least 1")
            precondition(maxCollectedBodyBytes >= 0, "HTTPClient.Configuration: maxCollectedBodyBytes must be >= 0")
            self.connectTimeout = connectTimeout
            self.headTimeout = headTimeout
            self.bodyReadTimeout = bodyReadTimeout
            self.totalTimeout = totalTimeout
            self.maxConnectionsPerHost = maxConnectionsPerHost
            self.idleTimeout = idleTimeout
            self.redirects = redirects
            self.maxCollectedBodyBytes = maxCollectedBodyBytes
            self.limits = limits
            self.tls = tls
        }
    }

    /// Whether the client follows redirects (`301`, `302`, `303`, `307`, `308` with a
    /// `Location`). Following one: `303` becomes a `GET` (a `HEAD` stays one) without a body,
    /// so does a `POST` answered by `301`/`302`; `307` and `308` repeat the method and the body
    /// (a streamed body cannot be repeated: that redirect response is returned as it is). A
    /// redirect to another host or port drops `Authorization`, `Proxy-Authorization` and
    /// `Cookie`. `http` and `https` locations are followed.
    public enum RedirectPolicy: Sendable, Equatable {
        /// Redirect responses are returned as they are (the default).
        case none
        /// Follow up to `max` redirects; one more throws `HTTPClientError` `.tooManyRedirects`.
        case follow(max: Int)
    }
}
