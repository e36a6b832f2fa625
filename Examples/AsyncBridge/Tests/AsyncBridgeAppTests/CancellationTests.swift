// A client that goes away while the upstream is slow: its connection's reset cancels the
// request's fiber, Context.await cancels the task, AsyncHTTPClient cancels the upstream
// request and closes that connection, which the upstream sees; the server keeps answering.
import AsyncBridgeApp
import Foundation
import Spindle
import SpindleFibers
import SpindleTestSupport
import SpindleTesting
import XCTest

final class CancellationTests: XCTestCase {
    func testAClientThatResetsCancelsTheUpstreamRequest() throws {
        let holding = try HoldingUpstream()
        defer { holding.stop() }
        try withLiveBridge(AsyncBridgeConfiguration(upstream: holding.url, requestTimeout: .seconds(30))) { bridge, client in
            let port = try XCTUnwrap(client.port)
            for round in 1...3 {
                let fd = try connectToLoopback(port: port, timeoutSeconds: 10)
                try sendAll(fd: fd, Array("GET /fetch?path=/held/\(round) HTTP/1.1\r\nHost: bridge\r\n\r\n".utf8))
                XCTAssertTrue(waitUntil(timeout: .seconds(10)) { holding.heads.current == round }, "the upstream got request \(round)")
                let resetAt = Deadline.now
                closeWithReset(fd: fd)
                XCTAssertTrue(waitUntil(timeout: .seconds(5)) { holding.closedAfterMilliseconds.current.count == round },
                              "the upstream saw connection \(round) closed within 5 s of the client's reset")
                XCTAssertLessThan(milliseconds(since: resetAt), 5000)
                XCTAssertTrue(waitUntil(timeout: .seconds(5)) { bridge.statistics.cancelled == round }, "\(bridge.statistics)")
            }
            XCTAssertEqual(bridge.statistics.succeeded, 0)
            XCTAssertEqual(bridge.statistics.failed, 0)
            XCTAssertEqual(holding.heads.current, 3, "each request reached the upstream once")
            // The server goes on answering, and the client goes on calling.
            let response = try client.get("/fetch?path=/answer")
            XCTAssertEqual(response.status, .ok)
            XCTAssertEqual(response.bodyString, "ok\n")
            let statistics = try decode(AsyncBridgeStatistics.self, try client.get("/stats").body)
            XCTAssertEqual(statistics.cancelled, 3)
            XCTAssertEqual(statistics.succeeded, 1)
        }
    }
}

final class FanOutCancellationTests: XCTestCase {
    /// A reset during a fan-out cancels the task group: every one of its upstream requests is
    /// cancelled and its connection closed.
    func testAClientThatResetsDuringAFanOutCancelsEveryCall() throws {
        let holding = try HoldingUpstream()
        defer { holding.stop() }
        try withLiveBridge(AsyncBridgeConfiguration(upstream: holding.url, requestTimeout: .seconds(30))) { bridge, client in
            let port = try XCTUnwrap(client.port)
            let fd = try connectToLoopback(port: port, timeoutSeconds: 10)
            try sendAll(fd: fd, Array("GET /fan-out?path=/a&path=/b&path=/c HTTP/1.1\r\nHost: bridge\r\n\r\n".utf8))
            XCTAssertTrue(waitUntil(timeout: .seconds(10)) { holding.heads.current == 3 }, "the upstream got the three requests")
            closeWithReset(fd: fd)
            XCTAssertTrue(waitUntil(timeout: .seconds(5)) { holding.closedAfterMilliseconds.current.count == 3 },
                          "the upstream saw its three connections closed within 5 s: \(holding.closedAfterMilliseconds.current)")
            XCTAssertTrue(waitUntil(timeout: .seconds(5)) { bridge.statistics.cancelled == 3 }, "\(bridge.statistics)")
            XCTAssertEqual(try client.get("/fetch?path=/answer").bodyString, "ok\n", "the server and the client go on")
        }
    }
}
