import Logging
import SpindleFibers

/// Logs one line per response once it is written, through swift-log: method, path, status,
/// body bytes, duration and request identifier (as metadata, at `info` by default). Not
/// installed unless added (`router.add(middleware: AccessLogMiddleware())`); the examples add
/// it, the benchmarks do not. Put `RequestIDMiddleware` before it to log the chosen identifier.
/// Cost per request: a clock read, a logger copy and the log call (its metadata allocates);
/// `make bench-http` measures it as a server of its own (Docs/benchmarks/http.md).
public struct AccessLogMiddleware: Middleware {
    /// The level of the lines.
    public let level: Logger.Level
    /// Where the lines go (nil: the server's logger).
    public let logger: Logger?

    /// Logs at `level` through `logger` (default: the server's logger, with the request id).
    public init(level: Logger.Level = .info, logger: Logger? = nil) {
        self.level = level
        self.logger = logger
    }

    /// Calls `next` and logs its response once written.
    public func respond(to request: Request, context: Context, next: Responder) throws -> Response {
        let started = Deadline.now
        var response = try next(request, context)
        let method = request.method.rawValue
        let path = request.path
        let identifier = context.requestIdentifier
        let logger = self.logger ?? context.serverLogger
        let level = self.level
        response.onWritten { written in
            let micros = (Deadline.now.nanoseconds &- started.nanoseconds) / 1_000
            logger.log(level: level, "\(method) \(path) \(written.status.code)", metadata: [
                "status": "\(written.status.code)", "bytes": "\(written.bodyBytes)",
                "duration_us": "\(micros)", "request": "\(identifier)",
            ])
        }
        return response
    }
}
