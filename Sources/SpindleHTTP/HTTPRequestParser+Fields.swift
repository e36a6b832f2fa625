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

/// The last `Host` value a parser found valid, kept as two overlapping words of its bytes
/// (values of 8 to 16 bytes: a name and a port, an IPv4 address and a port), so that the same
/// value again (every request of a connection carries it, and a pipelined batch's requests
/// theirs) is checked by two loads and compares instead of a byte-class lookup per byte.
/// Exact: whether a value is valid depends on its bytes alone, and the two words cover every
/// byte of a value of 8 to 16 bytes. 24 bytes, one per parser.
struct ValidHostMemo {
    private var head: UInt64 = 0
    private var tail: UInt64 = 0
    private var count = 0  // 0: nothing kept

    /// Whether the `n` bytes at `v` are the value kept. Cost: a compare, or two loads and two.
    @inline(__always)
    func holds(_ v: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        guard n == count, n >= 8 else { return false }
        let raw = UnsafeRawPointer(v)
        return raw.loadUnaligned(as: UInt64.self) == head
            && raw.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self) == tail
    }

    /// Keeps the `n` bytes at `v`, a valid value, when they are 8 to 16 bytes.
    @inline(__always)
    mutating func keep(_ v: UnsafePointer<UInt8>, _ n: Int) {
        guard n >= 8 && n <= 16 else { return }
        let raw = UnsafeRawPointer(v)
        head = raw.loadUnaligned(as: UInt64.self)
        tail = raw.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self)
        count = n
    }
}

/// What the fields of one head said so far: the facts that decide framing and persistence.
/// A value the straight-line scan keeps in a local and the resumable one in `ScanState`.
/// Cost: a few words; creating one is a handful of stores.
struct FieldFacts {
    var hostCount = 0, hostStart = 0, hostEnd = 0
    var contentLength = -1
    var contentLengthCount = 0
    var transferEncoding = TransferEncodingState()
    var connectionClose = false, connectionKeepAlive = false
    var expectContinue = false, expectOther = false
}

extension FieldFacts {
    /// Called when a field line is complete: `p[nameStart..<nameEnd]` is its name and
    /// `p[valueStart..<valueEnd]` its trimmed value; `table` is `ByteClass.table`; `validHost`
    /// is the parser's (see `ValidHostMemo`). An ordinary name costs one switch on its length;
    /// no allocation.
    @inline(__always)
    mutating func noteField(_ p: UnsafePointer<UInt8>, _ table: UnsafePointer<UInt8>, nameStart: Int,
                            nameEnd: Int, valueStart: Int, valueEnd: Int,
                            validHost: inout ValidHostMemo) -> HTTPParseError.Reason? {
        let name = p + nameStart
        let value = p + valueStart
        let valueCount = valueEnd - valueStart
        switch nameEnd - nameStart {
        // `Host`, in any case, in one load: a name's bytes are tchars, and the only tchars that
        // are a letter once 0x20 is or-ed in are that letter's two cases.
        case 4 where UnsafeRawPointer(name).loadUnaligned(as: UInt32.self) | 0x2020_2020 == 0x7473_6F68:  // "tsoh"
            return noteHost(value, valueCount, valueStart: valueStart, table, validHost: &validHost)
        case 6 where Bytes.equalsFoldedLowercase(name, 6, "expect"):
            noteExpect(value, valueCount)
        case 10 where Bytes.equalsFoldedLowercase(name, 10, "connection"):
            noteConnection(value, valueCount)
        case 14 where Bytes.equalsFoldedLowercase(name, 14, "content-length"):
            return noteContentLength(value, valueCount)
        case 17 where Bytes.equalsFoldedLowercase(name, 17, "transfer-encoding"):
            return noteTransferEncoding(value, valueCount)
        default:
            break
        }
        return nil
    }

    /// Host: at most one (RFC 9112 §3.2), value `uri-host [ ":" port ]` (empty allowed). The
    /// value `validHost` keeps is known to be valid; a newly checked valid one is kept.
    mutating func noteHost(_ v: UnsafePointer<UInt8>, _ n: Int, valueStart: Int,
                           _ table: UnsafePointer<UInt8>, validHost: inout ValidHostMemo) -> HTTPParseError.Reason? {
        hostCount += 1
        if hostCount > 1 { return .duplicateHost }
        if !validHost.holds(v, n) {
            var k = 0
            // Four bytes a step: their classes and-ed keep the Host flag only if all four have it.
            while k &+ 4 <= n {
                let classes = table[Int(v[k])] & table[Int(v[k &+ 1])] & table[Int(v[k &+ 2])] & table[Int(v[k &+ 3])]
                if classes & ByteClass.host == 0 { return .invalidHost }
                k &+= 4
            }
            while k < n {
                if table[Int(v[k])] & ByteClass.host == 0 { return .invalidHost }
                k &+= 1
            }
            validHost.keep(v, n)
        }
        hostStart = valueStart
        hostEnd = valueStart + n
        return nil
    }

    /// Content-Length: exactly one field line whose value is `1*DIGIT`. Lists (`5, 6`, `1,1`)
    /// are rejected even when the members agree: strict, and what a smuggler would try.
    mutating func noteContentLength(_ v: UnsafePointer<UInt8>, _ n: Int) -> HTTPParseError.Reason? {
        contentLengthCount += 1
        if contentLengthCount > 1 { return .duplicateContentLength }
        guard n > 0 else { return .invalidContentLength }
        var value = 0
        for k in 0..<n {
            let d = Int(v[k] &- ASCII.zero)
            guard d < 10 else { return .invalidContentLength }
            guard value <= (Int.max - d) / 10 else { return .invalidContentLength }
            value = value * 10 + d
        }
        contentLength = value
        return nil
    }

    /// Transfer-Encoding: a list of codings; Spindle accepts exactly `chunked`, last and once.
    /// Malformed members are rejected here; the ordering rules when the head is complete.
    mutating func noteTransferEncoding(_ v: UnsafePointer<UInt8>, _ n: Int) -> HTTPParseError.Reason? {
        transferEncoding.seen = true
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
                    transferEncoding.chunkedCount += 1
                    transferEncoding.lastIsChunked = true
                } else {
                    transferEncoding.otherCoding = true
                    transferEncoding.lastIsChunked = false
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
            transferEncoding.otherCoding = true
            transferEncoding.lastIsChunked = false
        }
        if members == 0 { return .invalidTransferEncoding }
        return failure
    }

    /// Connection: the `close` and `keep-alive` options (case-insensitive); others are ignored.
    mutating func noteConnection(_ v: UnsafePointer<UInt8>, _ n: Int) {
        // The usual values whole, in two loads (a list of one member is that member).
        if n == 10 && Bytes.equalsFoldedLowercase(v, 10, "keep-alive") { connectionKeepAlive = true; return }
        if n == 5 && Bytes.equalsFoldedLowercase(v, 5, "close") { connectionClose = true; return }
        Self.forEachListMember(v, n) { start, count in
            if Bytes.equalsLowercase(start, count, "close") { connectionClose = true }
            else if Bytes.equalsLowercase(start, count, "keep-alive") { connectionKeepAlive = true }
        }
    }

    /// Expect: `100-continue` is noted; any other expectation makes the request fail with 417
    /// (in HTTP/1.1; an HTTP/1.0 request's Expect is ignored, RFC 9110 §10.1.1).
    mutating func noteExpect(_ v: UnsafePointer<UInt8>, _ n: Int) {
        var members = 0
        Self.forEachListMember(v, n) { start, count in
            members += 1
            if Bytes.equalsLowercase(start, count, "100-continue") { expectContinue = true }
            else { expectOther = true }
        }
        if members == 0 { expectOther = true }
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
    /// does not depend on field order or on how the input was split). A few compares.
    @inline(__always)
    func finishHead(minor: UInt8, limits: HTTPLimits) -> HTTPParseError.Reason? {
        let http11 = minor >= 1
        if http11 && hostCount == 0 { return .missingHost }
        if transferEncoding.seen {
            if contentLengthCount > 0 { return .contentLengthWithTransferEncoding }
            if !http11 { return .transferEncodingInHTTP10 }
            if transferEncoding.chunkedCount > 1 { return .invalidTransferEncoding }
            if transferEncoding.chunkedCount == 1 && !transferEncoding.lastIsChunked { return .chunkedNotFinal }
            if transferEncoding.otherCoding { return .unsupportedTransferCoding }
        }
        if contentLength >= 0 && limits.bodyExceeds(contentLength) { return .contentTooLarge }
        if http11 && expectOther { return .unsupportedExpectation }
        return nil
    }
}

extension HTTPRequestParser {
    /// Decides the target's form once the request line is complete (RFC 9112 §3.2): stores it in
    /// `form`, or returns why the target is not acceptable. Origin-form costs two compares.
    @inline(__always)
    static func classifyTarget(_ p: UnsafePointer<UInt8>, methodStart: Int, methodEnd: Int,
                               targetStart: Int, targetEnd: Int,
                               form: inout HTTPRequestTargetForm) -> HTTPParseError.Reason? {
        let t = p + targetStart
        let n = targetEnd - targetStart
        let method = p + methodStart
        let methodCount = methodEnd - methodStart
        if methodCount == 7 && memcmpEqual(method, UnsafeRawPointer(("CONNECT" as StaticString).utf8Start), 7) {
            // authority-form is only for CONNECT; Spindle does not tunnel: 501 (400 if malformed).
            return isAuthorityForm(t, n) ? .connectNotSupported : .invalidRequestTarget
        }
        if t[0] == ASCII.slash {
            form = .origin
        } else if n == 1 && t[0] == ASCII.asterisk {
            guard methodCount == 7 && memcmpEqual(method, UnsafeRawPointer(("OPTIONS" as StaticString).utf8Start), 7) else {
                return .asteriskFormRequiresOPTIONS
            }
            form = .asterisk
        } else if isAbsoluteForm(t, n) {
            form = .absolute
        } else {
            return .invalidRequestTarget
        }
        return nil
    }

    /// `scheme "://" authority [ path-abempty [ "?" query ] ]` with a non-empty authority and no
    /// userinfo (RFC 9110 §4.2: an empty host or a userinfo in an http(s) URI is an error).
    static func isAbsoluteForm(_ t: UnsafePointer<UInt8>, _ n: Int) -> Bool {
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
    static func isAuthorityForm(_ t: UnsafePointer<UInt8>, _ n: Int) -> Bool {
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
