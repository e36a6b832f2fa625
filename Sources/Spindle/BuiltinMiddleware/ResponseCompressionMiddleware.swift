import HTTPTypes
import SpindleHTTP

/// Compresses response bodies with gzip (zlib) for clients that accept it.
///
/// A response is **eligible** when its status can carry a body and is not a partial one (not
/// 1xx, 204, 206 or 304), it has no `Content-Encoding` and no `Content-Range`, its
/// `Cache-Control` does not say `no-transform`, its `Content-Type` is compressible
/// (`isCompressible(contentType:)`: text, JSON, JavaScript, XML, SVG, …; never images, audio,
/// video, archives or WOFF fonts, which are compressed already), and its body is `.bytes` or
/// `.text` of at least `minimumBytes`, or `.stream` (size unknown) when `compressesStreams`.
/// An eligible response gets `Vary: Accept-Encoding` (its form depends on that field, so caches
/// must key on it), and is compressed when the request is not `HEAD` and its `Accept-Encoding`
/// prefers gzip (SpindleHTTP's `AcceptEncoding.prefersGzip`: `gzip;q=0` refuses, `*` counts, a
/// higher-weighted `identity` wins; a request without the field gets no coding).
///
/// Compressing sets `Content-Encoding: gzip`, turns a strong `ETag` weak (`W/"…"`: the bytes
/// differ from the uncompressed form's, the meaning does not), drops `Accept-Ranges` (ranges
/// of the uncompressed form would not apply) and any `Content-Length` (the server frames the
/// new body). A `.bytes`/`.text` body is compressed in one call, with a window sized to it;
/// when that does not make it smaller it is sent as it was (still with `Vary`). A `.stream`
/// body is compressed write by write through a bounded 16 KiB output window, each write
/// flushed (`Z_SYNC_FLUSH`) so the client can decode everything written so far, as it could
/// without compression. If zlib cannot start (no memory), the response goes uncompressed.
///
/// Add it as global middleware (`router.add(middleware: ResponseCompressionMiddleware())`), before
/// (outside) middleware that must see the uncompressed body. Runs in the request's fiber;
/// compression does not park (a streamed write parks as usual). Cost: per compressed response,
/// zlib's state (~38 KiB for a 2 KiB body, ~262 KiB for a stream) and the compressed copy, plus
/// the CPU of deflate at `level`; nothing for responses it skips but a few field lookups.
public struct ResponseCompressionMiddleware: Middleware {
    /// Bodies smaller than this are sent as they are (gzip's 18 bytes of framing and the CPU
    /// are not worth it).
    public let minimumBytes: Int
    /// zlib's compression level, 1 (fastest) … 9 (smallest).
    public let level: Int
    /// Whether `.stream` bodies (whose size is unknown) are compressed.
    public let compressesStreams: Bool

    /// The middleware. Defaults: bodies of at least 1 KiB, level 6 (zlib's default), streams
    /// included. `level` outside 1…9 stops the program (a configuration mistake).
    public init(minimumBytes: Int = 1024, level: Int = 6, compressesStreams: Bool = true) {
        precondition((1...9).contains(level), "ResponseCompressionMiddleware: level must be 1…9 (zlib's); 6 is its default")
        self.minimumBytes = minimumBytes
        self.level = level
        self.compressesStreams = compressesStreams
    }

    /// Calls `next`, then compresses its response when it is eligible and the client accepts gzip.
    public func respond(to request: Request, context: Context, next: Responder) throws -> Response {
        var response = try next(request, context)
        guard isEligible(response) else { return response }
        addVary(to: &response)
        guard request.method != .head, acceptsGzip(request) else { return response }
        switch response.body {
        case .empty:
            return response
        case .bytes(let bytes):
            guard let compressed = compressedIfSmaller(bytes) else { return response }
            markEncoded(&response)
            response.body = .bytes(compressed)
        case .text(var text):
            guard let compressed = text.withUTF8({ compressedIfSmaller(UnsafeRawBufferPointer($0)) }) else { return response }
            markEncoded(&response)
            response.body = .bytes(compressed)
        case .stream(let produce), .sizedStream(_, let produce):
            // (A sized body's length no longer holds once compressed: it goes out chunked.)
            guard let compressor = try? GzipCompressor(level: level) else { return response }
            markEncoded(&response)
            response.body = .stream { writer in
                let compressing = BodyWriter { chunk in
                    guard chunk.count > 0 else { return }
                    try compressor.compress(chunk, flush: .sync) { try writer.write($0) }
                }
                try produce(compressing)
                try compressor.compress(UnsafeRawBufferPointer(start: nil, count: 0), flush: .finish) { try writer.write($0) }
            }
        }
        return response
    }

    /// Whether `contentType` (a `Content-Type` value) is worth compressing: `text/*`;
    /// `application/json`, `javascript`, `ecmascript`, `xml`, `xhtml+xml`, `wasm`; any
    /// `+json` or `+xml` type (`image/svg+xml`, `application/ld+json`, …); `font/ttf`,
    /// `font/otf`. Everything else is taken as compressed already or binary (images, audio,
    /// video, archives, `font/woff2`, `application/octet-stream`). Cost: a lowercased copy.
    public static func isCompressible(contentType: String) -> Bool {
        let mediaType = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }
        let essence = String(Substring(mediaType)).lowercased().trimmingSpacesAndTabs()
        if essence.hasPrefix("text/") { return true }
        if essence.hasSuffix("+json") || essence.hasSuffix("+xml") { return true }
        switch essence {
        case "application/json", "application/javascript", "application/x-javascript", "application/ecmascript",
             "application/xml", "application/wasm", "font/ttf", "font/otf":
            return true
        default:
            return false
        }
    }

    private func isEligible(_ response: Response) -> Bool {
        let code = response.status.code
        guard code >= 200, code != 204, code != 206, code != 304 else { return false }
        let fields = response.headerFields
        guard fields[.contentEncoding] == nil, fields[.contentRange] == nil,
              let contentType = fields[.contentType], Self.isCompressible(contentType: contentType) else { return false }
        if fields[values: .cacheControl].contains(where: { Self.listContains($0, "no-transform") }) { return false }
        switch response.body {
        case .empty: return false
        case .bytes(let bytes): return bytes.count >= minimumBytes
        case .text(let text): return text.utf8.count >= minimumBytes
        case .stream: return compressesStreams
        case .sizedStream(let length, _): return compressesStreams && length >= minimumBytes
        }
    }

    private func acceptsGzip(_ request: Request) -> Bool {
        let values = request.fieldValues("accept-encoding")
        // Qualified: StaticFiles has an internal `AcceptEncoding` of its own in this module.
        return !values.isEmpty && SpindleHTTP.AcceptEncoding(fieldValues: values).prefersGzip
    }

    private func compressedIfSmaller(_ body: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let compressed = try? GzipCompressor.compress(body, level: level), compressed.count < body.count else { return nil }
        return compressed
    }

    private func compressedIfSmaller(_ bytes: [UInt8]) -> [UInt8]? {
        bytes.withUnsafeBytes { compressedIfSmaller($0) }
    }

    private func addVary(to response: inout Response) {
        let vary = response.headerFields[values: .vary]
        guard !vary.contains(where: { Self.listContains($0, "accept-encoding") || Self.listContains($0, "*") }) else { return }
        response.headerFields.append(HTTPField(name: .vary, value: "Accept-Encoding"))
    }

    private func markEncoded(_ response: inout Response) {
        response.headerFields[.contentEncoding] = "gzip"
        response.headerFields[.contentLength] = nil
        response.headerFields[.acceptRanges] = nil
        if let etag = response.headerFields[.eTag], etag.hasPrefix("\"") {
            response.headerFields[.eTag] = "W/" + etag
        }
    }

    /// Whether the comma-separated `list` has `member` (lowercase), ignoring case, spaces and
    /// directive arguments (`no-transform` in `max-age=60, No-Transform`).
    static func listContains(_ list: String, _ member: String) -> Bool {
        list.split(separator: ",").contains { item in
            let name = item.split(separator: "=", maxSplits: 1).first ?? item
            return Substring(name).trimmingSpaces.lowercased() == member
        }
    }
}

extension String {
    fileprivate func trimmingSpacesAndTabs() -> Substring { Substring(self).trimmingSpaces }
}
