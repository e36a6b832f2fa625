import NIOCore

/// What the async bridge calls and its bounds: the upstream's base URL, the event loop threads
/// of its AsyncHTTPClient, the time one upstream call may take, and how much of a body it keeps.
/// Built once at startup; `Sendable` (every worker reads it).
public struct AsyncBridgeConfiguration: Sendable {
    /// Where `GET /fetch?path=/x` and `GET /fan-out` go: `path` is appended to this base URL.
    public var upstream: UpstreamBaseURL
    /// Threads of the `MultiThreadedEventLoopGroup` the app owns for its HTTP client (default 1:
    /// the client's I/O is light next to the server's, and each thread is an OS thread).
    public var eventLoopThreads: Int
    /// How long an upstream call may take to get the response head, connecting included
    /// (AsyncHTTPClient's request deadline), and the longest pause while its body is read (the
    /// client's read timeout); past either the call is `504 Gateway Timeout`.
    public var requestTimeout: Duration
    /// The most body bytes kept from one upstream response; a larger body is `502 Bad Gateway`.
    public var maxBodyBytes: Int
    /// The most paths one `GET /fan-out` may name (more is `400 Bad Request`).
    public var maxFanOutPaths: Int

    /// A configuration calling `upstream`. Defaults: one event loop thread, 10 s per call,
    /// bodies up to 1 MiB, at most 16 paths per fan-out. Stops with a message when a bound is
    /// not positive.
    public init(upstream: UpstreamBaseURL, eventLoopThreads: Int = 1, requestTimeout: Duration = .seconds(10),
                maxBodyBytes: Int = 1 << 20, maxFanOutPaths: Int = 16) {
        precondition(eventLoopThreads >= 1, "AsyncBridgeConfiguration: eventLoopThreads must be at least 1")
        precondition(requestTimeout > .zero, "AsyncBridgeConfiguration: requestTimeout must be positive")
        precondition(maxBodyBytes >= 0, "AsyncBridgeConfiguration: maxBodyBytes must be >= 0")
        precondition(maxFanOutPaths >= 1, "AsyncBridgeConfiguration: maxFanOutPaths must be at least 1")
        self.upstream = upstream
        self.eventLoopThreads = eventLoopThreads
        self.requestTimeout = requestTimeout
        self.maxBodyBytes = maxBodyBytes
        self.maxFanOutPaths = maxFanOutPaths
    }

    /// `requestTimeout` as NIO's `TimeAmount` (whole nanoseconds, saturating at about 292 years).
    var requestTimeAmount: TimeAmount {
        let (seconds, attoseconds) = requestTimeout.components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .nanoseconds(Int64.max) }
        let (total, overflowAgain) = nanoseconds.addingReportingOverflow(attoseconds / 1_000_000_000)
        return .nanoseconds(overflowAgain ? Int64.max : total)
    }
}

/// An upstream base URL: `http://host[:port][/prefix]` or `https://…`, without a query or a
/// fragment; a path to fetch is appended to it.
public struct UpstreamBaseURL: Sendable, Equatable, CustomStringConvertible {
    /// The URL without a trailing slash.
    public let base: String

    /// Parses `url`; throws `UpstreamBaseURLError` for another scheme, no host, a query or a
    /// fragment, or a character outside visible ASCII. Allocates the trimmed copy.
    public init(_ url: String) throws(UpstreamBaseURLError) {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw UpstreamBaseURLError(url: url, reason: "only http:// and https:// URLs are supported")
        }
        guard url.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw UpstreamBaseURLError(url: url, reason: "only visible ASCII characters are allowed (percent-encode the others)")
        }
        guard !url.contains("?"), !url.contains("#") else { throw UpstreamBaseURLError(url: url, reason: "no query or fragment allowed") }
        let afterScheme = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard afterScheme.count >= 3, !afterScheme[2].isEmpty, !afterScheme[2].contains("@") else {
            throw UpstreamBaseURLError(url: url, reason: "no host")
        }
        var trimmed = Substring(url)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        base = String(trimmed)
    }

    /// The URL of `path` (which starts with `/`) on this upstream. Allocates the string.
    public func url(of path: UpstreamPath) -> String { base + path.value }

    /// The base URL.
    public var description: String { base }
}

/// An upstream base URL the app cannot use, and why.
public struct UpstreamBaseURLError: Error, Sendable, CustomStringConvertible {
    /// The URL as given.
    public let url: String
    /// What is wrong with it.
    public let reason: String
    /// "invalid upstream URL …: reason".
    public var description: String { "invalid upstream URL \"\(url)\": \(reason)" }
}

/// A path (with an optional query) to fetch from the upstream, checked before it reaches the
/// HTTP client: it starts with `/`, is at most 2,048 bytes of visible ASCII and has no fragment.
/// What the client sent, so every check is a thrown error, never a trap.
public struct UpstreamPath: Sendable, Equatable, CustomStringConvertible {
    /// The longest path accepted, in bytes.
    public static let maxBytes = 2048
    /// The path as it goes on the request line.
    public let value: String

    /// Checks `value` (one pass over its bytes, no allocation); throws `UpstreamPathError`
    /// saying what is wrong.
    public init(_ value: String) throws(UpstreamPathError) {
        guard value.hasPrefix("/") else { throw UpstreamPathError(path: value, reason: "must start with /") }
        guard value.utf8.count <= Self.maxBytes else { throw UpstreamPathError(path: value, reason: "longer than \(Self.maxBytes) bytes") }
        guard value.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "#") }) else {
            throw UpstreamPathError(path: value, reason: "only visible ASCII without # is allowed (percent-encode the rest)")
        }
        self.value = value
    }

    /// The path.
    public var description: String { value }
}

/// A path the app will not fetch, and why (answered as `400 Bad Request`).
public struct UpstreamPathError: Error, Sendable, CustomStringConvertible {
    /// The path as given (at most its first 100 characters are shown).
    public let path: String
    /// What is wrong with it.
    public let reason: String
    /// "invalid path …: reason".
    public var description: String { "invalid path \"\(path.prefix(100))\": \(reason)" }
}
