// GET /fetch?path=… on a live server: the upstream's status, passed fields and body come back as
// the upstream sent them; bad paths are 400; an upstream that cannot be reached, answers too
// slowly or too much is 502 or 504; every call is counted.
import AsyncBridgeApp
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleTestSupport
import SpindleTesting
import XCTest

final class FetchTests: XCTestCase {
    private var upstream: KnownUpstream!

    override func setUpWithError() throws { upstream = try KnownUpstream() }
    override func tearDown() { upstream.stop() }

    func testTheUpstreamsStatusFieldsAndBodyComeBack() throws {
        try withLiveBridge(AsyncBridgeConfiguration(upstream: upstream.url)) { bridge, client in
            for word in ["alpha", "b%C3%A9ta", "x"] {
                // The query is percent-decoded once: the path itself keeps its escapes as %25.
                let response = try client.get("/fetch?path=/word/\(word.replacingOccurrences(of: "%", with: "%25"))")
                XCTAssertEqual(response.status, .ok, response.bodyString)
                let decoded = word.removingPercentEncoding!
                XCTAssertEqual(response.bodyString, "word=\(decoded)")
                XCTAssertEqual(response.headerFields[.eTag], "\"\(decoded)\"")
                XCTAssertEqual(response.headerFields[.cacheControl], "max-age=7")
                XCTAssertEqual(response.headerFields[.contentType], "text/plain; charset=utf-8")
                XCTAssertNil(response.headerFields[HTTPField.Name("X-Internal")!], "only the passed fields come through")
            }
            let notFound = try client.get("/fetch?path=/status/404")
            XCTAssertEqual(notFound.status, .notFound, "the upstream's status passes through")
            XCTAssertEqual(notFound.bodyString, "status 404")
            XCTAssertEqual(notFound.head.status.reasonPhrase, "Not Found")
            XCTAssertEqual(try client.get("/fetch?path=/status/503").status, .serviceUnavailable)
            let large = try client.get("/fetch?path=/bytes/300000")
            XCTAssertEqual(large.body, pattern(seed: 3, count: 300_000))
            XCTAssertEqual(bridge.statistics, { var s = AsyncBridgeStatistics(); s.succeeded = 6; return s }())
        }
    }

    func testPathsTheAppWillNotFetchAreBadRequests() throws {
        try withLiveBridge(AsyncBridgeConfiguration(upstream: upstream.url)) { bridge, client in
            for target in ["/fetch", "/fetch?path=word/x", "/fetch?path=/a%20b", "/fetch?path=/a%23b", "/fetch?path=/%E2%82%AC",
                           "/fetch?path=/" + String(repeating: "a", count: UpstreamPath.maxBytes)] {
                let response = try client.get(target)
                XCTAssertEqual(response.status, .badRequest, "\(target.prefix(60)): \(response.bodyString)")
            }
            XCTAssertEqual(bridge.statistics, AsyncBridgeStatistics(), "nothing was called")
        }
    }

    func testALargeBodyIsBadGatewayAndSoIsAnUnreachableUpstream() throws {
        try withLiveBridge(AsyncBridgeConfiguration(upstream: upstream.url, maxBodyBytes: 1000)) { bridge, client in
            XCTAssertEqual(try client.get("/fetch?path=/bytes/1000").body, pattern(seed: 3, count: 1000), "the limit itself passes")
            let response = try client.get("/fetch?path=/bytes/1001")
            XCTAssertEqual(response.status, .badGateway)
            XCTAssertTrue(response.bodyString.contains("larger than the limit"), response.bodyString)
            XCTAssertEqual(bridge.statistics.failed, 1)
        }
        let refusing = try UpstreamBaseURL("http://127.0.0.1:\(try refusingPort())")
        try withLiveBridge(AsyncBridgeConfiguration(upstream: refusing)) { bridge, client in
            XCTAssertEqual(try client.get("/fetch?path=/x").status, .badGateway)
            XCTAssertEqual(bridge.statistics.failed, 1)
        }
    }

    func testAnUpstreamSlowerThanTheTimeoutIsGatewayTimeout() throws {
        try withLiveBridge(AsyncBridgeConfiguration(upstream: upstream.url, requestTimeout: .milliseconds(200))) { bridge, client in
            let start = Deadline.now
            let response = try client.get("/fetch?path=/sleep/3000")
            XCTAssertEqual(response.status, .gatewayTimeout, response.bodyString)
            XCTAssertLessThan(milliseconds(since: start), 2500, "answered at the timeout, not when the upstream did")
            XCTAssertEqual(bridge.statistics.failed, 1)
        }
    }
}

/// A port nothing listens on (bound to 0 and closed: the kernel does not hand it out again at once).
func refusingPort() throws -> Int {
    let upstream = try HoldingUpstream()
    let port = upstream.port
    upstream.stop()
    return port
}
