import SpindleHTTP
import SpindleHTTPClient

/// What the gateway calls: the dashboard's parts, the proxy's upstream, the per-call deadline,
/// and the HTTP client's settings. Built once at startup; `Sendable` (every worker reads it).
public struct GatewayConfiguration: Sendable {
    /// The upstreams `GET /dashboard/:user` calls in parallel, each answered as one part.
    public var parts: [DashboardPartSource]
    /// How long each dashboard call may take, connecting, waiting and reading included; a part
    /// not complete by then is reported `"timeout"`. The dashboard answers within about this.
    public var partDeadline: Duration
    /// Where `GET /proxy/*` goes: `/proxy/a/b?q` is fetched from the base URL's path followed by
    /// `/a/b?q`. Nil: the proxy route answers `404`.
    public var proxyUpstream: UpstreamURL?
    /// The most body bytes the proxy holds at once per response: it reads at most this much
    /// from the upstream, writes it to the client (parking until the kernel took it), then
    /// reads again.
    public var proxyBufferBytes: Int
    /// The most body bytes a dashboard part may have (a larger part is an error).
    public var maxPartBytes: Int
    /// The settings of each worker's `HTTPClient` (pool size, connect/head/body timeouts for
    /// the proxy; the dashboard's calls are bounded by `partDeadline` as well).
    public var client: HTTPClient.Configuration

    /// A configuration with these parts and proxy upstream. Defaults: 250 ms per part, a
    /// 64 KiB proxy buffer, parts up to 1 MiB, a client with a 2 s connect timeout and 16
    /// connections per upstream.
    public init(parts: [DashboardPartSource], proxyUpstream: UpstreamURL? = nil, partDeadline: Duration = .milliseconds(250),
                proxyBufferBytes: Int = 64 << 10, maxPartBytes: Int = 1 << 20,
                client: HTTPClient.Configuration = HTTPClient.Configuration(connectTimeout: .seconds(2), headTimeout: .seconds(30),
                                                                            bodyReadTimeout: .seconds(30), maxConnectionsPerHost: 16)) {
        precondition(proxyBufferBytes > 0, "GatewayConfiguration: proxyBufferBytes must be positive")
        precondition(maxPartBytes >= 0, "GatewayConfiguration: maxPartBytes must be >= 0")
        self.parts = parts
        self.proxyUpstream = proxyUpstream
        self.partDeadline = partDeadline
        self.proxyBufferBytes = proxyBufferBytes
        self.maxPartBytes = maxPartBytes
        self.client = client
    }
}

/// One part of the dashboard: its name in the answer and the URL it comes from, where
/// `{user}` stands for the user of the request (percent-encoded as one path segment).
public struct DashboardPartSource: Sendable, Equatable {
    /// The part's key in the dashboard's `parts`.
    public let name: String
    /// `http://host:port/path`, with `{user}` where the user goes.
    public let urlTemplate: String

    /// A part named `name` fetched from `urlTemplate`. Throws `UpstreamURLError` when the
    /// template is not a plain `http` URL.
    public init(name: String, urlTemplate: String) throws(UpstreamURLError) {
        _ = try UpstreamURL(urlTemplate.replacingOccurrences(of: "{user}", with: "user"))
        self.name = name
        self.urlTemplate = urlTemplate
    }

    /// Parses `NAME=URL` (the command line's `--part`).
    public init(argument: String) throws(UpstreamURLError) {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else {
            throw UpstreamURLError(url: argument, reason: "expected NAME=http://host:port/path")
        }
        try self.init(name: String(argument[..<equals]), urlTemplate: String(argument[argument.index(after: equals)...]))
    }

    /// The URL for `user`. Allocates the string.
    public func url(for user: String) -> String {
        urlTemplate.replacingOccurrences(of: "{user}", with: PercentEncoding.encode(user, for: .pathSegment))
    }
}

/// A plain-`http` base URL: `http://host[:port][/path]`, split into what a request needs.
public struct UpstreamURL: Sendable, Equatable, CustomStringConvertible {
    /// `host[:port]`.
    public let authority: String
    /// The path without a trailing slash (empty for none).
    public let pathPrefix: String

    /// Parses `url`; throws `UpstreamURLError` for another scheme, no host, a query or fragment.
    public init(_ url: String) throws(UpstreamURLError) {
        guard url.hasPrefix("http://") else { throw UpstreamURLError(url: url, reason: "only http:// URLs are supported") }
        let rest = url.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        authority = String(rest[..<slash])
        var path = rest[slash...]
        guard !authority.isEmpty, !authority.contains("@") else { throw UpstreamURLError(url: url, reason: "no host") }
        guard !path.contains("?"), !path.contains("#") else { throw UpstreamURLError(url: url, reason: "no query or fragment allowed") }
        while path.hasSuffix("/") { path = path.dropLast() }
        pathPrefix = String(path)
    }

    /// The URL as given (without a trailing slash).
    public var description: String { "http://\(authority)\(pathPrefix)" }
}

/// An upstream URL the gateway cannot use, and why.
public struct UpstreamURLError: Error, Sendable, CustomStringConvertible {
    /// The URL as given.
    public let url: String
    /// What is wrong with it.
    public let reason: String
    /// "invalid upstream URL …: reason".
    public var description: String { "invalid upstream URL \"\(url)\": \(reason)" }
}
