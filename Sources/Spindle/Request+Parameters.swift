import HTTPTypes
import SpindleHTTP

// Query and form parameters of a request: `QueryParameters` (SpindleHTTP) over the target's
// query or the body. Queries are decoded leniently (as browsers send and read them), form bodies
// strictly; both within `QueryParameters.Limits.default` (1,000 pairs).
extension Request {
    /// The query's pairs (`?a=1&b=2&a=3`), in order, repeated names kept: `first`, `all`,
    /// `contains`, iteration. Lenient decoding: `+` is a space, invalid escapes stay as sent
    /// (`?q=50%off` gives `50%off`), invalid UTF-8 becomes U+FFFD. Throws `HTTPError` `400`
    /// past 1,000 pairs or 1 MiB (`QueryParameters.Limits.default`; answered as such unless
    /// caught). Parses the query on each read and allocates the pairs: keep it in a local when
    /// asking several times.
    public var queryParameters: QueryParameters {
        get throws(HTTPError) {
            do throws(QueryParametersError) {
                return try QueryParameters(parsing: queryBytes, decoding: .lenient, limits: .default)
            } catch {
                throw HTTPError(.badRequest, "Bad Request: query: \(error)")
            }
        }
    }

    /// The value of the first query parameter named `name` (decoded as `queryParameters`
    /// does), or nil. Scans the query without storing its pairs: no limit applies and nothing
    /// throws. Allocates the decoded names it compares and the value.
    public func queryParameter(_ name: String) -> String? {
        try? QueryParameters.firstValue(named: name, in: queryBytes, decoding: .lenient)
    }

    /// Reads the body as an `application/x-www-form-urlencoded` form and parses it strictly.
    /// Parks the fiber while the body arrives; allocates the body and the pairs.
    ///
    /// Throws `HTTPError`: `415 Unsupported Media Type` when `Content-Type` is missing or
    /// another media type (parameters such as `charset` are ignored; checked before reading);
    /// `413` for a body over `maxBytes` (default: the server's body limit) or more than 1,000
    /// pairs; `400` for an invalid escape or a name or value that is not UTF-8; and what reading
    /// the body throws (408, 400, 413, see `RequestBody`).
    public func formParameters(maxBytes: Int? = nil) throws -> QueryParameters {
        guard let contentType = header("content-type"), Request.isFormURLEncoded(contentType) else {
            throw HTTPError(.unsupportedMediaType, "Unsupported Media Type: expected Content-Type: application/x-www-form-urlencoded")
        }
        let body = try self.body.readAll(maxBytes: maxBytes)
        do throws(QueryParametersError) {
            // The body's size was bounded while reading it.
            return try QueryParameters(parsing: body, decoding: .strict, limits: .init(maxBytes: body.count))
        } catch {
            switch error {
            case .tooManyParameters, .tooLarge: throw HTTPError(.contentTooLarge, "Content Too Large: form: \(error)")
            case .invalidEscape, .invalidUTF8: throw HTTPError(.badRequest, "Bad Request: form: \(error)")
            }
        }
    }

    /// The bytes after the first `?` of the target (empty without a query). No allocation, no
    /// scan (`HTTPRequestHead.queryBytes`).
    var queryBytes: UnsafeRawBufferPointer {
        head.queryBytes ?? UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// True when the media type of a `Content-Type` value (before any `;`, without
    /// surrounding whitespace, any case) is `application/x-www-form-urlencoded`.
    static func isFormURLEncoded(_ contentType: String) -> Bool {
        let isWhitespace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var mediaType = Array(contentType.utf8.prefix { $0 != UInt8(ascii: ";") })
        while let last = mediaType.last, isWhitespace(last) { mediaType.removeLast() }
        let trimmed = mediaType.drop(while: isWhitespace)
        let expected = "application/x-www-form-urlencoded".utf8
        return trimmed.count == expected.count && zip(trimmed, expected).allSatisfy { byte, lowercase in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 == lowercase : byte == lowercase
        }
    }
}
