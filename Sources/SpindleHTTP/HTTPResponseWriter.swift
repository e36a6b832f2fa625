import HTTPTypes

/// How a response body is delimited on the wire.
public enum HTTPResponseFraming: Hashable, Sendable {
    /// `Content-Length: n`; exactly n body bytes follow (none for a HEAD request).
    case contentLength(Int)
    /// `Transfer-Encoding: chunked`; follow with `writeChunk` calls and `writeLastChunk`.
    /// Only for HTTP/1.1 clients (RFC 9112 §6.1); use `closeDelimited` for HTTP/1.0.
    case chunked
    /// No length: the body ends when the server closes the connection (forces `Connection: close`).
    case closeDelimited
}

/// Serialises responses into an `HTTPOutputBuffer`: status line, caller fields, `Date`,
/// framing and `Connection` fields, then the body or chunks.
///
/// The writer owns framing and persistence: caller fields named `Content-Length`,
/// `Transfer-Encoding` or `Connection` are dropped (the `framing` and `persistence` arguments
/// decide them), and `Date` is added from the cache unless the caller supplied one. Responses
/// that cannot have a body (1xx, 204, 304) get no framing fields. The status line is a
/// precomputed constant for common statuses. One writer per worker thread (it holds the date
/// cache). Never allocates once the buffer has grown to fit.
public struct HTTPResponseWriter {
    /// The `Date` cache (reformatted at most once per second).
    public var dateCache: HTTPDateCache
    /// The last head `writeResponse(status:fieldLines:...)` wrote, reused whole while what it
    /// was made of is unchanged.
    var preparedHead = PreparedHead()

    /// A writer using `dateCache`. Cost: none.
    public init(dateCache: HTTPDateCache = HTTPDateCache()) {
        self.dateCache = dateCache
    }

    /// Appends the response head: status line, `response.headerFields` (minus the fields the
    /// writer owns), `Date`, the framing field, `Connection` when needed, and the empty line.
    /// Returns true when the connection must be closed after this response (persistence
    /// `.close` or `closeDelimited` framing). No allocation beyond buffer growth.
    @discardableResult
    public mutating func writeHead(_ response: HTTPResponse, framing: HTTPResponseFraming,
                                   persistence: HTTPConnectionPersistence,
                                   into buffer: inout HTTPOutputBuffer) -> Bool {
        writeHead(status: response.status, fields: response.headerFields, framing: framing, persistence: persistence, into: &buffer)
    }

    /// `writeHead` from a status and fields, without building an `HTTPResponse` (which
    /// allocates its pseudo-header storage).
    @discardableResult
    public mutating func writeHead(status: HTTPResponse.Status, fields: HTTPFields, framing: HTTPResponseFraming,
                                   persistence: HTTPConnectionPersistence,
                                   into buffer: inout HTTPOutputBuffer) -> Bool {
        StatusLine.write(status, into: &buffer)
        var hasDate = false
        // An index loop: `for in` over HTTPFields goes through the generic IndexingIterator,
        // which allocates a coroutine frame per element when unspecialised (debug builds).
        var k = fields.startIndex
        while k < fields.endIndex {
            let field = fields[k]
            k += 1
            switch OwnedField(field.name) {
            case .framing: continue
            case .date: hasDate = true
            case .other: break
            }
            buffer.append(field)
        }
        return writeHeadEnd(status: status, hasDate: hasDate, framing: framing, persistence: persistence, into: &buffer)
    }

    /// `writeHead` with the caller's fields given as their bytes on the wire, `fieldLines`: a
    /// `Name: value\r\n` line each, none of them a field the writer owns (`Date`,
    /// `Content-Length`, `Transfer-Encoding`, `Connection`). For a field set many responses share
    /// (a constant `Content-Type`): one memcpy where `HTTPFields` are walked field by field, each
    /// field's name checked and its strings retained and released.
    @discardableResult
    package mutating func writeHead(status: HTTPResponse.Status, fieldLines: StaticString, framing: HTTPResponseFraming,
                                    persistence: HTTPConnectionPersistence,
                                    into buffer: inout HTTPOutputBuffer) -> Bool {
        StatusLine.write(status, into: &buffer)
        buffer.append(fieldLines)
        return writeHeadEnd(status: status, hasDate: false, framing: framing, persistence: persistence, into: &buffer)
    }

    /// The end of a head, after the caller's fields: `Date` (unless `hasDate`), the framing
    /// field, `Connection` when needed, and the empty line. Returns whether the connection closes.
    @inline(__always)
    private mutating func writeHeadEnd(status: HTTPResponse.Status, hasDate: Bool, framing: HTTPResponseFraming,
                                       persistence: HTTPConnectionPersistence,
                                       into buffer: inout HTTPOutputBuffer) -> Bool {
        if !hasDate { dateCache.withCurrentDateLine { buffer.append($0) } }
        var closes = persistence == .close
        let bodyless = status.code < 200 || status.code == 204 || status.code == 304
        if !bodyless {
            switch framing {
            case .contentLength(let n):
                buffer.append("Content-Length: " as StaticString)
                buffer.append(decimal: n)
                if !closes && persistence != .keepAliveHTTP10 {
                    buffer.append("\r\n\r\n" as StaticString)  // the common end, in one copy
                    return false
                }
                buffer.append("\r\n" as StaticString)
            case .chunked:
                buffer.append("Transfer-Encoding: chunked\r\n" as StaticString)
            case .closeDelimited:
                closes = true
            }
        }
        if closes {
            buffer.append("Connection: close\r\n" as StaticString)
        } else if persistence == .keepAliveHTTP10 {
            buffer.append("Connection: keep-alive\r\n" as StaticString)
        }
        buffer.append("\r\n" as StaticString)
        return closes
    }

    /// Appends a complete response with a `Content-Length` body. For a HEAD request the body is
    /// left out but `Content-Length` still says how long the GET body would be (RFC 9110 §9.3.2).
    /// Returns true when the connection must be closed after it. No allocation beyond growth.
    @discardableResult
    public mutating func writeResponse(_ response: HTTPResponse, body: UnsafeRawBufferPointer,
                                       requestIsHEAD: Bool = false,
                                       persistence: HTTPConnectionPersistence,
                                       into buffer: inout HTTPOutputBuffer) -> Bool {
        writeResponse(status: response.status, fields: response.headerFields, body: body,
                      requestIsHEAD: requestIsHEAD, persistence: persistence, into: &buffer)
    }

    /// `writeResponse` from a status and fields, without building an `HTTPResponse`.
    @discardableResult
    public mutating func writeResponse(status: HTTPResponse.Status, fields: HTTPFields, body: UnsafeRawBufferPointer,
                                       requestIsHEAD: Bool = false,
                                       persistence: HTTPConnectionPersistence,
                                       into buffer: inout HTTPOutputBuffer) -> Bool {
        let closes = writeHead(status: status, fields: fields, framing: .contentLength(body.count), persistence: persistence, into: &buffer)
        Self.appendBody(body, status: status, requestIsHEAD: requestIsHEAD, into: &buffer)
        return closes
    }

    /// `writeResponse` with the caller's fields given as their bytes on the wire (see
    /// `writeHead(status:fieldLines:framing:persistence:into:)`).
    ///
    /// The head is built once and copied whole while the status, the field set, the body's
    /// length, the persistence and the date's second are those of the previous call
    /// (`PreparedHead`): a run of alike responses, as a busy route gives, costs one copy each.
    @discardableResult
    package mutating func writeResponse(status: HTTPResponse.Status, fieldLines: StaticString, body: UnsafeRawBufferPointer,
                                        requestIsHEAD: Bool = false,
                                        persistence: HTTPConnectionPersistence,
                                        into buffer: inout HTTPOutputBuffer) -> Bool {
        let closes: Bool
        if fieldLines.hasPointerRepresentation {
            let second = dateCache.currentSecond()
            if let prepared = preparedHead.closes(for: status, fieldLines: fieldLines.utf8Start,
                                                  fieldLinesCount: fieldLines.utf8CodeUnitCount, length: body.count,
                                                  persistence: persistence, second: second) {
                preparedHead.withBytes { buffer.append($0) }
                closes = prepared
            } else {
                let start = buffer.count
                closes = writeHead(status: status, fieldLines: fieldLines, framing: .contentLength(body.count), persistence: persistence, into: &buffer)
                let key = PreparedHead.Key(code: status.code, reason: status.reasonPhrase, fieldLines: fieldLines.utf8Start,
                                           fieldLinesCount: fieldLines.utf8CodeUnitCount, length: body.count,
                                           persistence: persistence,
                                           second: dateCache.formattedSecond)  // the second of the Date line just written
                preparedHead.remember(UnsafeRawBufferPointer(rebasing: buffer.readableBytes[start...]), closes: closes, for: key)
            }
        } else {  // (a one-scalar literal has no bytes to identify it by; none is a field line)
            closes = writeHead(status: status, fieldLines: fieldLines, framing: .contentLength(body.count), persistence: persistence, into: &buffer)
        }
        Self.appendBody(body, status: status, requestIsHEAD: requestIsHEAD, into: &buffer)
        return closes
    }

    /// Appends `body` unless the request was `HEAD` or the status has none (1xx, 204, 304).
    @inline(__always)
    private static func appendBody(_ body: UnsafeRawBufferPointer, status: HTTPResponse.Status, requestIsHEAD: Bool,
                                   into buffer: inout HTTPOutputBuffer) {
        let code = status.code
        if !requestIsHEAD && code >= 200 && code != 204 && code != 304 { buffer.append(body) }
    }

    /// Appends the response for a rejected request: its status, `Date`, a one-line plain-text
    /// body naming the reason, and `Connection: close` (the connection must close after it).
    public mutating func writeError(_ error: HTTPParseError, into buffer: inout HTTPOutputBuffer) {
        StatusLine.write(error.status, into: &buffer)
        buffer.append("Date: " as StaticString)
        dateCache.withCurrentDate { buffer.append($0) }
        let explanation = error.reason.explanation
        buffer.append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " as StaticString)
        buffer.append(decimal: explanation.utf8.count + 1)
        buffer.append("\r\nConnection: close\r\n\r\n" as StaticString)
        buffer.append(explanation)
        buffer.append(byte: ASCII.lf)
    }

    /// Appends a `101 Switching Protocols` head: the status line, `fields` (minus the fields the
    /// writer owns; include `Upgrade` and the protocol's own), `Date`, `Connection: Upgrade`
    /// and the empty line. After it the connection speaks the new protocol.
    public mutating func writeSwitchingProtocols(fields: HTTPFields, into buffer: inout HTTPOutputBuffer) {
        StatusLine.write(.switchingProtocols, into: &buffer)
        var k = fields.startIndex
        while k < fields.endIndex {
            let field = fields[k]
            k += 1
            if case .other = OwnedField(field.name) { buffer.append(field) }
        }
        buffer.append("Date: " as StaticString)
        dateCache.withCurrentDate { buffer.append($0) }
        buffer.append("\r\nConnection: Upgrade\r\n\r\n" as StaticString)
    }

    /// Appends the interim `HTTP/1.1 100 Continue` response (for `expectsContinue` requests,
    /// before reading the body). Cost: one memcpy.
    public static func writeContinue(into buffer: inout HTTPOutputBuffer) {
        buffer.append("HTTP/1.1 100 Continue\r\n\r\n" as StaticString)
    }
}

/// Fields the writer produces itself, recognised by length first (no allocation).
enum OwnedField {
    case framing, date, other

    init(_ name: HTTPField.Name) {
        let canonical = name.canonicalName
        switch canonical.utf8.count {
        case 4: self = canonical == "date" ? .date : .other
        case 10: self = canonical == "connection" ? .framing : .other
        case 14: self = canonical == "content-length" ? .framing : .other
        case 17: self = canonical == "transfer-encoding" ? .framing : .other
        default: self = .other
        }
    }
}
