import Logging
import SpindleFibers
import SpindleIO
import SpindleMemory

/// Per-request context handed to middleware and handlers: route parameters, a request id, a
/// logger, the request arena, and typed storage for what middleware computes. A value: a
/// middleware that sets something passes its copy to `next`, and everything inside sees it.
/// Valid during the request.
public struct Context {
    /// Parameters captured by the route (`:id`, `*`); empty in global middleware, which runs
    /// before routing.
    public internal(set) var parameters: Parameters
    /// A per-worker unique request number (also in log lines unless `requestIdentifier` is set).
    public let requestID: UInt64
    /// Request-lifetime memory, reset after the response: allocate here instead of the heap.
    public var arena: RequestArena { scope.arena }
    /// Values middleware stored for the handlers after it (`context[Key.self]`).
    public var storage = ContextStorage()
    /// The arena and the server's logger, in one object: one reference to count where the
    /// context is made and destroyed, not two.
    let scope: RequestScope
    var serverLogger: Logger { scope.logger }
    private var replacedLogger: Logger? = nil

    init(parameters: Parameters = Parameters(), requestID: UInt64, scope: RequestScope) {
        self.parameters = parameters
        self.requestID = requestID
        self.scope = scope
    }

    /// The value stored under `key`, or nil. Cost: a short linear search, no allocation.
    public subscript<Key: ContextKey>(key: Key.Type) -> Key.Value? {
        get { storage[key] }
        set { storage[key] = newValue }
    }

    /// The request's identifier as logged and answered: the one `RequestIDMiddleware` chose
    /// (an incoming `X-Request-Id` or a new one) when that middleware runs, else `requestID` in
    /// decimal. Allocates the string.
    public var requestIdentifier: String {
        storage[RequestIdentifierKey.self] ?? String(requestID)
    }

    /// The server's logger with the request identifier as metadata (`request`). Built on each
    /// read until set (a logger copy and one metadata entry, which allocates): requests that
    /// never log never pay for it; keep it in a local when logging several times.
    public var logger: Logger {
        get {
            if let replacedLogger { return replacedLogger }
            var logger = serverLogger
            logger[metadataKey: "request"] = "\(requestIdentifier)"
            return logger
        }
        set { replacedLogger = newValue }
    }

    /// Runs a blocking call on the offload pool and parks this fiber until it returns. Throws
    /// `OffloadRejectedError` when the pool's queue is full (answered `503` with `Retry-After`
    /// when not caught).
    public func offload<T>(_ work: @escaping @Sendable () throws -> T) throws -> T {
        try Fiber.offload(work)
    }

    /// Runs async code and parks this fiber until it finishes.
    public func await<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
        try Fiber.await(operation)
    }
}

/// A request's arena and the server's logger: what a `Context` holds of its server. A worker
/// pools them (each with its arena, reset when given back); a `MemoryExchange` is given one.
final class RequestScope {
    let arena: RequestArena
    let logger: Logger

    init(arena: RequestArena = RequestArena(), logger: Logger) {
        self.arena = arena
        self.logger = logger
    }
}

/// A key of `Context` storage: its type is the key, `Value` the type stored under it.
///
///     enum CurrentUser: ContextKey { typealias Value = User }
///     // in a middleware:  var context = context; context[CurrentUser.self] = user
///     // in a handler:     let user = context[CurrentUser.self]
public protocol ContextKey {
    /// The type of the value stored under this key.
    associatedtype Value
}

/// Typed values keyed by `ContextKey` types: what `Context` carries from middleware to
/// handlers. Empty costs nothing; the first value allocates a small array, which copies of the
/// context share until one of them changes it.
public struct ContextStorage {
    private var entries: [(key: ObjectIdentifier, value: Any)] = []

    /// Empty storage.
    public init() {}

    /// The value stored under `key`, or nil; setting nil removes it.
    public subscript<Key: ContextKey>(key: Key.Type) -> Key.Value? {
        get {
            let id = ObjectIdentifier(key)
            for entry in entries where entry.key == id {
                return entry.value as? Key.Value  // always succeeds: only this subscript stores under `id`
            }
            return nil
        }
        set {
            let id = ObjectIdentifier(key)
            if let index = entries.firstIndex(where: { $0.key == id }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((id, newValue))
            }
        }
    }

    /// Whether nothing is stored.
    public var isEmpty: Bool { entries.isEmpty }
}

/// Where `RequestIDMiddleware` keeps the identifier it chose.
enum RequestIdentifierKey: ContextKey {
    typealias Value = String
}

/// A request handler: a plain synchronous function running in its own fiber. It may block in
/// style (sleep, read the body, offload, await): only its fiber parks. A thrown `HTTPError`
/// answers with its status; see `ErrorResponses` for the others. `@Sendable`: every worker
/// thread runs the same handlers, so what they capture must be safe to share.
public typealias Handler = Responder
