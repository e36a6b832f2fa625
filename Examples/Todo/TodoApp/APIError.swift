import Foundation
import HTTPTypes
import Spindle

/// An error the todo API answers with a JSON body instead of plain text:
/// `{"error":"invalid field","field":"title","reason":"must not be empty"}` for a validation
/// failure (`422`), `{"error":"todo 7 not found"}` otherwise. Handlers throw it; `TodoRoutes`
/// turns it into the response (`response`). Anything else a handler throws is answered by
/// Spindle's `ErrorResponses` as usual (a body over the limit: `413`; the offload queue full: `503`).
public struct APIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The response status.
    public let status: HTTPResponse.Status
    /// What went wrong, for people.
    public let message: String
    /// The request field at fault (`title`, `done`, or an unknown field's name), for `422`.
    public let field: String?
    /// Why the field was refused, for `422`.
    public let reason: String?

    /// `422 Unprocessable Content` naming `field` and `reason`.
    public static func invalidField(_ field: String, _ reason: String) -> APIError {
        APIError(status: .unprocessableContent, message: "invalid field", field: field, reason: reason)
    }

    /// `404 Not Found` for the todo `id` (as given in the path).
    public static func notFound(id: String) -> APIError {
        APIError(status: .notFound, message: "todo \(id) not found", field: nil, reason: nil)
    }

    /// `400 Bad Request` with `message`.
    public static func badRequest(_ message: String) -> APIError {
        APIError(status: .badRequest, message: message, field: nil, reason: nil)
    }

    /// `415 Unsupported Media Type`: the API reads `application/json` only.
    public static let unsupportedMediaType = APIError(status: .unsupportedMediaType,
                                                      message: "the body must be application/json", field: nil, reason: nil)

    /// The status code and the message (with the field and reason when there are).
    public var description: String {
        "\(status.code) \(message)" + (field.map { " \($0)" } ?? "") + (reason.map { ": \($0)" } ?? "")
    }

    /// The JSON response (allocates the encoded body).
    public var response: Response {
        TodoJSON.response(Body(error: message, field: field, reason: reason), status: status)
    }

    /// The body's shape (nil fields are left out).
    private struct Body: Encodable {
        let error: String
        let field: String?
        let reason: String?
    }
}

/// The API's JSON encoding: keys sorted, dates in ISO-8601 (`2026-12-03T10:15:00Z`).
public enum TodoJSON {
    /// An `application/json` response with `value` encoded. A value the encoder refuses (none
    /// of the API's types can be) becomes a `500`. Cost: a `JSONEncoder` and the encoded bytes.
    public static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        guard let data = try? encoder.encode(value) else {
            return .text("Internal Server Error: response not encodable\n", status: .internalServerError)
        }
        return Response(status: status, headerFields: [.contentType: "application/json"], body: .bytes(Array(data)))
    }

    /// A decoder reading what `response` writes (for clients and tests).
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
