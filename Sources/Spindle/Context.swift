import Logging
import SpindleFibers
import SpindleIO
import SpindleMemory

/// Per-request context handed to handlers: route parameters, a request id, a logger, and the
/// request arena. Valid during the handler.
public struct Context {
    /// Parameters captured by the route (`:id`, `*`).
    public let parameters: Parameters
    /// A per-worker unique request id (also in log lines).
    public let requestID: UInt64
    /// Request-lifetime memory, reset after the response: allocate here instead of the heap.
    public let arena: RequestArena
    let serverLogger: Logger
    private var replacedLogger: Logger? = nil

    init(parameters: Parameters, requestID: UInt64, serverLogger: Logger, arena: RequestArena) {
        self.parameters = parameters
        self.requestID = requestID
        self.serverLogger = serverLogger
        self.arena = arena
    }

    /// The server's logger with the request id as metadata (`request`). Built on each read
    /// until set (a logger copy and one metadata entry, which allocates): requests that never
    /// log never pay for it; keep it in a local when logging several times.
    public var logger: Logger {
        get {
            if let replacedLogger { return replacedLogger }
            var logger = serverLogger
            logger[metadataKey: "request"] = "\(requestID)"
            return logger
        }
        set { replacedLogger = newValue }
    }

    /// Runs a blocking call on the offload pool and parks this fiber until it returns.
    public func offload<T>(_ work: @escaping @Sendable () throws -> T) throws -> T {
        try Fiber.offload(work)
    }

    /// Runs async code and parks this fiber until it finishes.
    public func await<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
        try Fiber.await(operation)
    }
}

/// A request handler: a plain synchronous function running in its own fiber. It may block in
/// style (sleep, read the body, offload, await) — only its fiber parks. A thrown `HTTPError`
/// answers with its status; any other error answers 500 and is logged with the request id.
public typealias Handler = (Request, Context) throws -> Response
