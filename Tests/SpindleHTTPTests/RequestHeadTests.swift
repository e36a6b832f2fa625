// The parsed head as a zero-copy view: accessors, rebasing, field lookup, persistence, and the
// conversions to swift-http-types.
import HTTPTypes
import SpindleHTTP
import XCTest

final class RequestHeadTests: XCTestCase {
    /// Parses `text` (which must hold a complete head) and runs `body` with the head.
    private func withHead(_ text: String, limits: HTTPLimits = .default, _ body: (HTTPRequestHead, Int) throws -> Void) rethrows {
        var parser = HTTPRequestParser(limits: limits)
        try bytes(text).withUnsafeBytes { buffer in
            guard case .complete(let head, let consumed) = parser.parseHead(buffer) else {
                XCTFail("did not parse: \(text.debugDescription)")
                return
            }
            try body(head, consumed)
        }
    }

    func testAccessors() {
        withHead("POST /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Thing:  v1 \r\nx-thing: v2\r\nContent-Length: 3\r\n\r\nabc") { head, consumed in
            XCTAssertEqual(consumed, head.length)
            XCTAssertEqual(head.bytes.count, consumed)
            XCTAssertEqual(String(decoding: head.methodBytes, as: UTF8.self), "POST")
            XCTAssertEqual(String(decoding: head.targetBytes, as: UTF8.self), "/a/b?c=d")
            XCTAssertEqual(head.methodString, "POST")
            XCTAssertTrue(head.methodIs("POST"))
            XCTAssertFalse(head.methodIs("post"))
            XCTAssertFalse(head.isHEAD)
            XCTAssertEqual(head.fieldCount, 4)
            XCTAssertEqual(head.fields.map(\.nameString), ["Host", "X-Thing", "x-thing", "Content-Length"])
            XCTAssertEqual(head.fields.map(\.valueString), ["example.com", "v1", "v2", "3"])
            XCTAssertEqual(head.firstValue("x-thing").map { String(decoding: $0, as: UTF8.self) }, "v1")
            XCTAssertEqual(head.firstValue(named: "X-THING").map { String(decoding: $0, as: UTF8.self) }, "v1")
            XCTAssertNil(head.firstValue("missing"))
            XCTAssertEqual(head.hostBytes.map { String(decoding: $0, as: UTF8.self) }, "example.com")
            XCTAssertEqual(head.authorityBytes.map { String(decoding: $0, as: UTF8.self) }, "example.com")
            XCTAssertEqual(String(decoding: head.pathBytes, as: UTF8.self), "/a/b?c=d")
            XCTAssertEqual(head.persistence, .keepAlive)
            XCTAssertTrue(head.fields[1].hasName("x-thing"))
            // Zero-copy: the views point into the caller's buffer.
            XCTAssertEqual(head.methodBytes.baseAddress, head.bytes.baseAddress)
            XCTAssertEqual(head.targetBytes.baseAddress, head.bytes.baseAddress! + 5)
        }
    }

    /// The field table starts at `initialFieldCapacity` and grows while a head is scanned: a
    /// head with the most fields the limit allows, fed a few bytes at a time (so the table grows
    /// between calls, in the middle of the head), keeps every field in order, and the parser
    /// then parses a small head and another full one with the grown table.
    func testFieldTableGrowsToTheLimitAndKeepsEveryField() {
        let limits = HTTPLimits.default
        XCTAssertLessThan(HTTPRequestParser.initialFieldCapacity, limits.maxHeaderCount - 1)
        let names = (0..<(limits.maxHeaderCount - 1)).map { "X-Field-\($0)" }
        let many = "GET / HTTP/1.1\r\nHost: h\r\n" + names.enumerated().map { "\($1): value \($0)\r\n" }.joined() + "\r\n"
        var parser = HTTPRequestParser(limits: limits)
        for text in [many, "GET /small HTTP/1.1\r\nHost: h\r\n\r\n", many] {
            let data = bytes(text)
            data.withUnsafeBytes { buffer in
                var end = 0
                var result = HTTPHeadParseResult.incomplete
                while end < buffer.count {
                    end = min(end + 7, buffer.count)
                    result = parser.parseHead(UnsafeRawBufferPointer(rebasing: buffer[0..<end]))
                    if case .complete = result { break }
                }
                guard case .complete(let head, let consumed) = result else { return XCTFail("did not parse \(text.prefix(30))") }
                XCTAssertEqual(consumed, buffer.count)
                if text == many {
                    XCTAssertEqual(head.fieldCount, limits.maxHeaderCount)
                    XCTAssertEqual(head.fields.map(\.nameString), ["Host"] + names)
                    XCTAssertEqual(head.fields.map(\.valueString), ["h"] + names.indices.map { "value \($0)" })
                } else {
                    XCTAssertEqual(head.fields.map(\.nameString), ["Host"])
                }
            }
        }
    }

    func testRebasedHeadReadsTheMovedBytes() {
        withHead("GET /moved HTTP/1.1\r\nHost: h\r\n\r\n") { head, consumed in
            var copy = Array(head.bytes)
            copy.withUnsafeMutableBytes { moved in
                let rebased = head.rebased(to: UnsafeRawPointer(moved.baseAddress!))
                XCTAssertEqual(rebased.targetString, "/moved")
                moved[5] = UInt8(ascii: "l")  // the view reads the new bytes
                XCTAssertEqual(rebased.targetString, "/loved")
                XCTAssertEqual(rebased.fields[0].valueString, "h")
            }
        }
    }

    func testPersistence() {
        withHead("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") { head, _ in XCTAssertEqual(head.persistence, .keepAliveHTTP10) }
        withHead("GET / HTTP/1.0\r\n\r\n") { head, _ in XCTAssertEqual(head.persistence, .close) }
        withHead("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") { head, _ in XCTAssertEqual(head.persistence, .close) }
        withHead("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n") { head, _ in
            XCTAssertEqual(head.persistence, .keepAlive)
            XCTAssertTrue(head.isHEAD)
        }
    }

    func testAbsoluteFormAuthorityWinsOverHost() {
        withHead("GET HTTPS://Example.com:8443/p/q?x=1 HTTP/1.1\r\nHost: ignored\r\n\r\n") { head, _ in
            XCTAssertEqual(head.targetForm, .absolute)
            XCTAssertEqual(head.authorityBytes.map { String(decoding: $0, as: UTF8.self) }, "Example.com:8443")
            XCTAssertEqual(String(decoding: head.pathBytes, as: UTF8.self), "/p/q?x=1")
            let request = HTTPRequest(head)
            XCTAssertEqual(request.scheme, "https")
            XCTAssertEqual(request.authority, "Example.com:8443")
            XCTAssertEqual(request.path, "/p/q?x=1")
        }
        withHead("GET http://example.com HTTP/1.1\r\nHost: a\r\n\r\n") { head, _ in
            XCTAssertEqual(HTTPRequest(head).path, "/")
        }
        withHead("GET http://example.com?q HTTP/1.1\r\nHost: a\r\n\r\n") { head, _ in
            XCTAssertEqual(HTTPRequest(head).path, "/?q")
        }
    }

    func testHTTPRequestConversion() {
        withHead("POST /submit?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Type: text/plain\r\nX-Custom: a b\r\nContent-Length: 0\r\n\r\n") { head, _ in
            let request = HTTPRequest(head)
            XCTAssertEqual(request.method, .post)
            XCTAssertEqual(request.scheme, "http")
            XCTAssertEqual(request.authority, "example.com:8080")
            XCTAssertEqual(request.path, "/submit?x=1")
            XCTAssertNil(request.headerFields[HTTPField.Name("Host")!], "Host became the authority")
            XCTAssertEqual(request.headerFields[.contentType], "text/plain")
            XCTAssertEqual(request.headerFields[HTTPField.Name("x-custom")!], "a b")
            XCTAssertEqual(request.headerFields.count, 3)
            XCTAssertEqual(HTTPRequest(head, scheme: "https").scheme, "https")

            let all = head.headerFields
            XCTAssertEqual(all.map(\.name.rawName), ["Content-Type", "X-Custom", "Content-Length"])
            XCTAssertEqual(all, request.headerFields)
        }
        withHead("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") { head, _ in
            let request = HTTPRequest(head)
            XCTAssertEqual(request.method, .options)
            XCTAssertEqual(request.path, "*")
        }
        withHead("GET / HTTP/1.0\r\n\r\n") { head, _ in
            XCTAssertNil(HTTPRequest(head).authority)
        }
    }

    func testMethodConversion() {
        let standard: [(String, HTTPRequest.Method)] = [("GET", .get), ("HEAD", .head), ("POST", .post), ("PUT", .put),
                                                        ("DELETE", .delete), ("PATCH", .patch), ("OPTIONS", .options)]
        for (text, method) in standard {
            withHead("\(text) / HTTP/1.1\r\nHost: a\r\n\r\n") { head, _ in XCTAssertEqual(head.method, method) }
        }
        withHead("PURGE / HTTP/1.1\r\nHost: a\r\n\r\n") { head, _ in XCTAssertEqual(head.method.rawValue, "PURGE") }
        withHead("get / HTTP/1.1\r\nHost: a\r\n\r\n") { head, _ in
            XCTAssertEqual(head.method.rawValue, "get")
            XCTAssertNotEqual(head.method, .get, "methods are case-sensitive")
        }
        withHead("VERY-LONG-EXTENSION-METHOD / HTTP/1.1\r\nHost: a\r\n\r\n") { head, _ in
            XCTAssertEqual(head.method.rawValue, "VERY-LONG-EXTENSION-METHOD")
        }
    }

    func testObsTextValueConversion() {
        var input = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf")
        input += [0xE9]
        input += bytes("\r\n\r\n")
        var parser = HTTPRequestParser()
        input.withUnsafeBytes { b in
            guard case .complete(let head, _) = parser.parseHead(b) else { return XCTFail() }
            XCTAssertEqual(Array(head.fields[1].value), [0x63, 0x61, 0x66, 0xE9], "raw bytes kept")
            let field = head.fields[1].httpField
            field.withUnsafeBytesOfValue { XCTAssertEqual(Array($0), [0x63, 0x61, 0x66, 0xE9]) }
        }
    }

    func testIncompleteThenCompleteAcrossCalls() {
        // The server's contract: re-present the kept bytes plus the new ones.
        var parser = HTTPRequestParser()
        let full = bytes("GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET")
        full.withUnsafeBytes { all in
            for n in 0..<27 {
                guard case .incomplete = parser.parseHead(UnsafeRawBufferPointer(rebasing: all[0..<n])) else {
                    return XCTFail("prefix \(n) should be incomplete")
                }
                XCTAssertEqual(parser.bytesScanned, n)
            }
            guard case .complete(let head, let consumed) = parser.parseHead(all) else { return XCTFail() }
            XCTAssertEqual(consumed, 28)
            XCTAssertEqual(head.targetString, "/x")
            XCTAssertEqual(parser.bytesScanned, 0)
        }
    }
}

final class LimitsTests: XCTestCase {
    func testDefaults() {
        let l = HTTPLimits.default
        XCTAssertEqual(l.maxRequestTargetLength, 8192)
        XCTAssertEqual(l.maxHeaderBytes, 16384)
        XCTAssertEqual(l.maxHeaderCount, 100)
        XCTAssertEqual(l.maxBodyBytes, 1 << 20)
        XCTAssertEqual(l.maxChunkLineLength, 4096)
        XCTAssertEqual(l.maxHeadLength, 32 + 1 + 8192 + 1 + 8 + 2 + 16384)
        XCTAssertEqual(HTTPLimits.maxMethodLength, 32)
    }

    func testEnvironmentOverrides() {
        let values = ["SPINDLE_HTTP_MAX_TARGET_LENGTH": "2K", "SPINDLE_HTTP_MAX_HEADER_BYTES": "32k",
                      "SPINDLE_HTTP_MAX_HEADER_COUNT": "7", "SPINDLE_HTTP_MAX_BODY_BYTES": "0",
                      "SPINDLE_HTTP_MAX_CHUNK_LINE_LENGTH": "100"]
        for (name, value) in values { setenv(name, value, 1) }
        defer { for name in values.keys { unsetenv(name) } }
        let l = HTTPLimits.fromEnvironment
        XCTAssertEqual(l, HTTPLimits(maxRequestTargetLength: 2048, maxHeaderBytes: 32768, maxHeaderCount: 7,
                                     maxBodyBytes: 0, maxChunkLineLength: 100))
        unsetenv("SPINDLE_HTTP_MAX_HEADER_COUNT")
        XCTAssertEqual(HTTPLimits.fromEnvironment.maxHeaderCount, 100)
    }

    func testUnsetEnvironmentGivesDefaults() {
        for name in ["SPINDLE_HTTP_MAX_TARGET_LENGTH", "SPINDLE_HTTP_MAX_HEADER_BYTES", "SPINDLE_HTTP_MAX_HEADER_COUNT",
                     "SPINDLE_HTTP_MAX_BODY_BYTES", "SPINDLE_HTTP_MAX_CHUNK_LINE_LENGTH"] { unsetenv(name) }
        XCTAssertEqual(HTTPLimits.fromEnvironment, .default)
    }
}
