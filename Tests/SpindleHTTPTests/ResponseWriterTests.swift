// The response serializer, byte for byte, with a fixed clock.
import HTTPTypes
import SpindleHTTP
import XCTest

final class ResponseWriterTests: XCTestCase {
    /// Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example).
    static let rfcExample = 784_111_777
    private var writer = HTTPResponseWriter(dateCache: HTTPDateCache(clock: .fixed(unixSeconds: rfcExample)))
    private let date = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"

    private func text(_ buffer: borrowing HTTPOutputBuffer) -> String {
        String(decoding: buffer.readableBytes, as: UTF8.self)
    }

    private func write(_ response: HTTPResponse, body: String, head: Bool = false,
                       persistence: HTTPConnectionPersistence = .keepAlive) -> (String, Bool) {
        var buffer = HTTPOutputBuffer(capacity: 16)
        var body = body
        let closes = body.withUTF8 {
            writer.writeResponse(response, body: UnsafeRawBufferPointer($0), requestIsHEAD: head,
                                 persistence: persistence, into: &buffer)
        }
        return (text(buffer), closes)
    }

    /// A buffer that grew for a large response is shrunk when emptied past the limit; within
    /// the limit it keeps its memory. Contents are gone either way, and it still works.
    func testRemoveAllShrinksABufferThatGrewPastTheLimit() {
        var buffer = HTTPOutputBuffer(capacity: 4096)
        let large = [UInt8](repeating: 7, count: 300_000)
        large.withUnsafeBytes { buffer.append($0) }
        XCTAssertGreaterThanOrEqual(buffer.capacity, 300_000)
        buffer.removeAll(shrinkingAbove: 65_536, to: 4096)
        XCTAssertEqual(buffer.count, 0)
        XCTAssertEqual(buffer.capacity, 4096)
        let small = [UInt8](repeating: 1, count: 10_000)
        small.withUnsafeBytes { buffer.append($0) }
        let grown = buffer.capacity
        XCTAssertGreaterThanOrEqual(grown, 10_000)
        buffer.removeAll(shrinkingAbove: 65_536, to: 4096)
        XCTAssertEqual(buffer.capacity, grown, "within the limit the memory is kept")
        small.withUnsafeBytes { buffer.append($0) }
        XCTAssertTrue(Array(buffer.readableBytes) == small)
    }

    func testPlaintextResponse() {
        let response = HTTPResponse(status: .ok, headerFields: [.server: "Spindle", .contentType: "text/plain"])
        let (out, closes) = write(response, body: "Hello, World!")
        XCTAssertEqual(out, "HTTP/1.1 200 OK\r\nServer: Spindle\r\nContent-Type: text/plain\r\n" + date
                       + "Content-Length: 13\r\n\r\nHello, World!")
        XCTAssertFalse(closes)
    }

    func testHEADHasTheLengthButNoBody() {
        let (out, _) = write(HTTPResponse(status: .ok), body: "Hello, World!", head: true)
        XCTAssertEqual(out, "HTTP/1.1 200 OK\r\n" + date + "Content-Length: 13\r\n\r\n")
    }

    func testConnectionClose() {
        let (out, closes) = write(HTTPResponse(status: .notFound), body: "", persistence: .close)
        XCTAssertEqual(out, "HTTP/1.1 404 Not Found\r\n" + date + "Content-Length: 0\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(closes)
    }

    func testHTTP10KeepAlive() {
        let (out, closes) = write(HTTPResponse(status: .ok), body: "x", persistence: .keepAliveHTTP10)
        XCTAssertEqual(out, "HTTP/1.1 200 OK\r\n" + date + "Content-Length: 1\r\nConnection: keep-alive\r\n\r\nx")
        XCTAssertFalse(closes)
    }

    func testChunkedResponse() {
        var buffer = HTTPOutputBuffer()
        writer.writeHead(HTTPResponse(status: .ok), framing: .chunked, persistence: .keepAlive, into: &buffer)
        for piece in ["Hello", ", ", "", String(repeating: "z", count: 255)] {
            var piece = piece
            piece.withUTF8 { HTTPChunkedEncoder.writeChunk(UnsafeRawBufferPointer($0), into: &buffer) }
        }
        HTTPChunkedEncoder.writeLastChunk(into: &buffer)
        XCTAssertEqual(text(buffer), "HTTP/1.1 200 OK\r\n" + date + "Transfer-Encoding: chunked\r\n\r\n"
                       + "5\r\nHello\r\n2\r\n, \r\nff\r\n" + String(repeating: "z", count: 255) + "\r\n0\r\n\r\n")
    }

    /// The size line of a chunk sent without a copy: lowercase hex without leading zeros, CRLF.
    func testSizeLinesOfChunksSentAsTheyAre() {
        let cases: [(Int, String)] = [(1, "1"), (15, "f"), (16, "10"), (2048, "800"), (0x1_0000, "10000"), (Int.max, "7fffffffffffffff")]
        for (count, hex) in cases {
            var line = [UInt8](repeating: 0, count: HTTPChunkedEncoder.maxSizeLineLength)
            let length = line.withUnsafeMutableBytes { HTTPChunkedEncoder.writeSizeLine(count, into: $0) }
            XCTAssertEqual(String(decoding: line[..<length], as: UTF8.self), hex + "\r\n", "\(count)")
        }
        XCTAssertEqual(Array(HTTPChunkedEncoder.crlf), [13, 10])
    }

    func testLastChunkWithTrailers() {
        var buffer = HTTPOutputBuffer()
        HTTPChunkedEncoder.writeLastChunk(trailers: [HTTPField.Name("X-Checksum")!: "abc"], into: &buffer)
        XCTAssertEqual(text(buffer), "0\r\nX-Checksum: abc\r\n\r\n")
    }

    func testChunkedOutputDecodesBack() {
        var buffer = HTTPOutputBuffer()
        var payload = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for range in [0..<1, 1..<17, 17..<4096, 4096..<5000] {
            payload.withUnsafeBytes { HTTPChunkedEncoder.writeChunk(UnsafeRawBufferPointer(rebasing: $0[range]), into: &buffer) }
        }
        HTTPChunkedEncoder.writeLastChunk(into: &buffer)
        var decoded = Array(buffer.readableBytes)
        var decoder = HTTPChunkedDecoder(limits: HTTPLimits(maxBodyBytes: 0))
        let r = try? decoded.withUnsafeMutableBytes { try decoder.decodeInPlace($0) }
        XCTAssertEqual(r?.isComplete, true)
        XCTAssertEqual(Array(decoded[..<(r?.bodyBytes ?? 0)]), payload)
        payload.removeAll()
    }

    func testNoContentAndNotModifiedHaveNoFraming() {
        XCTAssertEqual(write(HTTPResponse(status: .noContent), body: "").0, "HTTP/1.1 204 No Content\r\n" + date + "\r\n")
        XCTAssertEqual(write(HTTPResponse(status: .notModified), body: "ignored").0, "HTTP/1.1 304 Not Modified\r\n" + date + "\r\n")
        var buffer = HTTPOutputBuffer()
        writer.writeHead(HTTPResponse(status: .switchingProtocols), framing: .chunked, persistence: .keepAlive, into: &buffer)
        XCTAssertEqual(text(buffer), "HTTP/1.1 101 Switching Protocols\r\n" + date + "\r\n")
    }

    func testCustomReasonAndUnknownStatus() {
        XCTAssertEqual(write(HTTPResponse(status: .init(code: 200, reasonPhrase: "Fine")), body: "").0,
                       "HTTP/1.1 200 Fine\r\n" + date + "Content-Length: 0\r\n\r\n")
        XCTAssertEqual(write(HTTPResponse(status: .init(code: 299)), body: "").0,
                       "HTTP/1.1 299 \r\n" + date + "Content-Length: 0\r\n\r\n")
        XCTAssertEqual(write(HTTPResponse(status: .init(code: 418, reasonPhrase: "I'm a teapot")), body: "").0,
                       "HTTP/1.1 418 I'm a teapot\r\n" + date + "Content-Length: 0\r\n\r\n")
    }

    func testWriterOwnsFramingAndKeepsCallerDate() {
        var fields = HTTPFields()
        fields[.contentLength] = "999"
        fields[.transferEncoding] = "gzip"
        fields[.connection] = "upgrade"
        fields[.date] = "Mon, 07 Nov 1994 00:00:00 GMT"
        fields[.cacheControl] = "no-store"
        let (out, _) = write(HTTPResponse(status: .ok, headerFields: fields), body: "abc")
        XCTAssertEqual(out, "HTTP/1.1 200 OK\r\nDate: Mon, 07 Nov 1994 00:00:00 GMT\r\nCache-Control: no-store\r\n"
                       + "Content-Length: 3\r\n\r\nabc")
    }

    func testCloseDelimited() {
        var buffer = HTTPOutputBuffer()
        let closes = writer.writeHead(HTTPResponse(status: .ok), framing: .closeDelimited, persistence: .keepAliveHTTP10, into: &buffer)
        XCTAssertTrue(closes)
        XCTAssertEqual(text(buffer), "HTTP/1.1 200 OK\r\n" + date + "Connection: close\r\n\r\n")
    }

    func testErrorResponse() {
        var buffer = HTTPOutputBuffer()
        writer.writeError(HTTPParseError(.missingHost), into: &buffer)
        let body = "HTTP/1.1 request without Host\n"
        XCTAssertEqual(text(buffer), "HTTP/1.1 400 Bad Request\r\n" + date + "Content-Type: text/plain; charset=utf-8\r\n"
                       + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
        buffer.removeAll()
        writer.writeError(HTTPParseError(.headerSectionTooLarge), into: &buffer)
        XCTAssertTrue(text(buffer).hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
    }

    func testContinue() {
        var buffer = HTTPOutputBuffer()
        HTTPResponseWriter.writeContinue(into: &buffer)
        XCTAssertEqual(text(buffer), "HTTP/1.1 100 Continue\r\n\r\n")
    }

    func testStatusLines() {
        let codes = [100, 101, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 408, 409,
                     411, 413, 414, 415, 417, 422, 429, 431, 500, 501, 502, 503, 504, 505]
        for code in codes {
            let standard = HTTPResponse.Status(code: code)  // empty reason: formatted, not precomputed
            var buffer = HTTPOutputBuffer()
            writer.writeHead(HTTPResponse(status: standard), framing: .contentLength(0), persistence: .keepAlive, into: &buffer)
            XCTAssertTrue(text(buffer).hasPrefix("HTTP/1.1 \(code) \r\n"), "\(code)")
        }
        // And the named statuses use their standard reason phrase.
        let named: [HTTPResponse.Status] = [.ok, .created, .noContent, .movedPermanently, .found, .notModified, .badRequest,
                                            .notFound, .contentTooLarge, .uriTooLong, .requestHeaderFieldsTooLarge,
                                            .internalServerError, .notImplemented, .httpVersionNotSupported]
        for status in named {
            var buffer = HTTPOutputBuffer()
            writer.writeHead(HTTPResponse(status: status), framing: .contentLength(0), persistence: .keepAlive, into: &buffer)
            XCTAssertTrue(text(buffer).hasPrefix("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n"), "\(status)")
        }
        // Every status with its RFC 9110 reason phrase gets exactly that line (precomputed or not),
        // and a non-standard phrase for the same code is written as given.
        let phrases: [(Int, String)] = [
            (100, "Continue"),
            (101, "Switching Protocols"),
            (200, "OK"),
            (201, "Created"),
            (202, "Accepted"),
            (204, "No Content"),
            (206, "Partial Content"),
            (301, "Moved Permanently"),
            (302, "Found"),
            (303, "See Other"),
            (304, "Not Modified"),
            (307, "Temporary Redirect"),
            (308, "Permanent Redirect"),
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (409, "Conflict"),
            (411, "Length Required"),
            (413, "Content Too Large"),
            (414, "URI Too Long"),
            (415, "Unsupported Media Type"),
            (417, "Expectation Failed"),
            (422, "Unprocessable Content"),
            (429, "Too Many Requests"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (502, "Bad Gateway"),
            (503, "Service Unavailable"),
            (504, "Gateway Timeout"),
            (505, "HTTP Version Not Supported")
        ]
        for (code, phrase) in phrases {
            for reason in [phrase, phrase.uppercased(), phrase + "!"] {
                var buffer = HTTPOutputBuffer()
                writer.writeHead(HTTPResponse(status: .init(code: code, reasonPhrase: reason)), framing: .contentLength(0),
                                 persistence: .keepAlive, into: &buffer)
                XCTAssertTrue(text(buffer).hasPrefix("HTTP/1.1 \(code) \(reason)\r\n"), "\(code) \(reason)")
            }
        }
    }

    func testOutputBuffer() {
        var buffer = HTTPOutputBuffer(capacity: 1)
        XCTAssertEqual(buffer.capacity, 64)
        for k in 0..<100 { buffer.append(decimal: k) }
        XCTAssertEqual(text(buffer), (0..<100).map(String.init).joined())
        XCTAssertGreaterThanOrEqual(buffer.capacity, buffer.count)
        buffer.removeFirst(10)
        XCTAssertTrue(text(buffer).hasPrefix("1011121314"))
        buffer.removeAll()
        XCTAssertEqual(buffer.count, 0)
        buffer.append(decimal: Int.max)
        buffer.append(byte: 0x20)
        buffer.append(hex: 0)
        buffer.append(byte: 0x20)
        buffer.append(hex: Int.max)
        buffer.append(" ü" as String)
        XCTAssertEqual(text(buffer), "\(Int.max) 0 7fffffffffffffff ü")
    }

    /// A writer keeps the last head written from shared field lines and copies it whole while
    /// the status (code and reason), the field lines, the length, the persistence and the
    /// date's second are the same: every response of a run that changes one part at a time,
    /// and repeats each, comes out as a fresh writer (no kept head) writes it, byte for byte.
    func testPreparedHeadIsReusedOnlyWhileEveryPartIsTheSame() {
        let text: StaticString = "Content-Type: text/plain; charset=utf-8\r\n"
        let json: StaticString = "Content-Type: application/json\r\n"
        let longReason = String(repeating: "long reason ", count: 30)  // a head past the kept capacity
        struct Step {
            var status: HTTPResponse.Status = .ok
            var lines: StaticString
            var body = "Hello, World!"
            var persistence = HTTPConnectionPersistence.keepAlive
            var head = false
            var second = ResponseWriterTests.rfcExample
        }
        let steps: [Step] = [
            Step(lines: text), Step(lines: text),
            Step(status: .notFound, lines: text), Step(status: .notFound, lines: text),
            Step(status: .init(code: 200, reasonPhrase: "Fine"), lines: text),
            Step(status: .init(code: 200, reasonPhrase: "Fine"), lines: text),
            Step(lines: text),
            Step(lines: json), Step(lines: json),
            Step(lines: json, body: "Hello, World?"), Step(lines: json, body: "Hello, World!!"),
            Step(lines: json, body: "Hello, World!!", persistence: .close),
            Step(lines: json, body: "Hello, World!!", persistence: .keepAliveHTTP10),
            Step(lines: json, body: "Hello, World!!", persistence: .keepAliveHTTP10),
            Step(lines: json, body: "Hello, World!!", persistence: .keepAliveHTTP10, head: true),
            Step(lines: json, body: "Hello, World!!", second: ResponseWriterTests.rfcExample + 1),
            Step(lines: json, body: "Hello, World!!", second: ResponseWriterTests.rfcExample + 1),
            Step(lines: json, body: "Hello, World!!"),
            Step(status: .noContent, lines: json, body: ""), Step(status: .noContent, lines: json, body: ""),
            Step(status: .init(code: 200, reasonPhrase: longReason), lines: text),
            Step(status: .init(code: 200, reasonPhrase: longReason), lines: text),
            Step(lines: text),
        ]
        var kept = HTTPResponseWriter(dateCache: HTTPDateCache(clock: .fixed(unixSeconds: Self.rfcExample)))
        for (number, step) in steps.enumerated() {
            kept.dateCache.clock = .fixed(unixSeconds: step.second)
            var fresh = HTTPResponseWriter(dateCache: HTTPDateCache(clock: .fixed(unixSeconds: step.second)))
            var keptOutput = HTTPOutputBuffer(capacity: 16)
            var freshOutput = HTTPOutputBuffer(capacity: 16)
            var body = step.body
            let (keptCloses, freshCloses) = body.withUTF8 { bytes in
                (kept.writeResponse(status: step.status, fieldLines: step.lines, body: UnsafeRawBufferPointer(bytes),
                                    requestIsHEAD: step.head, persistence: step.persistence, into: &keptOutput),
                 fresh.writeResponse(status: step.status, fieldLines: step.lines, body: UnsafeRawBufferPointer(bytes),
                                     requestIsHEAD: step.head, persistence: step.persistence, into: &freshOutput))
            }
            XCTAssertEqual(self.text(keptOutput), self.text(freshOutput), "step \(number)")
            XCTAssertEqual(keptCloses, freshCloses, "step \(number)")
        }
        // The fresh writer's bytes are the head as specified (one case spelled out).
        var output = HTTPOutputBuffer(capacity: 16)
        var body = "Hi"
        _ = body.withUTF8 { kept.writeResponse(status: .ok, fieldLines: text, body: UnsafeRawBufferPointer($0), persistence: .close, into: &output) }
        XCTAssertEqual(self.text(output), "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                       + "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\nConnection: close\r\n\r\nHi")
    }
}
