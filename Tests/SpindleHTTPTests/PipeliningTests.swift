// Sixteen pipelined requests in one buffer: parsed in order, each with its exact byte count,
// whatever the split of the stream.
import HTTPTypes
import SpindleHTTP
import XCTest

final class PipeliningTests: XCTestCase {
    /// (head, body framing bytes, decoded body) of 16 varied requests.
    private let requests: [(head: String, body: String, decoded: String)] = (0..<16).map { k in
        switch k % 4 {
        case 0: return ("GET /plaintext/\(k) HTTP/1.1\r\nHost: localhost\r\n\r\n", "", "")
        case 1: return ("POST /echo/\(k) HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n", "hel\(k % 10)o", "hel\(k % 10)o")
        case 2: return ("PUT /chunks/\(k) HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
                        "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: t\r\n\r\n", "abcde")
        default: return ("HEAD /\(k) HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n", "", "")
        }
    }

    private var stream: [UInt8] { requests.flatMap { bytes($0.head + $0.body) } }

    /// Straight API use: one buffer, parse, decode, advance by exactly what was consumed.
    func testSixteenRequestsInOneBuffer() {
        let input = stream
        var parser = HTTPRequestParser()
        var offset = 0
        var index = 0
        input.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
                guard case .complete(let head, let consumed) = parser.parseHead(rest) else {
                    return XCTFail("request \(index) did not parse")
                }
                let expected = requests[index]
                XCTAssertEqual(consumed, expected.head.utf8.count, "head \(index)")
                XCTAssertEqual(head.targetString.split(separator: "/").last.map(String.init), "\(index)")
                offset += consumed
                var decoder = HTTPBodyDecoder(framing: head.framing)
                var body: [UInt8] = []
                var bodyWire = 0
                decoding: while true {
                    let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
                    switch decoder.decode(rest) {
                    case .data(let r):
                        body += rest[r]
                        offset += r.upperBound
                        bodyWire += r.upperBound
                    case .end(let consumed):
                        offset += consumed
                        bodyWire += consumed
                        break decoding
                    case .needMore, .error:
                        XCTFail("request \(index): body did not end")
                        return
                    }
                }
                XCTAssertEqual(bodyWire, expected.body.utf8.count, "body bytes of \(index)")
                XCTAssertEqual(String(decoding: body, as: UTF8.self), expected.decoded, "body of \(index)")
                index += 1
            }
        }
        XCTAssertEqual(index, 16)
        XCTAssertEqual(offset, input.count)
        XCTAssertEqual(parser.bytesScanned, 0, "idle between requests")
    }

    /// The same stream through the driver, whole, at every split, and byte by byte.
    func testSixteenRequestsAtEverySplit() {
        let outcome = Driver.everySplit(stream, limits: .default, name: "pipelined x16")
        XCTAssertEqual(outcome.ending, .idle)
        XCTAssertEqual(outcome.requests.count, 16)
        for (k, r) in outcome.requests.enumerated() {
            XCTAssertEqual(r.headLength, requests[k].head.utf8.count, "head \(k)")
            XCTAssertEqual(r.wireLength, requests[k].head.utf8.count + requests[k].body.utf8.count, "wire \(k)")
            XCTAssertEqual(String(decoding: r.body, as: UTF8.self), requests[k].decoded, "body \(k)")
            XCTAssertEqual(r.method, ["GET", "POST", "PUT", "HEAD"][k % 4])
        }
    }

    /// A bad request in the middle: the ones before it are served, nothing after it is parsed.
    func testErrorInTheMiddleStopsTheStream() {
        var input = bytes("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
        input += bytes("GET /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx")
        input += bytes("GET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
        let outcome = Driver.everySplit(input, limits: .default, name: "error in the middle")
        XCTAssertEqual(outcome.requests.map(\.target), ["/1"])
        XCTAssertEqual(outcome.ending, .error(.duplicateContentLength))
    }
}
