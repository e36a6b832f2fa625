import HTTPTypes
import SpindleHTTP

/// The request a handler serves. Its head points into the connection's receive buffer: valid
/// during the handler only (copy what you keep), and for all of it, whatever the client does
/// meanwhile (the lifetime rule atop `HTTPConnection.swift`). Strings and `HTTPFields` are made
/// on demand.
public struct Request {
    let head: HTTPRequestHead
    /// What serves the body and owns the bytes `head` points into.
    let source: RequestSource
    /// Which of the paths kept for the request being served (`ParserBox.rewrittenPaths`) a
    /// middleware gave this one (`path`'s setter); -1: none. An index, not the string: a
    /// `Request` holds nothing reference-counted, so passing, copying and dropping one costs
    /// no retain or release (a `String?` here cost ~40 instructions per request).
    private var rewrite: Int32 = -1

    /// Whether the body had failed before the handler ran (an announced length over the
    /// limit): `dispatch` answers it without routing.
    let bodyFailedBeforeRouting: Bool

    init(head: HTTPRequestHead, source: RequestSource, bodyFailedBeforeRouting: Bool) {
        self.head = head
        self.source = source
        self.bodyFailedBeforeRouting = bodyFailedBeforeRouting
    }

    /// The method (no allocation for standard methods).
    public var method: HTTPRequest.Method { head.method }

    /// The path of the target, without the query, as sent (percent-encoding kept; allocates a
    /// String). A middleware may set it before routing (global middleware) to route the request
    /// elsewhere; the query and the head's bytes stay as received.
    public var path: String {
        get { rewrittenPath ?? String(decoding: head.pathBeforeQuery, as: UTF8.self) }
        set {
            // (nil: the connection is gone under the handler; nothing will be answered)
            if let index = source.keepRewrittenPath(newValue), index <= Int(Int32.max) { rewrite = Int32(index) }
        }
    }

    /// Whether `path` was set: a check that reads no string. Routing uses the new path then.
    var isRewritten: Bool { rewrite >= 0 }

    /// The path a middleware set (`path`'s setter), nil when none did.
    var rewrittenPath: String? { rewrite < 0 ? nil : source.rewrittenPath(at: Int(rewrite)) }

    /// The request target as sent (path and query; allocates a String).
    public var target: String { head.targetString }

    /// The query string after `?` (allocates), or nil.
    public var query: String? {
        head.queryBytes.map { String(decoding: $0, as: UTF8.self) }
    }

    /// The first value of header `name` (case-insensitive), or nil. Allocates the String.
    public func header(_ name: String) -> String? {
        head.firstValue(named: name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// All header fields in the swift-http-types vocabulary (allocates).
    public var headerFields: HTTPFields { head.headerFields }

    /// The HTTP version.
    public var version: HTTPVersion { head.version }

    /// The request body, read in blocking style (parks the fiber while bytes are in flight).
    public var body: RequestBody { RequestBody(source: source) }

    /// Why the body could not be read (408, 400, 413), once a read failed or when the head
    /// already announced a body over the limit; nil otherwise.
    var bodyFailure: HTTPError? {
        switch source {
        case .connection(let connection): connection._withUnsafeGuaranteedRef { $0.bodyFailureError }
        case .memory(let exchange): exchange._withUnsafeGuaranteedRef { $0.bodyFailure }
        }
    }

    /// True when the connection is closing under this request (nobody will read the response).
    var isCancelled: Bool {
        switch source {
        case .connection(let connection): connection._withUnsafeGuaranteedRef { $0.isCancelling }
        case .memory: false
        }
    }
}

/// What serves a request's body and owns the bytes its head points into: the connection, or
/// a `MemoryExchange` (SpindleTesting's in-memory mode). Unmanaged (no reference counting): a
/// `Request` is valid only during its handler, while its source is kept alive by the fiber
/// serving it.
enum RequestSource {
    case connection(Unmanaged<HTTPConnection>)
    case memory(Unmanaged<MemoryExchange>)

    /// The body limit `readAll` applies by default: the route's own once routed to a route
    /// with one, else the server's.
    var maxBodyBytes: Int {
        switch self {
        case .connection(let connection): connection._withUnsafeGuaranteedRef { $0.parserBox?.exchange.maxBodyBytes ?? $0.worker.configuration.limits.maxBodyBytes }
        case .memory(let exchange): exchange._withUnsafeGuaranteedRef { $0.maxBodyBytes }
        }
    }

    /// Makes `maxBodyBytes` (a route's own limit; 0: none) the body's limit in place of the
    /// server's, and returns whether the body has failed before the handler: its announced
    /// length is over the new limit (or it failed for another reason before routing). A body
    /// refused only for its announced length under the server's limit is readable again when
    /// the new one allows it.
    func applyRouteBodyLimit(_ maxBodyBytes: Int) -> Bool {
        switch self {
        case .connection(let connection): connection._withUnsafeGuaranteedRef { $0.applyRouteBodyLimit(maxBodyBytes) }
        case .memory(let exchange): exchange._withUnsafeGuaranteedRef { $0.applyRouteBodyLimit(maxBodyBytes) }
        }
    }

    /// The parser box of the request being served, where its rewritten paths are kept (nil
    /// once its connection has given it back).
    private var parserBox: ParserBox? {
        switch self {
        case .connection(let connection): connection._withUnsafeGuaranteedRef { $0.parserBox }
        case .memory(let exchange): exchange._withUnsafeGuaranteedRef { $0.parserBox }
        }
    }

    /// Keeps `path` among the request's rewritten paths; returns its index (nil when the
    /// request's connection is gone). Allocates when the list grows.
    func keepRewrittenPath(_ path: String) -> Int? {
        guard let box = parserBox else { return nil }
        box.rewrittenPaths.append(path)
        return box.rewrittenPaths.count - 1
    }

    /// The rewritten path at `index` (`keepRewrittenPath`); nil when the request's paths are
    /// gone (a `Request` kept past its response: see the type's comment).
    func rewrittenPath(at index: Int) -> String? {
        guard let box = parserBox, index < box.rewrittenPaths.count else { return nil }
        return box.rewrittenPaths[index]
    }
}

/// Reads the request body: `Content-Length` or chunked, decoded. Sends `100 Continue` first
/// when the client asked for it. Reads park the fiber while the client's bytes are on their way.
/// Failures throw `HTTPError` and close the connection after the response: 408 when the body
/// does not arrive in time (`ServerConfiguration.bodyTimeout`, `minimumBodyRate`), 413 over the
/// configured limit, 400 for invalid framing or a client that closed before the end. Once one
/// has been thrown, later reads throw it again. A connection closed under the handler (reset,
/// shutdown) makes them throw `CancellationError`.
public struct RequestBody {
    let source: RequestSource  // valid during the handler (see Request)

    /// Reads up to `buffer.count` body bytes; 0 at the end of the body. May park the fiber.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        switch source {
        case .connection(let connection): try connection._withUnsafeGuaranteedRef { try $0.readBody(into: buffer) }
        case .memory(let exchange): try exchange._withUnsafeGuaranteedRef { try $0.readBody(into: buffer) }
        }
    }

    /// Reads up to `bytes.count` body bytes into the start of `bytes` (the array keeps its
    /// count); returns how many, 0 at the end of the body. Parks like `read(into:)`; no
    /// allocation when `bytes` is not shared: a loop that streams a body somewhere reuses one
    /// array.
    public func read(into bytes: inout [UInt8]) throws -> Int {
        try bytes.withUnsafeMutableBytes { try read(into: $0) }
    }

    /// Reads the whole body (at most `maxBytes`, default the body limit: the route's own when
    /// it has one, else the server's).
    public func readAll(maxBytes: Int? = nil) throws -> [UInt8] {
        let limit = maxBytes ?? source.maxBodyBytes
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return result }
            if limit > 0 && result.count + n > limit { throw HTTPError(.contentTooLarge, "request body over \(limit) bytes") }
            result.append(contentsOf: chunk[0..<n])
        }
    }
}
