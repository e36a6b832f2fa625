// What the parser does with the fields that decide framing and persistence (Host,
// Content-Length, Transfer-Encoding, Connection, Expect) and the checks made when the head is
// complete. Known names are recognised by length first, then a case-insensitive compare, so an
// ordinary field costs one switch on its length.

/// Transfer-Encoding seen so far, over all its field lines (they form one list).
struct TransferEncodingState {
    var seen = false
    var chunkedCount = 0
    var lastIsChunked = false
    var otherCoding = false
}

extension HTTPRequestParser {
    /// Called when a field line is complete; `state.nameStart..<nameEnd` and
    /// `valueStart..<valueEnd` delimit it.
    mutating func noteField(_ p: UnsafePointer<UInt8>) -> HTTPParseError.Reason? {
        let name = p + state.nameStart
        let value = p + state.valueStart
        let valueCount = state.valueEnd - state.valueStart
        switch state.nameEnd - state.nameStart {
        // `Host`, in any case, in one load: a name's bytes are tchars, and the only tchars that
        // are a letter once 0x20 is or-ed in are that letter's two cases.
        case 4 where UnsafeRawPointer(name).loadUnaligned(as: UInt32.self) | 0x2020_2020 == 0x7473_6F68:  // "tsoh"
            return noteHost(value, valueCount)
        case 6 where Bytes.equalsLowercase(name, 6, "expect"):
            noteExpect(value, valueCount)
        case 10 where Bytes.equalsLowercase(name, 10, "connection"):
            noteConnection(value, valueCount)
        case 14 where Bytes.equalsLowercase(name, 14, "content-length"):
            return noteContentLength(value, valueCount)
        case 17 where Bytes.equalsLowercase(name, 17, "transfer-encoding"):
            return noteTransferEncoding(value, valueCount)
        default:
            break
        }
        return nil
    }

    /// Host: at most one (RFC 9112 §3.2), value `uri-host [ ":" port ]` (empty allowed).
    mutating func noteHost(_ v: UnsafePointer<UInt8>, _ n: Int) -> HTTPParseError.Reason? {
        state.hostCount += 1
        if state.hostCount > 1 { return .duplicateHost }
        let table = ByteClass.table
        var k = 0
        while k < n {
            if table[Int(v[k])] & ByteClass.host == 0 { return .invalidHost }
            k &+= 1
        }
        state.hostStart = state.valueStart
        state.hostEnd = state.valueEnd
        return nil
    }

    /// Content-Length: exactly one field line whose value is `1*DIGIT`. Lists (`5, 6`, `1,1`)
    /// are rejected even when the members agree: strict, and what a smuggler would try.
    mutating func noteContentLength(_ v: UnsafePointer<UInt8>, _ n: Int) -> HTTPParseError.Reason? {
        state.contentLengthCount += 1
        if state.contentLengthCount > 1 { return .duplicateContentLength }
        guard n > 0 else { return .invalidContentLength }
        var value = 0
        for k in 0..<n {
            let d = Int(v[k] &- ASCII.zero)
            guard d < 10 else { return .invalidContentLength }
            guard value <= (Int.max - d) / 10 else { return .invalidContentLength }
            value = value * 10 + d
        }
        state.contentLength = value
        return nil
    }

    /// Transfer-Encoding: a list of codings; Spindle accepts exactly `chunked`, last and once.
    /// Malformed members are rejected here; the ordering rules when the head is complete.
    mutating func noteTransferEncoding(_ v: UnsafePointer<UInt8>, _ n: Int) -> HTTPParseError.Reason? {
        state.transferEncoding.seen = true
        var members = 0
        var failure: HTTPParseError.Reason? = nil
        Self.forEachListMember(v, n) { start, count in
            members += 1
            let table = ByteClass.table
            var tokenEnd = 0
            while tokenEnd < count && table[Int(start[tokenEnd])] & ByteClass.token != 0 { tokenEnd += 1 }
            let isChunked = Bytes.equalsLowercase(start, tokenEnd, "chunked")
            if tokenEnd == count {
                if isChunked {
                    state.transferEncoding.chunkedCount += 1
                    state.transferEncoding.lastIsChunked = true
                } else {
                    state.transferEncoding.otherCoding = true
                    state.transferEncoding.lastIsChunked = false
                }
                return
            }
            // A coding with parameters: `token *( OWS ";" OWS param )`. chunked takes none.
            var k = tokenEnd
            while k < count && table[Int(start[k])] & ByteClass.whitespace != 0 { k += 1 }
            if tokenEnd == 0 || isChunked || k == count || start[k] != ASCII.semicolon {
                failure = failure ?? .invalidTransferEncoding
                return
            }
            state.transferEncoding.otherCoding = true
            state.transferEncoding.lastIsChunked = false
        }
        if members == 0 { return .invalidTransferEncoding }
        return failure
    }

    /// Connection: the `close` and `keep-alive` options (case-insensitive); others are ignored.
    mutating func noteConnection(_ v: UnsafePointer<UInt8>, _ n: Int) {
        Self.forEachListMember(v, n) { start, count in
            if Bytes.equalsLowercase(start, count, "close") { state.connectionClose = true }
            else if Bytes.equalsLowercase(start, count, "keep-alive") { state.connectionKeepAlive = true }
        }
    }

    /// Expect: `100-continue` is noted; any other expectation makes the request fail with 417
    /// (in HTTP/1.1; an HTTP/1.0 request's Expect is ignored, RFC 9110 §10.1.1).
    mutating func noteExpect(_ v: UnsafePointer<UInt8>, _ n: Int) {
        var members = 0
        Self.forEachListMember(v, n) { start, count in
            members += 1
            if Bytes.equalsLowercase(start, count, "100-continue") { state.expectContinue = true }
            else { state.expectOther = true }
        }
        if members == 0 { state.expectOther = true }
    }

    /// Calls `body` with each non-empty, whitespace-trimmed member of a comma-separated list
    /// (RFC 9110 §5.6.1: empty members are ignored). No allocation (the closure does not escape).
    static func forEachListMember(_ v: UnsafePointer<UInt8>, _ n: Int, _ body: (UnsafePointer<UInt8>, Int) -> Void) {
        let table = ByteClass.table
        var k = 0
        while k < n {
            var start = k
            while k < n && v[k] != ASCII.comma { k += 1 }
            var end = k
            while start < end && table[Int(v[start])] & ByteClass.whitespace != 0 { start += 1 }
            while end > start && table[Int(v[end - 1])] & ByteClass.whitespace != 0 { end -= 1 }
            if end > start { body(v + start, end - start) }
            k += 1
        }
    }

    /// The checks that need the whole field section, in a fixed order (so the reported reason
    /// does not depend on field order or on how the input was split).
    func finishHead() -> HTTPParseError.Reason? {
        let s = state
        let http11 = s.minor >= 1
        if http11 && s.hostCount == 0 { return .missingHost }
        if s.transferEncoding.seen {
            if s.contentLengthCount > 0 { return .contentLengthWithTransferEncoding }
            if !http11 { return .transferEncodingInHTTP10 }
            if s.transferEncoding.chunkedCount > 1 { return .invalidTransferEncoding }
            if s.transferEncoding.chunkedCount == 1 && !s.transferEncoding.lastIsChunked { return .chunkedNotFinal }
            if s.transferEncoding.otherCoding { return .unsupportedTransferCoding }
        }
        if s.contentLength >= 0 && limits.bodyExceeds(s.contentLength) { return .contentTooLarge }
        if http11 && s.expectOther { return .unsupportedExpectation }
        return nil
    }

    /// Decides the target's form once the request line is complete (RFC 9112 §3.2).
    mutating func classifyTarget(_ p: UnsafePointer<UInt8>) -> HTTPParseError.Reason? {
        let t = p + state.targetStart
        let n = state.targetEnd - state.targetStart
        let method = p + state.methodStart
        let methodCount = state.methodEnd - state.methodStart
        if methodCount == 7 && memcmpEqual(method, UnsafeRawPointer(("CONNECT" as StaticString).utf8Start), 7) {
            // authority-form is only for CONNECT; Spindle does not tunnel: 501 (400 if malformed).
            return isAuthorityForm(t, n) ? .connectNotSupported : .invalidRequestTarget
        }
        if t[0] == ASCII.slash {
            state.form = .origin
        } else if n == 1 && t[0] == ASCII.asterisk {
            guard methodCount == 7 && memcmpEqual(method, UnsafeRawPointer(("OPTIONS" as StaticString).utf8Start), 7) else {
                return .asteriskFormRequiresOPTIONS
            }
            state.form = .asterisk
        } else if isAbsoluteForm(t, n) {
            state.form = .absolute
        } else {
            return .invalidRequestTarget
        }
        return nil
    }

    /// `scheme "://" authority [ path-abempty [ "?" query ] ]` with a non-empty authority and no
    /// userinfo (RFC 9110 §4.2: an empty host or a userinfo in an http(s) URI is an error).
    func isAbsoluteForm(_ t: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        guard (t[0] | 0x20) &- 0x61 < 26 else { return false }
        var k = 1
        while k < n {
            let c = t[k]
            let isSchemeChar = (c | 0x20) &- 0x61 < 26 || c &- ASCII.zero < 10 || c == 0x2B || c == 0x2D || c == 0x2E
            if !isSchemeChar { break }
            k += 1
        }
        guard k + 2 < n, t[k] == ASCII.colon, t[k + 1] == ASCII.slash, t[k + 2] == ASCII.slash else { return false }
        k += 3
        let authorityStart = k
        let table = ByteClass.table
        while k < n && t[k] != ASCII.slash && t[k] != ASCII.question {
            if table[Int(t[k])] & ByteClass.host == 0 { return false }
            k += 1
        }
        return k > authorityStart
    }

    /// `uri-host ":" port` with a non-empty host and a non-empty decimal port.
    func isAuthorityForm(_ t: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        let table = ByteClass.table
        var colon = -1
        for k in 0..<n {
            if table[Int(t[k])] & ByteClass.host == 0 { return false }
            if t[k] == ASCII.colon { colon = k }
        }
        guard colon > 0, colon < n - 1 else { return false }
        for k in (colon + 1)..<n where t[k] &- ASCII.zero >= 10 { return false }
        return true
    }
}
