// The two receive buffer sizes over real sockets: a head arrives in a small buffer (2 KiB) and
// moves to a large one only while nothing points into it — a head that outgrows it while being
// read, a body still to come (the head is rebased), pipelined requests that arrive while one is
// served, an upgrade. Each case checks the bytes the handler saw and, through the pools'
// metrics, that the move happened (or, for a plain request, that it did not).
import Foundation
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleHTTP
import SpindleTestSupport
import XCTest

final class ReceiveBufferTests: ServerTestCase {
    private func startBufferServer() throws -> TestServer {
        try startServer(configure: {
            $0.workers = 1
            $0.adminPort = 0
            $0.limits = HTTPLimits(maxHeaderBytes: 16 << 10, maxBodyBytes: 1 << 20)
        }, routes: { router in
            // The request's own view of its head: the `X-Tag` value and its length.
            router.get("/tag") { request, _ in
                let tag = request.headerFields[HTTPField.Name("X-Tag")!] ?? "-"
                return .text("\(tag.utf8.count) \(tag.suffix(12))")
            }
            router.post("/tagged-echo") { request, _ in
                let body = try request.body.readAll()
                let tag = request.headerFields[HTTPField.Name("X-Tag")!] ?? "-"
                return .text("\(tag) \(body.count) \(body.reduce(0) { ($0 &* 31) &+ Int($1) })")
            }
            router.get("/slow") { _, _ in
                try Fiber.sleep(for: .milliseconds(150))
                return .text("slow")
            }
            router.get("/seq/:n") { _, context in .text("seq \(try context.parameters.require("n", as: Int.self))") }
        })
    }

    /// Largest `spindle_pool_peak_in_use` of `pool` so far.
    private func peak(_ server: TestServer, _ pool: String) throws -> Double {
        try server.scrapeMetrics().value("spindle_pool_peak_in_use", ["pool": pool])
    }

    /// A plain GET stays in a small buffer: no large one is ever taken.
    func testASmallHeadIsServedFromASmallBuffer() throws {
        let server = try startBufferServer()
        let client = try TestClient(port: server.port)
        defer { client.close() }
        try client.send("GET /tag HTTP/1.1\r\nHost: a\r\nX-Tag: small-one\r\n\r\n")
        XCTAssertEqual(try client.readResponse().bodyString, "9 small-one")
        XCTAssertEqual(try peak(server, "receive_buffers"), 0, "a small head took a large buffer")
        XCTAssertGreaterThanOrEqual(try peak(server, "small_receive_buffers"), 1)
    }

    /// A 6 KiB head sent 100 bytes at a time starts in a small buffer and outgrows it while it is
    /// read: it moves, and the handler sees every byte of it.
    func testAHeadThatOutgrowsASmallBufferMovesWhileItIsRead() throws {
        let server = try startBufferServer()
        let client = try TestClient(port: server.port)
        defer { client.close() }
        let tag = String((0..<6000).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
        let head = Array("GET /tag HTTP/1.1\r\nHost: a\r\nX-Tag: \(tag)\r\n\r\n".utf8)
        for start in stride(from: 0, to: head.count, by: 100) {
            try client.send(Array(head[start..<min(start + 100, head.count)]))
            usleep(1_000)
        }
        XCTAssertEqual(try client.readResponse().bodyString, "6000 \(tag.suffix(12))")
        XCTAssertGreaterThanOrEqual(try peak(server, "receive_buffers"), 1, "the head never moved to a large buffer")
    }

    /// A chunked body that comes after its head: the exchange moves to a large buffer before the
    /// handler runs, its head rebased there (the handler reads the header it sent), and the body
    /// (16 chunks of 3 KiB, each larger than a small buffer) arrives whole.
    func testABodyStillToComeMovesTheExchangeToALargeBuffer() throws {
        let server = try startBufferServer()
        let client = try TestClient(port: server.port)
        defer { client.close() }
        try client.send("POST /tagged-echo HTTP/1.1\r\nHost: a\r\nX-Tag: rebased\r\nTransfer-Encoding: chunked\r\n\r\n")
        var body: [UInt8] = []
        for chunk in 0..<16 {
            usleep(2_000)
            let data = (0..<3072).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ chunk) }
            body += data
            try client.send(Array("c00\r\n".utf8) + data + Array("\r\n".utf8))
        }
        try client.send("0\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyString, "rebased \(body.count) \(body.reduce(0) { ($0 &* 31) &+ Int($1) })")
        XCTAssertGreaterThanOrEqual(try peak(server, "receive_buffers"), 1)
    }

    /// A short body that came with its head needs no move; the next request on the connection
    /// is served as usual.
    func testABodyThatCameWithItsHeadStaysInTheSmallBuffer() throws {
        let server = try startBufferServer()
        let client = try TestClient(port: server.port)
        defer { client.close() }
        try client.send("POST /tagged-echo HTTP/1.1\r\nHost: a\r\nX-Tag: inline\r\nContent-Length: 5\r\n\r\nhello"
                        + "GET /tag HTTP/1.1\r\nHost: a\r\nX-Tag: next\r\n\r\n")
        let hello = Array("hello".utf8)
        XCTAssertEqual(try client.readResponse().bodyString, "inline 5 \(hello.reduce(0) { ($0 &* 31) &+ Int($1) })")
        XCTAssertEqual(try client.readResponse().bodyString, "4 next")
        XCTAssertEqual(try peak(server, "receive_buffers"), 0)
    }

    /// While a slow request is served, 60 pipelined requests (about 3 KiB, more than a small
    /// buffer holds behind it) arrive: they wait in the overflow, move to a large buffer between
    /// requests, and are all answered, in order.
    func testPipelinedRequestsPastASmallBufferAreAllAnsweredInOrder() throws {
        let server = try startBufferServer()
        let client = try TestClient(port: server.port)
        defer { client.close() }
        try client.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        usleep(30_000)  // the slow request is being served
        let pipelined = (0..<60).map { "GET /seq/\($0) HTTP/1.1\r\nHost: a\r\nX-Pad: padding\r\n\r\n" }.joined()
        XCTAssertGreaterThan(pipelined.utf8.count, 2048)
        try client.send(pipelined)
        XCTAssertEqual(try client.readResponse().bodyString, "slow")
        for n in 0..<60 { XCTAssertEqual(try client.readResponse().bodyString, "seq \(n)") }
        XCTAssertGreaterThanOrEqual(try peak(server, "receive_buffers"), 1)
    }
}
