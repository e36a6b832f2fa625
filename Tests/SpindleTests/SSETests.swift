// Server-Sent Events: events framed as the format says (in memory and over a live socket,
// one chunk per event), fields that would break the framing refused, heartbeats while the
// producer is idle, and a client that goes away seen by the producer within a heartbeat
// (two without the request: a write must fail first).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleTesting
import SpindleTestSupport
import XCTest

/// What a producer saw once its client had gone.
private struct Departure: Sendable {
    var at: Deadline
    var connected: Bool
    var cancelled: Bool
    var sendAfterwards: String
}

final class SSETests: ServerTestCase {
    private let refusals = Locked<[String]>([])
    private let departure = Locked<Departure?>(nil)

    private func makeRouter() -> Router<Handler> {
        let router = Router<Handler>()
        router.get("/events") { request, _ in
            .serverSentEvents(for: request) { stream in
                try stream.retry(.milliseconds(1500))
                try stream.send(data: "hello")
                try stream.send(event: "update", id: "7", data: "line1\nline2\r\nline3\rline4")
                try stream.comment("a note\nin two lines")
                try stream.send(event: "empty", data: "")
            }
        }
        router.get("/invalid") { [refusals] _, _ in
            .serverSentEvents { stream in
                for (event, id) in [("a\nb", "1"), ("ok", "1\r2"), ("ok", "a\u{0}b"), ("c\rd", "2")] {
                    do { try stream.send(event: event, id: id, data: "never") } catch let error as ServerSentEventError {
                        refusals.withLock { $0.append(error.description) }
                    }
                }
                try stream.send(data: "ok")
            }
        }
        router.get("/heartbeat") { _, _ in
            .serverSentEvents(heartbeat: .milliseconds(100)) { stream in
                try stream.send(data: "first")
                try Fiber.sleep(for: .milliseconds(450))
                try stream.send(data: "done")
            }
        }
        router.get("/wait") { [departure] request, _ in
            .serverSentEvents(for: request, heartbeat: .milliseconds(250)) { stream in
                try stream.send(data: "ready")
                var cancelled = false
                do { try Fiber.sleep(for: .seconds(30)) } catch is CancellationError { cancelled = true }
                let at = Deadline.now
                var sendAfterwards = "sent"
                do { try stream.send(data: "after") } catch { sendAfterwards = "\(error)" }
                departure.set(Departure(at: at, connected: stream.isConnected, cancelled: cancelled, sendAfterwards: sendAfterwards))
            }
        }
        router.get("/poll") { [departure] _, _ in
            .serverSentEvents(heartbeat: .milliseconds(100)) { stream in
                try stream.send(data: "ready")
                var cancelled = false
                do {
                    while stream.isConnected { try Fiber.sleep(for: .milliseconds(5)) }
                } catch is CancellationError {
                    cancelled = true
                }
                departure.set(Departure(at: .now, connected: stream.isConnected, cancelled: cancelled, sendAfterwards: ""))
            }
        }
        return router
    }

    func testEventsAreFramedOneChunkEach() throws {
        let expected = "retry: 1500\n\n" + "data: hello\n\n" + "id: 7\nevent: update\ndata: line1\ndata: line2\ndata: line3\ndata: line4\n\n"
            + ": a note\n: in two lines\n\n" + "event: empty\ndata: \n\n"
        for mode in [TestMode.inMemory, .live] {
            try makeRouter().test(mode) { client in
                let response = try client.get("/events")
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headerFields[.contentType], "text/event-stream", "\(mode)")
                XCTAssertEqual(response.headerFields[.cacheControl], "no-store")
                XCTAssertEqual(response.headerFields[.transferEncoding], "chunked")
                XCTAssertEqual(response.bodyString, expected, "\(mode)")
                let wire = String(decoding: response.wireBytes, as: UTF8.self)
                XCTAssertTrue(wire.contains("\r\n\r\nd\r\nretry: 1500\n\n\r\nd\r\ndata: hello\n\n\r\n"), "one chunk per event (\(mode)): \(wire.debugDescription)")
                XCTAssertTrue(wire.hasSuffix("\r\n0\r\n\r\n"), "the body ends when the producer returns (\(mode))")
                let head = try client.execute(.head, "/events")
                XCTAssertEqual(head.body, [], "HEAD: the head only (\(mode))")
            }
        }
    }

    func testFieldsThatWouldBreakTheFramingAreRefused() throws {
        try makeRouter().test(.live) { client in
            XCTAssertEqual(try client.get("/invalid").bodyString, "data: ok\n\n", "nothing of a refused event was sent")
        }
        XCTAssertEqual(refusals.current.count, 4)
        XCTAssertTrue(refusals.current.allSatisfy { $0.contains("may not contain CR, LF or NUL") }, "\(refusals.current)")
        XCTAssertTrue(refusals.current[0].hasPrefix("Server-Sent Events field event"))
        XCTAssertTrue(refusals.current[1].hasPrefix("Server-Sent Events field id"))
    }

    func testHeartbeatsWhileTheProducerIsIdle() throws {
        for mode in [TestMode.inMemory, .live] {
            try makeRouter().test(mode) { client in
                let body = try client.get("/heartbeat").bodyString
                XCTAssertTrue(body.hasPrefix("data: first\n\n") && body.hasSuffix("data: done\n\n"), "\(mode): \(body.debugDescription)")
                let beats = body.components(separatedBy: ": keep-alive\n\n").count - 1
                XCTAssertTrue((2...5).contains(beats), "\(beats) heartbeats in 450 ms at one per 100 ms (\(mode)): \(body.debugDescription)")
                XCTAssertEqual(body.utf8.count, "data: first\n\ndata: done\n\n".utf8.count + beats * ": keep-alive\n\n".utf8.count,
                               "nothing but events and heartbeats (\(mode))")
            }
        }
    }

    func testAProducerHearsOfADisconnectWithinAHeartbeat() throws {
        try makeRouter().test(.live) { client in
            let port = try XCTUnwrap(client.port)
            let connection = try TestClient(port: port)
            try connection.send("GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
            try receive(until: "data: ready\n\n", on: connection.fd)
            let closedAt = Deadline.now
            connection.close()
            XCTAssertTrue(waitUntil(timeout: .seconds(5)) { departure.current != nil }, "the producer never heard")
            let seen = try XCTUnwrap(departure.current)
            let delay = seen.at - closedAt
            XCTAssertLessThan(delay, .milliseconds(250 + 350), "heard \(delay) after the close (heartbeat 250 ms)")
            XCTAssertTrue(seen.cancelled, "its long sleep was cut short")
            XCTAssertFalse(seen.connected)
            XCTAssertEqual(seen.sendAfterwards, ServerSentEventError.disconnected.description)
            XCTAssertEqual(try client.get("/events").status, .ok, "the server goes on")
        }
    }

    func testWithoutTheRequestAFailedWriteTellsTheProducer() throws {
        try makeRouter().test(.live) { client in
            let connection = try TestClient(port: try XCTUnwrap(client.port))
            try connection.send("GET /poll HTTP/1.1\r\nHost: a\r\n\r\n")
            try receive(until: "data: ready\n\n", on: connection.fd)
            let closedAt = Deadline.now
            connection.close()
            XCTAssertTrue(waitUntil(timeout: .seconds(5)) { departure.current != nil }, "the producer never heard")
            let seen = try XCTUnwrap(departure.current)
            let delay = seen.at - closedAt
            // The first heartbeat after the close still goes out (the peer answers it with a
            // reset); the second fails.
            XCTAssertLessThan(delay, .milliseconds(2 * 100 + 350), "heard \(delay) after the close (heartbeat 100 ms)")
            XCTAssertFalse(seen.connected)
        }
    }

    /// Receives on `fd` until the bytes received contain `marker`.
    private func receive(until marker: String, on fd: Int32) throws {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            guard n > 0 else { throw TestFailure("the stream ended before \(marker.debugDescription): \(preview(received))") }
            received += buffer[0..<n]
        }
    }
}
