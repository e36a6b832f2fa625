// The straight-line scan of a head that arrives whole must decide exactly as the resumable state
// machine: same heads, same error reasons, same `bytesScanned`. Each input is parsed twice:
// whole in one call (the straight-line scan, handing over where it must) and resumed after a
// first call with one byte (the state machine alone). Inputs put every byte value at every
// offset of a word in the parts the scan skips eight bytes at a time or compares as words.
import SpindleHTTP
import XCTest

final class WholeHeadTests: XCTestCase {
    /// What one parse reported, comparable.
    enum Result: Equatable {
        case incomplete(scanned: Int)
        case error(HTTPParseError.Reason, scanned: Int)
        case complete(ParsedRequest, consumed: Int)
    }

    /// Parses `input` in one call, or (`resumed`) after a first call with its first byte only.
    static func parse(_ input: [UInt8], limits: HTTPLimits, resumed: Bool) -> Result {
        var parser = HTTPRequestParser(limits: limits)
        return input.withUnsafeBytes { all in
            if resumed {
                switch parser.parseHead(UnsafeRawBufferPointer(rebasing: all[0..<1])) {
                case .incomplete: break
                case .error(let e): return .error(e.reason, scanned: parser.bytesScanned)
                case .complete(let head, let consumed): return .complete(ParsedRequest(head), consumed: consumed)
                }
            }
            switch parser.parseHead(all) {
            case .incomplete: return .incomplete(scanned: parser.bytesScanned)
            case .error(let e): return .error(e.reason, scanned: parser.bytesScanned)
            case .complete(let head, let consumed): return .complete(ParsedRequest(head), consumed: consumed)
            }
        }
    }

    /// Asserts that both ways of parsing agree; returns the result.
    @discardableResult
    func check(_ input: [UInt8], limits: HTTPLimits = .default, file: StaticString = #filePath, line: UInt = #line) -> Result {
        let whole = Self.parse(input, limits: limits, resumed: false)
        let resumed = Self.parse(input, limits: limits, resumed: true)
        if whole != resumed {
            XCTFail("\(String(decoding: input, as: UTF8.self).debugDescription): whole \(whole), resumed \(resumed)",
                    file: file, line: line)
        }
        return whole
    }

    func head(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A parser keeps its last valid Host value of 8 to 16 bytes to accept it again without the
    /// byte check (`ValidHostMemo`): a value of the same length differing in any one byte, at any
    /// offset, must still be checked, on both paths (whole, and resumed after one byte).
    func testAKeptHostValueNeverPassesAnotherOfTheSameLength() {
        var parser = HTTPRequestParser()
        func parse(_ host: [UInt8], resumed: Bool) -> HTTPParseError.Reason?? {
            let input = Array("GET / HTTP/1.1\r\nHost: ".utf8) + host + Array("\r\n\r\n".utf8)
            parser.reset()
            return input.withUnsafeBytes { all in
                if resumed { _ = parser.parseHead(UnsafeRawBufferPointer(rebasing: all[0..<1])) }
                switch parser.parseHead(all) {
                case .complete(let head, _):
                    XCTAssertEqual(head.hostBytes.map { Array($0) }, host)
                    return .some(nil)
                case .error(let error): return .some(error.reason)
                case .incomplete: return nil
                }
            }
        }
        for length in 7...17 {
            let valid = (0..<length).map { $0 % 4 == 3 ? UInt8(ascii: ".") : UInt8(ascii: "a") + UInt8($0 % 3) }
            for resumed in [false, true] {
                XCTAssertEqual(parse(valid, resumed: resumed), .some(nil), "length \(length)")
                for offset in 0..<length {
                    // Field-value bytes (no whitespace: it would be trimmed) that are not Host bytes.
                    for bad in Array("/@#\\\"<>^`{|}".utf8) + [0x80, 0xFF] {
                        var other = valid
                        other[offset] = bad
                        XCTAssertEqual(parse(other, resumed: resumed), .some(.invalidHost),
                                       "length \(length), byte \(bad) at \(offset), resumed \(resumed)")
                    }
                    XCTAssertEqual(parse(valid, resumed: resumed), .some(nil), "kept again: length \(length)")
                }
            }
        }
    }

    func testCommonHeadsParseTheSameBothWays() {
        for text in [
            "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
            "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
            "GET / HTTP/1.0\r\n\r\n",
            "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection:  close , keep-alive \r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alivf\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: clos\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nEXPECT: 100-continue\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET http://example.com/x HTTP/1.1\r\nHost: a\r\n\r\n",
            "CONNECT example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n",
            "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n X: folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: y\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\n",
        ] {
            check(head(text))
        }
        guard case .complete(let r, let consumed) = check(head("GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")) else {
            return XCTFail("the common head did not parse")
        }
        XCTAssertEqual(consumed, 49)
        XCTAssertEqual(r.method, "GET")
        XCTAssertEqual(r.host, "127.0.0.1:8080")
        guard case .complete(let close, _) = check(head("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n")),
              case .complete(let keep, _) = check(head("GET / HTTP/1.0\r\nConnection: KEEP-alive\r\n\r\n")) else {
            return XCTFail("a Connection head did not parse")
        }
        XCTAssertFalse(close.keepAlive)
        XCTAssertTrue(keep.keepAlive)
    }

    /// Where the path ends: the parser notes the target's first `?` as it skips the target
    /// eight bytes at a time (stopping there once) or byte by byte after. A `?` at every offset
    /// of targets of 1 to 24 bytes, with a second `?` after it or not, parsed whole, resumed after
    /// one byte, and fed one byte at a time (the state machine resuming inside the target): the
    /// path is always the target up to its first `?`.
    func testThePathEndsAtTheTargetsFirstQuestionMark() {
        for length in 1...24 {
            for question in -1..<length where question != 0 {
                for second in [false, true] where !second || question >= 0 && question + 2 < length {
                    var target = Array("/abcdefghijklmnopqrstuvwxyz".utf8.prefix(length))
                    if question >= 0 { target[question] = UInt8(ascii: "?") }
                    if second { target[question + 2] = UInt8(ascii: "?") }
                    let input = head("GET ") + target + head(" HTTP/1.1\r\nHost: a\r\n\r\n")
                    let path = String(decoding: question >= 0 ? Array(target[..<question]) : target, as: UTF8.self)
                    guard case .complete(let whole, _) = check(input) else {
                        return XCTFail("\(String(decoding: target, as: UTF8.self)) did not parse")
                    }
                    XCTAssertEqual(whole.targetBeforeQuery, path, String(decoding: target, as: UTF8.self))
                    let query = question >= 0 ? String(decoding: Array(target[(question + 1)...]), as: UTF8.self) : nil
                    XCTAssertEqual(whole.query, query, String(decoding: target, as: UTF8.self))
                    var parser = HTTPRequestParser()
                    let byByte: String? = input.withUnsafeBytes { all in
                        for end in 1...all.count {
                            switch parser.parseHead(UnsafeRawBufferPointer(rebasing: all[..<end])) {
                            case .incomplete: continue
                            case .complete(let head, _): return String(decoding: head.targetBeforeQuery, as: UTF8.self)
                            case .error: return nil
                            }
                        }
                        return nil
                    }
                    XCTAssertEqual(byByte, path, "byte by byte: \(String(decoding: target, as: UTF8.self))")
                }
            }
        }
    }

    /// Methods that start like the ones compared as a word, and every byte after `GET`/`POST`.
    func testMethodsNearTheWordComparedOnes() {
        for method in ["GET", "GETS", "GE", "G", "POST", "POSTS", "POS", "PUT", "get", "Get", "post", "PATCH",
                       String(repeating: "M", count: 32), String(repeating: "M", count: 33)] {
            check(head("\(method) / HTTP/1.1\r\nHost: a\r\n\r\n"))
        }
        for prefix in ["GET", "POST", "GE", "POS"] {
            for byte in 0...255 {
                check(head(prefix) + [UInt8(byte)] + head("/ HTTP/1.1\r\nHost: a\r\n\r\n"))
            }
        }
    }

    /// Every byte value at each of the first 17 offsets of a value (so in either half of the
    /// first two words, and in the byte loop after them), with text after it.
    func testEveryByteAtEveryOffsetOfAValue() {
        for offset in 0..<17 {
            for byte in 0...255 {
                var value = Array(repeating: UInt8(ascii: "v"), count: 20)
                value[offset] = UInt8(byte)
                check(head("GET / HTTP/1.1\r\nHost: a\r\nX-Value: ") + value + head("\r\n\r\n"))
                // The same byte as the value's last one, right before the CR.
                check(head("GET / HTTP/1.1\r\nHost: a\r\nX-Value: ") + value[..<(offset + 1)] + head("\r\n\r\n"))
            }
        }
    }

    /// Every byte value at each offset of a field name (the names are skipped eight bytes at a
    /// time while they hold letters and `-`).
    func testEveryByteAtEveryOffsetOfAName() {
        forEveryByte(in: "Accept-Encodings-X", offsets: 0..<17) { name in
            check(head("GET / HTTP/1.1\r\nHost: a\r\n") + name + head(": v\r\n\r\n"))
        }
    }

    /// The names recognised by word compares, in every case and with every byte changed.
    func testKnownNamesWithEveryByteChanged() {
        let values = ["host": "a", "expect": "100-continue", "connection": "close",
                      "content-length": "0", "transfer-encoding": "chunked"]
        for (name, value) in values {
            forEveryByte(in: name) { bytes in
                check(head("GET / HTTP/1.1\r\nHost: z\r\n") + bytes + head(": \(value)\r\n\r\n0\r\n\r\n"))
            }
            check(head("GET / HTTP/1.1\r\nHost: z\r\n\(name.uppercased()): \(value)\r\n\r\n0\r\n\r\n"))
        }
        // The Connection values compared as words, with every byte changed.
        for value in ["keep-alive", "close"] {
            forEveryByte(in: value) { bytes in
                check(head("GET / HTTP/1.0\r\nConnection: ") + bytes + head("\r\n\r\n"))
            }
        }
    }

    /// Every byte value at each offset of a Host value (checked four bytes at a time).
    func testEveryByteAtEveryOffsetOfAHost() {
        forEveryByte(in: "example.c:8", offsets: 0..<10) { host in
            check(head("GET / HTTP/1.1\r\nHost: ") + host + head("\r\n\r\n"))
        }
    }

    /// The first field's `Host:` (compared as one word) with every byte changed, colon included,
    /// and the same name later in the head.
    func testAFirstHostWithEveryByteChanged() {
        forEveryByte(in: "Host:") { name in
            check(head("GET / HTTP/1.1\r\n") + name + head(" a\r\n\r\n"))
            check(head("GET / HTTP/1.0\r\n") + name + head(" a\r\nX: y\r\n\r\n"))
            check(head("GET / HTTP/1.1\r\nX: y\r\n") + name + head(" a\r\n\r\n"))
        }
        for text in ["Host:", "HOST:", "hOsT:a", "Host :", "Hostx: a", "Hos: a", "Host:\t", "Host"] {
            check(head("GET / HTTP/1.1\r\n\(text)\r\n\r\n"))
        }
    }

    /// Heads with more fields than the table first holds (it grows during the straight pass),
    /// up to the count limit and one past it.
    func testHeadsThatGrowTheFieldTable() {
        for count in [15, 16, 17, 33, 99, 100, 101] {
            var text = "GET / HTTP/1.1\r\nHost: a\r\n"
            for k in 1..<count { text += "X-Field-\(k): value \(k)\r\n" }
            let result = check(head(text + "\r\n"))
            if count <= 100 {
                guard case .complete(let r, _) = result else { return XCTFail("\(count) fields: \(result)") }
                XCTAssertEqual(r.fields.count, count)
                XCTAssertEqual(r.fields.last, count == 1 ? "Host: a" : "X-Field-\(count - 1): value \(count - 1)")
            } else {
                XCTAssertEqual(result, .error(.tooManyFields, scanned: Self.tooManyFieldsScanned(text)))
            }
        }
    }

    /// Where the state machine stops on the 101st field line: at its first byte.
    static func tooManyFieldsScanned(_ text: String) -> Int {
        var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        lines.removeLast()  // after the last field's LF
        return lines.dropLast().reduce(0) { $0 + $1.count + 1 }
    }

    /// `reset()` between heads, after part of a head (straight pass handed over, or state
    /// machine) and after an error: the next head parses as on a new parser.
    func testResetAfterEveryKindOfCall() {
        let good = head("GET /a HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n")
        let fresh = Self.parse(good, limits: .default, resumed: false)
        for before in [good, Array(good[..<1]), Array(good[..<20]), Array(good[..<30]),
                       head("GET / HTTP/1.1\r\n\r\n"), head("\n"), head("GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")] {
            var parser = HTTPRequestParser()
            _ = before.withUnsafeBytes { parser.parseHead($0) }
            parser.reset()
            XCTAssertEqual(parser.bytesScanned, 0)
            let after: Result = good.withUnsafeBytes { buffer in
                switch parser.parseHead(buffer) {
                case .incomplete: return .incomplete(scanned: parser.bytesScanned)
                case .error(let e): return .error(e.reason, scanned: parser.bytesScanned)
                case .complete(let h, let consumed): return .complete(ParsedRequest(h), consumed: consumed)
                }
            }
            XCTAssertEqual(after, fresh, "after \(String(decoding: before, as: UTF8.self).debugDescription)")
        }
    }

    /// Limits reached at each byte of the request line and of the field section.
    func testLimitsAtEveryBoundary() {
        let input = head("GET /abcdefghijklmnop HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX: y\r\n\r\n")
        for target in 1...20 {
            check(input, limits: HTTPLimits(maxRequestTargetLength: target))
        }
        for bytes in 2...60 {
            check(input, limits: HTTPLimits(maxHeaderBytes: bytes))
        }
        for count in 1...4 {
            check(input, limits: HTTPLimits(maxHeaderCount: count))
        }
    }

    /// A head cut at every byte: whole-buffer calls that end early hand over and report the
    /// same as the state machine; then the rest completes it.
    func testEveryPrefixOfABrowserHead() {
        let input = head("GET /api/items?page=2 HTTP/1.1\r\nHost: www.example.com\r\n" +
                         "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
                         "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n" +
                         "Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: a=1; b=\u{e9}\r\n\r\n")
        for end in 1...input.count {
            check(Array(input[..<end]))
        }
        for end in 1..<input.count {
            var parser = HTTPRequestParser()
            let first = Array(input[..<end])
            let firstResult = first.withUnsafeBytes { parser.parseHead($0) }
            guard case .incomplete = firstResult else { return XCTFail("prefix of \(end) bytes: \(firstResult)") }
            let second = input.withUnsafeBytes { buffer -> Int? in
                if case .complete(_, let consumed) = parser.parseHead(buffer) { return consumed }
                return nil
            }
            XCTAssertEqual(second, input.count, "split at \(end)")
        }
    }

    /// Calls `body` with `text`'s bytes, one of them replaced by each of the 256 byte values, at
    /// each offset of `offsets` (all of them by default).
    private func forEveryByte(in text: String, offsets: Range<Int>? = nil, _ body: ([UInt8]) -> Void) {
        let bytes = Array(text.utf8)
        for offset in offsets ?? 0..<bytes.count {
            for byte in 0...255 {
                var changed = bytes
                changed[offset] = UInt8(byte)
                body(changed)
            }
        }
    }
}
