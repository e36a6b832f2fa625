import HTTPTypes
import Logging
import SpindleIO

/// How a thrown error becomes a response. The server applies it where a handler or a
/// middleware throws, so every middleware outside sees a response, never an error:
///
/// | error | response |
/// |---|---|
/// | `HTTPError` | its status, message and header fields |
/// | an error reading the request body (408, 400, 413) — also when the handler wrapped it | that status |
/// | `DecodingError` | `400 Bad Request` naming the coding path, no internals |
/// | `OffloadRejectedError` (the offload queue is full) | `503 Service Unavailable`, `Retry-After: 1` |
/// | `CancellationError` (the connection is closing) | `503`, never sent: nobody is listening |
/// | anything else | `500 Internal Server Error (request <id>)`, and the error logged with the request id |
public enum ErrorResponses {
    /// The response for `error` thrown while serving `request`. Logs unexpected errors at
    /// `error` level with the request identifier. Cost: allocates the response text.
    public static func response(for error: any Error, request: Request, context: Context) -> Response {
        if let failure = request.bodyFailure {
            // A body read failed: that is what the client must hear, whatever the handler made of it.
            return .text(failure.message + "\n", status: failure.status)
        }
        switch error {
        case let error as HTTPError:
            var response = Response.text(error.message + "\n", status: error.status)
            for field in error.headerFields { response.headerFields.append(field) }
            return response
        case let error as DecodingError:
            return .text("Bad Request: \(describe(error))\n", status: .badRequest)
        case is OffloadRejectedError:
            var response = Response.text("Service Unavailable: the server is overloaded, retry shortly\n", status: .serviceUnavailable)
            response.headerFields[.retryAfter] = "1"
            return response
        case is CancellationError:
            return .text("Service Unavailable\n", status: .serviceUnavailable)
        default:
            let identifier = context.requestIdentifier
            if !request.isCancelled {
                context.logger.error("handler failed: \(error)", metadata: [
                    "method": "\(request.method.rawValue)", "path": "\(request.path)",
                ])
            }
            return .text("Internal Server Error (request \(identifier))\n", status: .internalServerError)
        }
    }

    /// A short, internals-free description of a decoding failure: where in the document and what.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "the document" : keys.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)): missing \(type) value"
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "\(parent == "the document" ? "" : parent + ".")\(key.stringValue): required field missing"
        case .dataCorrupted(let context): return "\(path(context)): invalid data"
        @unknown default: return "invalid data"
        }
    }
}
