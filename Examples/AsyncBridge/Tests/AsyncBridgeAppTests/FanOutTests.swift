// GET /fan-out: the paths are fetched concurrently inside one Context.await (the whole takes
// about the slowest call, not their sum), results come back in the order asked, a failed call
// is a result of its own, and the number of paths is bounded.
import AsyncBridgeApp
import Spindle
import SpindleTestSupport
import SpindleTesting
import XCTest

final class FanOutTests: XCTestCase {
    private var upstream: KnownUpstream!

    override func setUpWithError() throws { upstream = try KnownUpstream() }
    override func tearDown() { upstream.stop() }

    func testThePathsAreFetchedConcurrentlyAndAnsweredInOrder() throws {
        try withLiveBridge(AsyncBridgeConfiguration(upstream: upstream.url)) { bridge, client in
            let response = try client.get("/fan-out?path=/sleep/600&path=/word/one&path=/sleep/600&path=/status/404&path=/sleep/600")
            XCTAssertEqual(response.status, .ok, response.bodyString)
            let answer = try decode(FanOutAnswer.self, response.body)
            XCTAssertEqual(answer.results.map(\.path), ["/sleep/600", "/word/one", "/sleep/600", "/status/404", "/sleep/600"])
            XCTAssertEqual(answer.results.map(\.status), [200, 200, 200, 404, 200])
            XCTAssertEqual(answer.results.map(\.body), ["slept", "word=one", "slept", "status 404", "slept"])
            XCTAssertEqual(answer.results.compactMap(\.error), [])
            for result in answer.results where result.path.hasPrefix("/sleep") {
                XCTAssertGreaterThanOrEqual(result.milliseconds, 600)
            }
            XCTAssertGreaterThanOrEqual(answer.milliseconds, 600)
            XCTAssertLessThan(answer.milliseconds, 1500, "three 600 ms calls at once, not one after another (1,800 ms)")
            XCTAssertEqual(upstream.sleeping.current, 3)
            XCTAssertEqual(bridge.statistics.succeeded, 5)
        }
    }

    func testAFailedCallIsAResultAndTheOthersGoOn() throws {
        try withLiveBridge(AsyncBridgeConfiguration(upstream: upstream.url, maxBodyBytes: 100)) { bridge, client in
            let response = try client.get("/fan-out?path=/bytes/101&path=/word/two")
            XCTAssertEqual(response.status, .ok, response.bodyString)
            let answer = try decode(FanOutAnswer.self, response.body)
            XCTAssertEqual(answer.results.count, 2)
            XCTAssertNil(answer.results[0].status)
            XCTAssertTrue(answer.results[0].error?.contains("larger than the limit") == true, "\(answer.results[0])")
            XCTAssertEqual(answer.results[1].body, "word=two")
            XCTAssertEqual(bridge.statistics.failed, 1)
            XCTAssertEqual(bridge.statistics.succeeded, 1)
        }
    }

    func testTooManyPathsOrABadOneIsBadRequest() throws {
        try withLiveBridge(AsyncBridgeConfiguration(upstream: upstream.url, maxFanOutPaths: 3)) { bridge, client in
            XCTAssertEqual(try client.get("/fan-out?path=/a&path=/b&path=/c&path=/d").status, .badRequest)
            XCTAssertEqual(try client.get("/fan-out?path=/a&path=b").status, .badRequest)
            XCTAssertEqual(try client.get("/fan-out?path=/word/a&path=/word/b&path=/word/c").status, .ok)
            XCTAssertEqual(bridge.statistics.succeeded, 3)
        }
    }
}
