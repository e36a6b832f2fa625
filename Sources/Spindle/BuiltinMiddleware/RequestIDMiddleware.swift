import HTTPTypes

/// Gives every request an identifier: the client's (or the front proxy's) `X-Request-Id` when
/// it is present and sane (1–128 visible ASCII characters), else a new one made of the worker's
/// request number and a per-process random prefix. Stores it in the context
/// (`Context.requestIdentifier`, also the `request` metadata of `Context.logger`) and echoes it
/// in the response's `X-Request-Id`. Add it before `AccessLogMiddleware` so the log has it.
/// Cost: two small strings per request.
public struct RequestIDMiddleware: Middleware {
    /// The header read and written.
    public static let header = HTTPField.Name("X-Request-Id")!
    /// Random per process, so identifiers of restarted servers do not collide.
    private static let processPrefix: String = {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        return String(value & 0xFFFF_FFFF, radix: 16)
    }()

    /// Creates the middleware.
    public init() {}

    /// Stores the identifier in the context, calls `next`, and adds the header to its response.
    public func respond(to request: Request, context: Context, next: Responder) throws -> Response {
        let identifier: String
        if let incoming = request.header("x-request-id"), Self.isAcceptable(incoming) {
            identifier = incoming
        } else {
            identifier = Self.processPrefix + "-" + String(context.requestID, radix: 16)
        }
        var context = context
        context.storage[RequestIdentifierKey.self] = identifier
        var response = try next(request, context)
        response.headerFields[Self.header] = identifier
        return response
    }

    /// 1–128 bytes of visible ASCII (no spaces, no control bytes): safe to log and to echo.
    static func isAcceptable(_ value: String) -> Bool {
        let bytes = value.utf8
        return !bytes.isEmpty && bytes.count <= 128 && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}
