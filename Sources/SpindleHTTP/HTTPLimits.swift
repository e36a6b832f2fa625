import SpindleMemory

/// Size limits the request parser and body decoders enforce. Every field has a default and a
/// `SPINDLE_HTTP_*` environment override (read by `fromEnvironment`; `K`/`M`/`G` suffixes work).
///
/// | field                  | default | environment                         | exceeded → |
/// |------------------------|---------|-------------------------------------|------------|
/// | `maxRequestTargetLength` | 8 KiB | `SPINDLE_HTTP_MAX_TARGET_LENGTH`    | 414 |
/// | `maxHeaderBytes`       | 16 KiB  | `SPINDLE_HTTP_MAX_HEADER_BYTES`     | 431 |
/// | `maxHeaderCount`       | 100     | `SPINDLE_HTTP_MAX_HEADER_COUNT`     | 431 |
/// | `maxBodyBytes`         | 1 MiB   | `SPINDLE_HTTP_MAX_BODY_BYTES` (0 = unlimited) | 413 |
/// | `maxChunkLineLength`   | 4 KiB   | `SPINDLE_HTTP_MAX_CHUNK_LINE_LENGTH` | 400 |
///
/// The request line is bounded by `maxMethodLength` (32, fixed) + `maxRequestTargetLength` +
/// `HTTP/1.1`; the field section (first field line through the empty line) by `maxHeaderBytes`.
/// A receive buffer of `maxHeadLength` bytes therefore holds any acceptable head. A value type:
/// copying it costs nothing; reading the environment costs a `getenv` per field (startup only).
public struct HTTPLimits: Sendable, Equatable {
    /// Longest method token; longer ones get 501 (RFC 9112 §3: "a method longer than any that
    /// it implements"). The longest registered method (`UPDATEREDIRECTREF`) has 17 bytes.
    public static let maxMethodLength = 32

    /// Longest request-target in bytes; a longer one is rejected with 414 as soon as it is seen.
    public var maxRequestTargetLength: Int
    /// Largest field section in bytes: every field line with its CRLF plus the final CRLF.
    /// The trailer section of a chunked body has the same limit. Exceeded → 431.
    public var maxHeaderBytes: Int
    /// Most field lines in a head (and in a trailer section). Exceeded → 431. The parser
    /// preallocates one 16-byte slot per field, once, when it is created.
    public var maxHeaderCount: Int
    /// Largest body in bytes (declared `Content-Length`, or the decoded sum of chunks).
    /// Exceeded → 413. `0` means unlimited (as nginx's `client_max_body_size 0`).
    public var maxBodyBytes: Int
    /// Longest chunk-size line (hex digits and extensions, without the CRLF). Exceeded → 400.
    /// The chunk extensions of one body together may use at most `maxHeaderBytes` (→ 413).
    public var maxChunkLineLength: Int

    /// Creates limits; omitted fields take the defaults in the table above. Cost: none.
    public init(
        maxRequestTargetLength: Int = 8 << 10,
        maxHeaderBytes: Int = 16 << 10,
        maxHeaderCount: Int = 100,
        maxBodyBytes: Int = 1 << 20,
        maxChunkLineLength: Int = 4 << 10
    ) {
        precondition(maxRequestTargetLength >= 1, "HTTPLimits: maxRequestTargetLength must be >= 1")
        precondition(maxHeaderBytes >= 2, "HTTPLimits: maxHeaderBytes must be >= 2 (the empty line)")
        precondition(maxHeaderCount >= 1, "HTTPLimits: maxHeaderCount must be >= 1 (HTTP/1.1 needs Host)")
        precondition(maxBodyBytes >= 0, "HTTPLimits: maxBodyBytes must be >= 0 (0 = unlimited)")
        precondition(maxChunkLineLength >= 1, "HTTPLimits: maxChunkLineLength must be >= 1")
        precondition(maxRequestTargetLength < 1 << 30 && maxHeaderBytes < 1 << 30,
                     "HTTPLimits: heads are indexed with 32-bit offsets; keep maxRequestTargetLength and maxHeaderBytes below 1 GiB")
        self.maxRequestTargetLength = maxRequestTargetLength
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.maxChunkLineLength = maxChunkLineLength
    }

    /// The defaults of the table above, ignoring the environment. Cost: none.
    public static let `default` = HTTPLimits()

    /// The defaults, overridden by each `SPINDLE_HTTP_*` variable that is set. A malformed value
    /// stops the process naming the variable (see `Environment.integer`). Cost: five `getenv`
    /// calls and small String allocations; call it at startup, not per request.
    public static var fromEnvironment: HTTPLimits {
        var l = HTTPLimits()
        if let v = Environment.integer("SPINDLE_HTTP_MAX_TARGET_LENGTH") { l.maxRequestTargetLength = v }
        if let v = Environment.integer("SPINDLE_HTTP_MAX_HEADER_BYTES") { l.maxHeaderBytes = v }
        if let v = Environment.integer("SPINDLE_HTTP_MAX_HEADER_COUNT") { l.maxHeaderCount = v }
        if let v = Environment.integer("SPINDLE_HTTP_MAX_BODY_BYTES") { l.maxBodyBytes = v }
        if let v = Environment.integer("SPINDLE_HTTP_MAX_CHUNK_LINE_LENGTH") { l.maxChunkLineLength = v }
        // Re-run the checks of init on the overridden values.
        return HTTPLimits(maxRequestTargetLength: l.maxRequestTargetLength, maxHeaderBytes: l.maxHeaderBytes,
                          maxHeaderCount: l.maxHeaderCount, maxBodyBytes: l.maxBodyBytes,
                          maxChunkLineLength: l.maxChunkLineLength)
    }

    /// The most bytes an acceptable request head can occupy (leading empty lines aside):
    /// the longest request line plus the largest field section. Size receive buffers with it.
    public var maxHeadLength: Int {
        HTTPLimits.maxMethodLength + 1 + maxRequestTargetLength + 1 + 8 + 2 + maxHeaderBytes
    }

    /// True when `total` body bytes exceed `maxBodyBytes` (never when it is 0, unlimited).
    public func bodyExceeds(_ total: Int) -> Bool { maxBodyBytes != 0 && total > maxBodyBytes }
}
