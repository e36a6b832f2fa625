/// Why a response head was rejected by `HTTPResponseParser`: one case per rule, and a sentence
/// people can act on. A client that gets one closes the connection (the byte stream's framing
/// is unknown after it, and no parser resynchronises). A value of one byte; creating, copying
/// or comparing it costs nothing and allocates nothing.
public struct HTTPResponseParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong.
    public let reason: Reason

    /// Creates an error for `reason`. Cost: none.
    public init(_ reason: Reason) { self.reason = reason }

    /// `invalid response: Content-Length together with Transfer-Encoding`. Allocates a String.
    public var description: String { "invalid response: \(reason.explanation)" }

    /// One case per rejection rule, grouped by where it is detected.
    public enum Reason: UInt8, Sendable, CaseIterable {
        // Status line.
        /// The line does not start with `HTTP/DIGIT.DIGIT` followed by one space.
        case invalidVersion
        /// A well-formed version other than HTTP/1.x (HTTP/2.0, HTTP/0.9, …).
        case unsupportedVersion
        /// The status code is not three digits from 100 to 599.
        case invalidStatusCode
        /// A control character (other than HTAB) or DEL in the reason phrase.
        case invalidReasonPhrase
        /// A status line longer than `HTTPResponseParser.maxStatusLineLength`.
        case statusLineTooLong

        // Line structure.
        /// A CR not followed by LF.
        case bareCarriageReturn
        /// An LF not preceded by CR (CRLF is required everywhere).
        case bareLineFeed

        // Field lines.
        /// A field line starting with SP or HTAB (obsolete line folding).
        case lineFolding
        /// Whitespace between the status line and the first field line.
        case whitespaceBeforeFirstField
        /// Whitespace between a field name and its colon (RFC 9112 §5.1).
        case whitespaceBeforeColon
        /// A non-token byte in a field name, or an empty name.
        case invalidFieldName
        /// A field line without a colon.
        case missingColon
        /// A control character (other than HTAB) or DEL in a field value.
        case invalidFieldValue
        /// The field section is larger than `HTTPLimits.maxHeaderBytes`.
        case headerSectionTooLarge
        /// More field lines than `HTTPLimits.maxHeaderCount`.
        case tooManyFields

        // Framing.
        /// A Content-Length that is not a single decimal number (lists such as `5, 5` included,
        /// as on the request side), or one too large to represent.
        case invalidContentLength
        /// More than one Content-Length field line, even with equal values.
        case duplicateContentLength
        /// Both Content-Length and Transfer-Encoding (RFC 9112 §6.1: a server must not send both).
        case contentLengthWithTransferEncoding
        /// Transfer-Encoding in an HTTP/1.0 response (faulty framing, RFC 9112 §6.1).
        case transferEncodingInHTTP10
        /// An empty or malformed Transfer-Encoding, chunked applied twice, or chunked with parameters.
        case invalidTransferEncoding
        /// chunked present but not the final coding (`chunked, gzip`).
        case chunkedNotFinal
        /// A transfer coding other than chunked (`gzip, chunked`): this parser decodes chunked only.
        case unsupportedTransferCoding

        /// A sentence saying what was wrong (a static string: no allocation).
        public var explanation: String {
            switch self {
            case .invalidVersion: return "the status line does not start with HTTP/DIGIT.DIGIT and a space"
            case .unsupportedVersion: return "HTTP version not supported (only HTTP/1.0 and HTTP/1.1)"
            case .invalidStatusCode: return "the status code is not three digits from 100 to 599"
            case .invalidReasonPhrase: return "control character in the reason phrase"
            case .statusLineTooLong: return "status line too long"
            case .bareCarriageReturn: return "CR not followed by LF"
            case .bareLineFeed: return "LF without CR (lines must end with CRLF)"
            case .lineFolding: return "obsolete line folding (field line starting with whitespace)"
            case .whitespaceBeforeFirstField: return "whitespace between the status line and the first field"
            case .whitespaceBeforeColon: return "whitespace between field name and colon"
            case .invalidFieldName: return "invalid character in field name"
            case .missingColon: return "field line without a colon"
            case .invalidFieldValue: return "control character in field value"
            case .headerSectionTooLarge: return "header section too large"
            case .tooManyFields: return "too many header fields"
            case .invalidContentLength: return "invalid Content-Length"
            case .duplicateContentLength: return "more than one Content-Length field"
            case .contentLengthWithTransferEncoding: return "Content-Length together with Transfer-Encoding"
            case .transferEncodingInHTTP10: return "Transfer-Encoding in an HTTP/1.0 response"
            case .invalidTransferEncoding: return "invalid Transfer-Encoding"
            case .chunkedNotFinal: return "chunked is not the final transfer coding"
            case .unsupportedTransferCoding: return "unsupported transfer coding (only chunked)"
            }
        }
    }
}
