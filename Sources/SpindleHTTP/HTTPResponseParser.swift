import HTTPTypes

/// The outcome of one `HTTPResponseParser.parseHead` call.
public enum HTTPResponseHeadParseResult: Sendable {
    /// The head is not complete yet: call again with the same bytes plus what arrives next.
    case incomplete
    /// A complete head, occupying the first `consumed` bytes of the input; the body (as
    /// `head.framing` says) or, after an interim 1xx, the next head starts there.
    case complete(HTTPResponseHead, consumed: Int)
    /// The response is invalid: close the connection.
    case error(HTTPResponseParseError)
}

/// An incremental parser of HTTP/1.x response heads (RFC 9112 §4–§6), the client-side mirror
/// of `HTTPRequestParser` with the same rules: CRLF only, no obsolete line folding, no
/// whitespace before a colon, token field names, field values without control characters,
/// limits on the status line, the field section and the field count; one Content-Length (no
/// lists, no duplicates); Transfer-Encoding only `chunked`, last and once, never together with
/// Content-Length nor in HTTP/1.0.
///
/// Feeding: pass the bytes received so far for the current head, from its first byte. After
/// `.incomplete`, call again with a slice that starts with the *same* bytes (the array may have
/// moved or grown) followed by new ones; each byte is scanned once however the input is split.
/// After `.complete`, the next call starts a new head (pass the bytes after `consumed`). After
/// `.error`, every call returns the same error until `reset()`.
///
/// The framing depends on the request: give the method that the response answers (HEAD
/// responses have no body). Never traps on any input: indices are checked and counts are
/// bounded by the limits. Memory: the fields of a complete head are copied out (one `HTTPFields`
/// with a String per name and value); while scanning, nothing is allocated but that.
/// A value type; not thread-safe (one per connection).
public struct HTTPResponseParser: Sendable {
    /// Longest status line accepted, without its CRLF: `HTTP/1.1 200 ` and a reason phrase of
    /// up to 1,011 bytes.
    public static let maxStatusLineLength = 1024

    /// The limits this parser enforces: `maxHeaderBytes` and `maxHeaderCount` (the others are
    /// request-side limits and body limits, which the caller applies to the body).
    public let limits: HTTPLimits
    var state = ResponseScanState()
    var failure: HTTPResponseParseError? = nil

    /// Creates a parser. Cost: none.
    public init(limits: HTTPLimits = .default) {
        self.limits = limits
    }

    /// Forgets any partial head and any error. Cost: releases the fields parsed so far.
    public mutating func reset() {
        state = ResponseScanState()
        failure = nil
    }

    /// Bytes of the current, incomplete head already scanned (0 between heads). Cost: none.
    public var bytesScanned: Int { state.position }

    /// Parses the head at the start of `bytes`, resuming where the previous `.incomplete` call
    /// stopped, for a response to a request with `requestMethod`. A slice shorter than what was
    /// already scanned is a misuse, reported as `.incomplete` after a reset would be wrong; it
    /// stops with a message instead (it is the caller's bug, not the peer's).
    /// Cost: one pass over the new bytes; on completion, the allocation of the fields.
    public mutating func parseHead(_ bytes: ArraySlice<UInt8>, requestMethod: HTTPRequest.Method) -> HTTPResponseHeadParseResult {
        if let failure { return .error(failure) }
        precondition(bytes.count >= state.position,
                     "HTTPResponseParser: the input shrank below the \(state.position) bytes already scanned; pass the head's bytes again from its first byte")
        switch scan(bytes) {
        case .incomplete:
            return .incomplete
        case .failed(let reason):
            let error = HTTPResponseParseError(reason)
            failure = error
            return .error(error)
        case .complete(let consumed):
            let head = makeHead(requestMethod: requestMethod, length: consumed)
            state = ResponseScanState()
            switch head {
            case .success(let head): return .complete(head, consumed: consumed)
            case .failure(let error):
                failure = error
                return .error(error)
            }
        }
    }
}

// MARK: - State

/// Where the scanner is within a response head.
enum ResponsePhase: UInt8 {
    case version, statusCode, afterStatusCode, reason, statusLineLF
    case lineStart, name, valueLeadingWhitespace, value, valueLF, endLF
}

/// Everything the scanner needs to resume, as offsets from the head's first byte, plus the
/// fields completed so far.
struct ResponseScanState: Sendable {
    var phase = ResponsePhase.version
    var position = 0
    var minor: UInt8 = 0
    var statusCode = 0
    var reasonStart = 0, reasonEnd = 0
    var reason = ""
    var fieldsStart = 0
    var nameStart = 0, nameEnd = 0, valueStart = 0, valueEnd = 0
    var fields = HTTPFields()
    var fieldCount = 0
    var framing = ResponseFramingFields()
}

enum ResponseScanResult {
    case incomplete
    case complete(Int)
    case failed(HTTPResponseParseError.Reason)
}

/// Byte classes for safe code: the shared 256-entry table, indexed by a byte (always in range).
enum ResponseBytes {
    @inline(__always)
    static func isClass(_ c: UInt8, _ flag: UInt8) -> Bool { ByteClass.table[Int(c)] & flag != 0 }
}

// MARK: - The scanner

extension HTTPResponseParser {
    /// The state machine: one pass over the bytes not yet scanned, each loop bounded by a limit.
    /// Byte-resumable: stopping anywhere and resuming with more bytes gives the same result.
    mutating func scan(_ bytes: ArraySlice<UInt8>) -> ResponseScanResult {
        let base = bytes.startIndex
        let end = bytes.count
        var i = state.position
        defer { state.position = i }
        @inline(__always) func byte(_ k: Int) -> UInt8 { bytes[base + k] }
        while true {
            switch state.phase {
            case .version:
                // "HTTP/1.1 " exactly: 9 bytes, checked as they come.
                while i < min(end, 9) {
                    let c = byte(i)
                    let ok: Bool = switch i {
                    case 0: c == 0x48
                    case 1, 2: c == 0x54
                    case 3: c == 0x50
                    case 4: c == ASCII.slash
                    case 5, 7: c &- ASCII.zero < 10
                    case 6: c == 0x2E
                    default: c == ASCII.sp
                    }
                    guard ok else { return .failed(c == ASCII.lf ? .bareLineFeed : .invalidVersion) }
                    i += 1
                }
                guard i == 9 else { return .incomplete }
                guard byte(5) == 0x31 else { return .failed(.unsupportedVersion) }
                state.minor = byte(7) &- ASCII.zero
                state.phase = .statusCode

            case .statusCode:
                while i < min(end, 12) {
                    let d = byte(i) &- ASCII.zero
                    guard d < 10 else { return .failed(byte(i) == ASCII.lf ? .bareLineFeed : .invalidStatusCode) }
                    state.statusCode = state.statusCode * 10 + Int(d)
                    i += 1
                }
                guard i == 12 else { return .incomplete }
                guard (100...599).contains(state.statusCode) else { return .failed(.invalidStatusCode) }
                state.phase = .afterStatusCode

            case .afterStatusCode:
                // `SP reason-phrase` (the phrase may be empty), or CRLF at once: RFC 9112 §4
                // requires the space, but `HTTP/1.1 200\r\n` is unambiguous and common.
                guard i < end else { return .incomplete }
                let c = byte(i)
                i += 1
                if c == ASCII.sp {
                    state.reasonStart = i
                    state.phase = .reason
                } else if c == ASCII.cr {
                    state.reasonStart = i - 1
                    state.reasonEnd = i - 1
                    state.phase = .statusLineLF
                } else {
                    return .failed(c == ASCII.lf ? .bareLineFeed : .invalidStatusCode)
                }

            case .reason:
                let limit = Self.maxStatusLineLength
                let stop = min(end, limit)
                while i < stop && ResponseBytes.isClass(byte(i), ByteClass.fieldValue) { i += 1 }
                guard i < end else { return i >= limit ? .failed(.statusLineTooLong) : .incomplete }
                let c = byte(i)
                guard c == ASCII.cr else {
                    if i >= limit { return .failed(.statusLineTooLong) }
                    return .failed(c == ASCII.lf ? .bareLineFeed : .invalidReasonPhrase)
                }
                state.reasonEnd = i
                i += 1
                state.phase = .statusLineLF

            case .statusLineLF:
                guard i < end else { return .incomplete }
                guard byte(i) == ASCII.lf else { return .failed(.bareCarriageReturn) }
                state.reason = String(decoding: bytes[(base + state.reasonStart)..<(base + state.reasonEnd)], as: UTF8.self)
                i += 1
                state.fieldsStart = i
                state.phase = .lineStart

            case .lineStart:
                guard i < end else { return .incomplete }
                if i - state.fieldsStart >= limits.maxHeaderBytes { return .failed(.headerSectionTooLarge) }
                let c = byte(i)
                if ResponseBytes.isClass(c, ByteClass.token) {
                    if state.fieldCount == limits.maxHeaderCount { return .failed(.tooManyFields) }
                    state.nameStart = i
                    i += 1
                    state.phase = .name
                } else if c == ASCII.cr {
                    i += 1
                    state.phase = .endLF
                } else if ResponseBytes.isClass(c, ByteClass.whitespace) {
                    return .failed(state.fieldCount == 0 ? .whitespaceBeforeFirstField : .lineFolding)
                } else {
                    return .failed(c == ASCII.lf ? .bareLineFeed : .invalidFieldName)
                }

            case .name:
                let limit = state.fieldsStart + limits.maxHeaderBytes
                let stop = min(end, limit)
                while i < stop && ResponseBytes.isClass(byte(i), ByteClass.token) { i += 1 }
                guard i < end else { return .incomplete }
                if i >= limit { return .failed(.headerSectionTooLarge) }
                let c = byte(i)
                guard c == ASCII.colon else {
                    if ResponseBytes.isClass(c, ByteClass.whitespace) { return .failed(.whitespaceBeforeColon) }
                    if c == ASCII.cr || c == ASCII.lf { return .failed(.missingColon) }
                    return .failed(.invalidFieldName)
                }
                state.nameEnd = i
                i += 1
                state.phase = .valueLeadingWhitespace

            case .valueLeadingWhitespace:
                let limit = state.fieldsStart + limits.maxHeaderBytes
                let stop = min(end, limit)
                while i < stop && ResponseBytes.isClass(byte(i), ByteClass.whitespace) { i += 1 }
                guard i < end else { return .incomplete }
                if i >= limit { return .failed(.headerSectionTooLarge) }
                state.valueStart = i
                state.phase = .value

            case .value:
                let limit = state.fieldsStart + limits.maxHeaderBytes
                let stop = min(end, limit)
                while i < stop && ResponseBytes.isClass(byte(i), ByteClass.fieldValue) { i += 1 }
                guard i < end else { return .incomplete }
                if i >= limit { return .failed(.headerSectionTooLarge) }
                let c = byte(i)
                guard c == ASCII.cr else { return .failed(c == ASCII.lf ? .bareLineFeed : .invalidFieldValue) }
                var valueEnd = i
                while valueEnd > state.valueStart && ResponseBytes.isClass(byte(valueEnd - 1), ByteClass.whitespace) {
                    valueEnd -= 1
                }
                state.valueEnd = valueEnd
                i += 1
                state.phase = .valueLF

            case .valueLF:
                guard i < end else { return .incomplete }
                if i - state.fieldsStart >= limits.maxHeaderBytes { return .failed(.headerSectionTooLarge) }
                guard byte(i) == ASCII.lf else { return .failed(.bareCarriageReturn) }
                i += 1
                let name = bytes[(base + state.nameStart)..<(base + state.nameEnd)]
                let value = bytes[(base + state.valueStart)..<(base + state.valueEnd)]
                if let failure = state.framing.note(name: name, value: value) { return .failed(failure) }
                // The name was scanned as a token, which is what HTTPField.Name accepts.
                guard let fieldName = HTTPField.Name(String(decoding: name, as: UTF8.self)) else {
                    return .failed(.invalidFieldName)
                }
                state.fields.append(HTTPField(name: fieldName, value: value))
                state.fieldCount += 1
                state.phase = .lineStart

            case .endLF:
                guard i < end else { return .incomplete }
                if i - state.fieldsStart >= limits.maxHeaderBytes { return .failed(.headerSectionTooLarge) }
                guard byte(i) == ASCII.lf else { return .failed(.bareCarriageReturn) }
                i += 1
                return .complete(i)
            }
        }
    }

    /// The head, once the empty line ended it: the framing rules that need every field, in a
    /// fixed order (so the reported reason does not depend on field order or input splits).
    func makeHead(requestMethod: HTTPRequest.Method, length: Int) -> Result<HTTPResponseHead, HTTPResponseParseError> {
        let s = state
        let http11 = s.minor >= 1
        if let failure = s.framing.check(http11: http11) { return .failure(HTTPResponseParseError(failure)) }
        let code = s.statusCode
        let framing: HTTPResponseBodyFraming
        if requestMethod == .head || code < 200 || code == 204 || code == 304 {
            framing = .none
        } else if s.framing.transferEncodingSeen {
            framing = .chunked
        } else if s.framing.contentLength >= 0 {
            framing = .contentLength(s.framing.contentLength)
        } else {
            framing = .untilClose
        }
        let keepAlive = !s.framing.connectionClose && (http11 || s.framing.connectionKeepAlive)
        return .success(HTTPResponseHead(
            version: HTTPVersion(major: 1, minor: s.minor),
            status: HTTPResponse.Status(code: code, reasonPhrase: s.reason),
            headerFields: s.fields, framing: framing, keepAlive: keepAlive, length: length))
    }
}
