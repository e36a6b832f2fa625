// The chunked decoder on its own: slices, in-place decoding, where the body ends, limits.
import SpindleHTTP
import XCTest

final class ChunkedDecoderTests: XCTestCase {
    func testSlicesPointIntoTheInput() {
        var decoder = HTTPChunkedDecoder()
        let input = bytes("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\nNEXT")
        input.withUnsafeBytes { buffer in
            var offset = 0
            var events: [HTTPBodyEvent] = []
            while true {
                let event = decoder.decode(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
                events.append(event)
                if case .data(let r) = event { offset += r.upperBound; continue }
                if case .end(let consumed) = event { offset += consumed }
                break
            }
            XCTAssertEqual(events, [.data(3..<7), .data(5..<10), .end(consumed: 7)])
            XCTAssertEqual(Array(buffer[offset...]), bytes("NEXT"))
        }
        XCTAssertTrue(decoder.isComplete)
        XCTAssertEqual(decoder.bodyBytes, 9)
        bytes("more").withUnsafeBytes { XCTAssertEqual(decoder.decode($0), .end(consumed: 0)) }
    }

    func testNeedMoreConsumesEverything() {
        var decoder = HTTPChunkedDecoder()
        // A size line split in the middle of its digits and of its CRLF.
        for piece in ["1", "0", ";ext", "\r"] {
            bytes(piece).withUnsafeBytes { XCTAssertEqual(decoder.decode($0), .needMore, piece) }
        }
        bytes("\n0123456789abcdef").withUnsafeBytes { XCTAssertEqual(decoder.decode($0), .data(1..<17)) }
        bytes("\r\n0\r\n\r\n").withUnsafeBytes { XCTAssertEqual(decoder.decode($0), .end(consumed: 7)) }
        XCTAssertEqual(decoder.bodyBytes, 16)
    }

    func testEmptyInputNeedsMore() {
        var decoder = HTTPChunkedDecoder()
        XCTAssertEqual(decoder.decode(UnsafeRawBufferPointer(start: nil, count: 0)), .needMore)
    }

    func testDecodeInPlaceCompactsData() throws {
        var decoder = HTTPChunkedDecoder()
        var storage = bytes("4\r\nWiki\r\n5;a=b\r\npedia\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.1")
        let result = try storage.withUnsafeMutableBytes { try decoder.decodeInPlace($0) }
        XCTAssertEqual(result, HTTPInPlaceDecodeResult(bodyBytes: 9, consumed: storage.count - 14, isComplete: true))
        XCTAssertEqual(String(decoding: storage[..<9], as: UTF8.self), "Wikipedia")
        XCTAssertEqual(String(decoding: storage[result.consumed...], as: UTF8.self), "GET / HTTP/1.1")
    }

    func testDecodeInPlaceAcrossReads() throws {
        // A server accumulating a body: decoded bytes stay at the front, new raw bytes follow.
        let wire = bytes("3\r\nabc\r\n4\r\ndefg\r\n2\r\nhi\r\n0\r\n\r\n")
        for cut in 1..<wire.count {
            var decoder = HTTPChunkedDecoder()
            var buffer = [UInt8](repeating: 0, count: wire.count)
            var body = 0
            var filled = 0
            var complete = false
            for piece in [wire[..<cut], wire[cut...]] {
                buffer.replaceSubrange(body..<(body + piece.count), with: piece)
                filled = body + piece.count
                let result = try buffer.withUnsafeMutableBytes { all in
                    try decoder.decodeInPlace(UnsafeMutableRawBufferPointer(rebasing: all[body..<filled]))
                }
                body += result.bodyBytes
                complete = result.isComplete
            }
            XCTAssertTrue(complete, "cut \(cut)")
            XCTAssertEqual(String(decoding: buffer[..<body], as: UTF8.self), "abcdefghi", "cut \(cut)")
        }
    }

    func testDecodeInPlaceThrowsTheError() {
        var decoder = HTTPChunkedDecoder()
        var storage = bytes("5\r\nhello\r\nzz\r\n")
        XCTAssertThrowsError(try storage.withUnsafeMutableBytes { try decoder.decodeInPlace($0) }) { error in
            XCTAssertEqual(error as? HTTPParseError, HTTPParseError(.invalidChunkSize))
        }
    }

    func testLargestChunkSizeIsAcceptedWhenUnlimited() {
        var decoder = HTTPChunkedDecoder(limits: HTTPLimits(maxBodyBytes: 0))
        bytes("7fffffffffffffff\r\nab").withUnsafeBytes { XCTAssertEqual(decoder.decode($0), .data(18..<20)) }
        XCTAssertEqual(decoder.bodyBytes, Int.max)
        var limited = HTTPChunkedDecoder()
        bytes("7fffffffffffffff\r\n").withUnsafeBytes {
            XCTAssertEqual(limited.decode($0), .error(HTTPParseError(.contentTooLarge)))
        }
    }

    func testUnlimitedContentLength() {
        var parser = HTTPRequestParser(limits: HTTPLimits(maxBodyBytes: 0))
        bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000000000\r\n\r\n").withUnsafeBytes { b in
            guard case .complete(let head, _) = parser.parseHead(b) else { return XCTFail("rejected") }
            XCTAssertEqual(head.framing, .contentLength(5_000_000_000))
            let decoder = HTTPBodyDecoder(framing: head.framing, limits: parser.limits)
            XCTAssertEqual(decoder.remainingLength, 5_000_000_000)
            XCTAssertFalse(decoder.isComplete)
        }
    }

    func testContentLengthDecoder() throws {
        var decoder = HTTPBodyDecoder(framing: .contentLength(5))
        bytes("he").withUnsafeBytes { XCTAssertEqual(decoder.decode($0), .data(0..<2)) }
        XCTAssertEqual(decoder.decode(UnsafeRawBufferPointer(start: nil, count: 0)), .needMore)
        bytes("lloGET").withUnsafeBytes { XCTAssertEqual(decoder.decode($0), .data(0..<3)) }
        bytes("GET").withUnsafeBytes { XCTAssertEqual(decoder.decode($0), .end(consumed: 0)) }
        XCTAssertTrue(decoder.isComplete)

        var none = HTTPBodyDecoder(framing: .none)
        XCTAssertTrue(none.isComplete)
        bytes("GET").withUnsafeBytes { XCTAssertEqual(none.decode($0), .end(consumed: 0)) }

        var inPlace = HTTPBodyDecoder(framing: .contentLength(3))
        var storage = bytes("abcdef")
        let r = try storage.withUnsafeMutableBytes { try inPlace.decodeInPlace($0) }
        XCTAssertEqual(r, HTTPInPlaceDecodeResult(bodyBytes: 3, consumed: 3, isComplete: true))
    }
}
