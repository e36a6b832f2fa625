import HTTPTypes

/// Why a request was rejected: the response status to send and a reason people can act on.
///
/// Every error the parser or a body decoder reports ends the connection: after it the byte
/// stream's framing is unknown, and Spindle never resynchronises (that is how smuggling starts).
/// Send the status (`HTTPResponseWriter.writeError`), then close. A value of one byte; creating,
/// copying or comparing it costs nothing and allocates nothing.
public struct HTTPParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong, one case per rule.
    public let reason: Reason

    /// Creates an error for `reason`. Cost: none.
    @inlinable
    public init(_ reason: Reason) { self.reason = reason }

    /// The status to answer with (400, 413, 414, 417, 431, 501 or 505). Cost: none (statics).
    public var status: HTTPResponse.Status { reason.status }

    /// Always true: the parser never resynchronises after an error, so the connection must be
    /// closed after the error response. Kept as a property so callers need not know that.
    public var closesConnection: Bool { true }

    /// `400 Bad Request: Content-Length together with Transfer-Encoding`. Allocates a String.
    public var description: String { "\(status.code) \(status.reasonPhrase): \(reason.explanation)" }

    /// One case per rejection rule, grouped by where it is detected.
    public enum Reason: UInt8, Sendable, CaseIterable {
        // Request line.
        /// More than 8 empty lines (CRLF) before the request line. 400.
        case tooManyEmptyLines
        /// Empty method, or a byte that is not a token character in it. 400.
        case invalidMethod
        /// A method longer than `HTTPLimits.maxMethodLength`. 501 (RFC 9112 §3).
        case methodTooLong
        /// Empty request-target, a byte outside visible ASCII in it, or a form the method does
        /// not allow (not origin-, absolute- or asterisk-form). 400.
        case invalidRequestTarget
        /// `*` with a method other than OPTIONS. 400.
        case asteriskFormRequiresOPTIONS
        /// A request-target longer than `HTTPLimits.maxRequestTargetLength`. 414.
        case requestTargetTooLong
        /// CONNECT: Spindle is an origin server and does not tunnel. 501. (A CONNECT whose
        /// target is not authority-form is `invalidRequestTarget`, 400.)
        case connectNotSupported
        /// The version is not `HTTP/DIGIT.DIGIT`, or something else follows it. 400.
        case invalidVersion
        /// A well-formed version other than HTTP/1.x (HTTP/0.9, HTTP/2.0, …). 505.
        case unsupportedVersion

        // Line structure.
        /// A CR not followed by LF. 400.
        case bareCarriageReturn
        /// An LF not preceded by CR (Spindle requires CRLF everywhere). 400.
        case bareLineFeed

        // Field lines (head and trailers).
        /// A field line starting with SP or HTAB (obsolete line folding). 400.
        case lineFolding
        /// Whitespace between the request line and the first field line. 400.
        case whitespaceBeforeFirstField
        /// Whitespace between a field name and its colon. 400 (RFC 9112 §5.1 MUST).
        case whitespaceBeforeColon
        /// A non-token byte in a field name, or an empty name. 400.
        case invalidFieldName
        /// A field line without a colon. 400.
        case missingColon
        /// A control character (other than HTAB) or DEL in a field value. 400.
        case invalidFieldValue
        /// The field section is larger than `HTTPLimits.maxHeaderBytes`. 431.
        case headerSectionTooLarge
        /// More field lines than `HTTPLimits.maxHeaderCount`. 431.
        case tooManyFields

        // Field semantics.
        /// An HTTP/1.1 request without Host. 400 (RFC 9112 §3.2 MUST).
        case missingHost
        /// More than one Host field line. 400 (RFC 9112 §3.2 MUST).
        case duplicateHost
        /// A Host value that is not `uri-host [ ":" port ]`. 400.
        case invalidHost
        /// A Content-Length that is not a single decimal number (lists like `5, 6` and even
        /// `1,1` included: Spindle is strict), or one too large to represent. 400.
        case invalidContentLength
        /// More than one Content-Length field line, even with equal values. 400.
        case duplicateContentLength
        /// Both Content-Length and Transfer-Encoding. 400 (RFC 9112 §6.1 allows rejecting).
        case contentLengthWithTransferEncoding
        /// Transfer-Encoding in an HTTP/1.0 request (faulty framing, RFC 9112 §6.1). 400.
        case transferEncodingInHTTP10
        /// An empty or malformed Transfer-Encoding, chunked applied twice, or chunked with
        /// parameters. 400.
        case invalidTransferEncoding
        /// chunked present but not the final coding (e.g. `chunked, identity`). 400 (RFC 9112 §6.3 MUST).
        case chunkedNotFinal
        /// A transfer coding other than chunked (gzip, identity, …). 501 (RFC 9112 §6.1 SHOULD).
        case unsupportedTransferCoding
        /// An Expect value other than `100-continue` (HTTP/1.1 only). 417.
        case unsupportedExpectation
        /// The body is larger than `HTTPLimits.maxBodyBytes`. 413.
        case contentTooLarge

        // Chunked body.
        /// A chunk-size line that is not `1*HEXDIG [ ";" extensions ] CRLF` (`0x5`, `-1`,
        /// spaces, empty). 400.
        case invalidChunkSize
        /// A chunk size that does not fit in 63 bits. 400.
        case chunkSizeOverflow
        /// A chunk-size line longer than `HTTPLimits.maxChunkLineLength`. 400.
        case chunkLineTooLong
        /// A control character in a chunk extension. 400.
        case invalidChunkExtension
        /// The chunk extensions of one body exceed `HTTPLimits.maxHeaderBytes`. 413.
        case chunkExtensionsTooLarge
        /// Chunk data not followed by CRLF. 400.
        case invalidChunkTerminator
        /// The trailer section exceeds `maxHeaderBytes` or `maxHeaderCount`. 431.
        case trailerSectionTooLarge

        /// The status this reason is answered with. Cost: none.
        public var status: HTTPResponse.Status {
            switch self {
            case .methodTooLong, .connectNotSupported, .unsupportedTransferCoding: return .notImplemented
            case .requestTargetTooLong: return .uriTooLong
            case .unsupportedVersion: return .httpVersionNotSupported
            case .headerSectionTooLarge, .tooManyFields, .trailerSectionTooLarge: return .requestHeaderFieldsTooLarge
            case .contentTooLarge, .chunkExtensionsTooLarge: return .contentTooLarge
            case .unsupportedExpectation: return .expectationFailed
            default: return .badRequest
            }
        }

        /// A sentence saying what was wrong (a static string: no allocation).
        public var explanation: String {
            switch self {
            case .tooManyEmptyLines: return "too many empty lines before the request line"
            case .invalidMethod: return "invalid method token"
            case .methodTooLong: return "method longer than any implemented"
            case .invalidRequestTarget: return "invalid request-target"
            case .asteriskFormRequiresOPTIONS: return "the asterisk-form request-target is only for OPTIONS"
            case .requestTargetTooLong: return "request-target too long"
            case .connectNotSupported: return "CONNECT is not supported by this server"
            case .invalidVersion: return "invalid HTTP version"
            case .unsupportedVersion: return "HTTP version not supported (only HTTP/1.0 and HTTP/1.1)"
            case .bareCarriageReturn: return "CR not followed by LF"
            case .bareLineFeed: return "LF without CR (lines must end with CRLF)"
            case .lineFolding: return "obsolete line folding (field line starting with whitespace)"
            case .whitespaceBeforeFirstField: return "whitespace between the request line and the first field"
            case .whitespaceBeforeColon: return "whitespace between field name and colon"
            case .invalidFieldName: return "invalid character in field name"
            case .missingColon: return "field line without a colon"
            case .invalidFieldValue: return "control character in field value"
            case .headerSectionTooLarge: return "header section too large"
            case .tooManyFields: return "too many header fields"
            case .missingHost: return "HTTP/1.1 request without Host"
            case .duplicateHost: return "more than one Host field"
            case .invalidHost: return "invalid Host value"
            case .invalidContentLength: return "invalid Content-Length"
            case .duplicateContentLength: return "more than one Content-Length field"
            case .contentLengthWithTransferEncoding: return "Content-Length together with Transfer-Encoding"
            case .transferEncodingInHTTP10: return "Transfer-Encoding in an HTTP/1.0 request"
            case .invalidTransferEncoding: return "invalid Transfer-Encoding"
            case .chunkedNotFinal: return "chunked is not the final transfer coding"
            case .unsupportedTransferCoding: return "unsupported transfer coding (only chunked)"
            case .unsupportedExpectation: return "unsupported expectation (only 100-continue)"
            case .contentTooLarge: return "body too large"
            case .invalidChunkSize: return "invalid chunk size"
            case .chunkSizeOverflow: return "chunk size too large"
            case .chunkLineTooLong: return "chunk-size line too long"
            case .invalidChunkExtension: return "invalid chunk extension"
            case .chunkExtensionsTooLarge: return "chunk extensions too large"
            case .invalidChunkTerminator: return "chunk data not followed by CRLF"
            case .trailerSectionTooLarge: return "trailer section too large"
            }
        }
    }
}
