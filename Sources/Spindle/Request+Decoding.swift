import Foundation
import HTTPTypes
import SpindleHTTP

// Reading a request as a typed value: a JSON body into a `Decodable`, the head as a
// swift-http-types `HTTPRequest`.
extension Request {
    /// The JSON body decoded as `type`. Reads the whole body first (parks the fiber while it
    /// arrives), at most `maxBytes` (nil: the server's `limits.maxBodyBytes`).
    ///
    /// Answers, as `HTTPError`s (which become the response when not caught):
    /// - `415 Unsupported Media Type` unless `Content-Type` is `application/json` or an
    ///   `application/…+json` type (parameters such as `charset` allowed), checked before the body
    ///   is read. A request **without** `Content-Type` is refused too: browsers send a cross-site
    ///   `fetch` with a typeless body without a CORS preflight, so accepting it would let any
    ///   site post JSON with the user's cookies; requiring the type makes such requests preflighted.
    /// - `400 Bad Request` for an empty body, malformed JSON, or JSON that does not fit `type`,
    ///   with a short reason naming where (`items.2.price: expected Double`) and no internals.
    /// - The body's own failures as they are: `413` over the limit, `408` too slow, `400` bad
    ///   framing.
    ///
    /// Errors a `Decodable` initialiser throws itself (other than `DecodingError`) pass
    /// through. Cost: the body's bytes (one array, grown while read) and a `Data` copy of them,
    /// the decoder's allocations; a new `JSONDecoder()` per call by default (~0.1 µs to make,
    /// less than the ~0.3 µs of finding one kept per thread; Docs/benchmarks/json.md).
    public func decode<T: Decodable>(_ type: T.Type = T.self, using decoder: JSONDecoder = JSONDecoder(),
                                     maxBytes: Int? = nil) throws -> T {
        guard let contentType = header("content-type"), Self.isJSON(contentType: contentType) else {
            throw HTTPError(.unsupportedMediaType, "Unsupported Media Type: expected Content-Type application/json")
        }
        let bytes = try body.readAll(maxBytes: maxBytes)
        guard !bytes.isEmpty else { throw HTTPError(.badRequest, "Bad Request: empty body, expected JSON") }
        do {
            return try decoder.decode(type, from: Data(bytes))
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                throw HTTPError(.badRequest, "Bad Request: malformed JSON")
            }
            throw HTTPError(.badRequest, "Bad Request: \(ErrorResponses.describe(error))")
        }
    }

    /// Whether `contentType` names JSON: `application/json` or `application/<name>+json`,
    /// case-insensitive, parameters ignored.
    static func isJSON(contentType: String) -> Bool {
        let mediaType = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }
        let essence = String(Substring(mediaType)).trimmingCharacters(in: .whitespaces).lowercased()
        guard essence.hasPrefix("application/") else { return false }
        let subtype = essence.dropFirst("application/".count)
        return subtype == "json" || (subtype.hasSuffix("+json") && subtype.count > "+json".count)
    }

    /// The request head in the swift-http-types vocabulary: `method`; `scheme` nil, since the
    /// server cannot know what the client used in front of a proxy (but the scheme of an
    /// absolute-form target, which the client stated); `authority` from `Host` (or the
    /// absolute-form target); `path` the target as sent, query included (not a path a
    /// middleware rewrote); `headerFields` every field except `Host`. Cost: allocates the
    /// strings and the fields' storage on each read.
    public var httpRequest: HTTPRequest {
        var request = HTTPRequest(head)
        if head.targetForm != .absolute { request.scheme = nil }
        return request
    }
}
