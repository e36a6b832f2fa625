// What the response parser does with the fields that decide framing and persistence
// (Content-Length, Transfer-Encoding, Connection), with the rules of the request side
// (HTTPRequestParser+Fields.swift), over checked slices instead of raw memory.

/// The framing fields seen so far in a response head.
struct ResponseFramingFields: Sendable {
    var contentLength = -1
    var contentLengthCount = 0
    var transferEncodingSeen = false
    var chunkedCount = 0
    var lastIsChunked = false
    var otherCoding = false
    var malformedCoding = false
    var connectionClose = false
    var connectionKeepAlive = false

    /// Notes one complete field line; returns a reason when it alone makes the head invalid.
    mutating func note(name: ArraySlice<UInt8>, value: ArraySlice<UInt8>) -> HTTPResponseParseError.Reason? {
        switch name.count {
        case 10 where Self.equalsLowercase(name, "connection"):
            Self.forEachListMember(value) { member in
                if Self.equalsLowercase(member, "close") { connectionClose = true }
                else if Self.equalsLowercase(member, "keep-alive") { connectionKeepAlive = true }
            }
        case 14 where Self.equalsLowercase(name, "content-length"):
            return noteContentLength(value)
        case 17 where Self.equalsLowercase(name, "transfer-encoding"):
            return noteTransferEncoding(value)
        default:
            break
        }
        return nil
    }

    /// Content-Length: exactly one field line whose value is `1*DIGIT`, no larger than `Int.max`.
    mutating func noteContentLength(_ value: ArraySlice<UInt8>) -> HTTPResponseParseError.Reason? {
        contentLengthCount += 1
        if contentLengthCount > 1 { return .duplicateContentLength }
        guard !value.isEmpty else { return .invalidContentLength }
        var total = 0
        for c in value {
            let d = Int(c &- ASCII.zero)
            guard d < 10 else { return .invalidContentLength }
            let (times10, overflow1) = total.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(d)
            guard !overflow1, !overflow2 else { return .invalidContentLength }
            total = sum
        }
        contentLength = total
        return nil
    }

    /// Transfer-Encoding: a list of codings over every field line; only `chunked`, last and once,
    /// is accepted (checked when the head is complete). Malformed members are rejected here.
    mutating func noteTransferEncoding(_ value: ArraySlice<UInt8>) -> HTTPResponseParseError.Reason? {
        transferEncodingSeen = true
        var members = 0
        Self.forEachListMember(value) { member in
            members += 1
            var tokenEnd = member.startIndex
            while tokenEnd < member.endIndex && ResponseBytes.isClass(member[tokenEnd], ByteClass.token) { tokenEnd += 1 }
            let token = member[member.startIndex..<tokenEnd]
            let isChunked = Self.equalsLowercase(token, "chunked")
            if tokenEnd == member.endIndex {
                if isChunked { chunkedCount += 1; lastIsChunked = true }
                else { otherCoding = true; lastIsChunked = false }
                return
            }
            // A coding with parameters: `token *( OWS ";" OWS param )`; chunked takes none.
            var k = tokenEnd
            while k < member.endIndex && ResponseBytes.isClass(member[k], ByteClass.whitespace) { k += 1 }
            if token.isEmpty || isChunked || k == member.endIndex || member[k] != ASCII.semicolon {
                malformedCoding = true
                return
            }
            otherCoding = true
            lastIsChunked = false
        }
        return members == 0 || malformedCoding ? .invalidTransferEncoding : nil
    }

    /// The checks that need the whole field section, in a fixed order.
    func check(http11: Bool) -> HTTPResponseParseError.Reason? {
        guard transferEncodingSeen else { return nil }
        if contentLengthCount > 0 { return .contentLengthWithTransferEncoding }
        if !http11 { return .transferEncodingInHTTP10 }
        if chunkedCount > 1 { return .invalidTransferEncoding }
        if chunkedCount == 1 && !lastIsChunked { return .chunkedNotFinal }
        if otherCoding { return .unsupportedTransferCoding }
        return nil
    }

    /// ASCII case-insensitive equality with `lowercase` (already lowercase).
    static func equalsLowercase(_ bytes: ArraySlice<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { ASCII.lower($0) == $1 }
        }
    }

    /// Calls `body` with each non-empty, whitespace-trimmed member of a comma-separated list.
    static func forEachListMember(_ value: ArraySlice<UInt8>, _ body: (ArraySlice<UInt8>) -> Void) {
        for member in value.split(separator: ASCII.comma, omittingEmptySubsequences: false) {
            var start = member.startIndex, end = member.endIndex
            while start < end && ResponseBytes.isClass(member[start], ByteClass.whitespace) { start += 1 }
            while end > start && ResponseBytes.isClass(member[end - 1], ByteClass.whitespace) { end -= 1 }
            if end > start { body(member[start..<end]) }
        }
    }
}
