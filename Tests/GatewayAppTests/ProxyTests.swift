// GET /proxy/* on a live server: a body of several MiB streams through a small buffer (the
// upstream holds the second half back until the test has received part of the first, which a
// proxy that buffered whole bodies could never deliver), hop-by-hop fields stay behind, and an
// upstream that cannot be reached or does not answer in time is 502 or 504.
import Foundation
import GatewayApp
import HTTPTypes
import Spindle
import SpindleHTTPClient
import SpindleTestSupport
import SpindleTesting
import XCTest

final class ProxyTests: XCTestCase {
    private var upstreams: TestUpstreams!

    override func setUpWithError() throws { upstreams = try TestUpstreams() }
    override func tearDown() { upstreams.stop() }

    private func gateway(proxy port: Int, client: HTTPClient.Configuration = HTTPClient.Configuration()) throws -> Gateway {
        Gateway(configuration: GatewayConfiguration(parts: [], proxyUpstream: try UpstreamURL("http://127.0.0.1:\(port)"),
                                                    proxyBufferBytes: 16 << 10, client: client))
    }

    func testALargeBodyStreamsThroughWithoutBeingHeldWhole() throws {
        let size = 8 << 20
        let gateway = try gateway(proxy: upstreams.fastPort)
        let gate = upstreams.gate
        try gateway.router().test(.live) { testClient in
            let port = try XCTUnwrap(testClient.port)
            let (received, matches, status, receivedBeforeGate, chunked) = try onWorker { () -> (Int, Bool, Int, Int, Bool) in
                let client = HTTPClient()
                let response = try client.execute(HTTPRequest(method: .get, scheme: "http", authority: "127.0.0.1:\(port)",
                                                              path: "/proxy/gated/\(size)"))
                let expected = pattern(seed: 7, count: size)
                var received = 0
                var matches = true
                var receivedBeforeGate = 0
                while let chunk = try response.body.next() {
                    matches = matches && received + chunk.count <= size && expected[received..<(received + chunk.count)].elementsEqual(chunk)
                    received += chunk.count
                    if !gate.current && received >= 1 << 20 {
                        receivedBeforeGate = received
                        gate.set(true)  // only now may the upstream send the second half
                    }
                }
                return (received, matches, Int(response.status.code), receivedBeforeGate,
                        response.headerFields[.transferEncoding] == "chunked")
            }
            XCTAssertEqual(status, 200)
            XCTAssertEqual(chunked, true, "a chunked upstream body stays chunked")
            XCTAssertEqual(received, size)
            XCTAssertTrue(matches, "the bytes arrived as the upstream sent them")
            XCTAssertGreaterThanOrEqual(receivedBeforeGate, 1 << 20)
            XCTAssertLessThanOrEqual(receivedBeforeGate, size / 2, "the client had part of the body while the upstream still held half of it")
        }
        XCTAssertEqual(upstreams.gateOpenedInTime.current, [true], "the gate opened while the upstream waited: the proxy streamed")
    }

    func testHopByHopFieldsStayBehindBothWays() throws {
        let gateway = try gateway(proxy: upstreams.fastPort)
        try gateway.router().test(.live) { client in
            let response = try client.get("/proxy/headers", headers: [
                HTTPField.Name("X-Trace")!: "t-1", .connection: "keep-alive, X-Secret", HTTPField.Name("X-Secret")!: "s",
                HTTPField.Name("Keep-Alive")!: "timeout=5", .proxyAuthorization: "Basic abc", .te: "trailers",
            ])
            XCTAssertEqual(response.status, .ok, response.bodyString)
            XCTAssertEqual(response.headerFields[HTTPField.Name("X-Upstream")!], "fast", "end-to-end response fields pass")
            XCTAssertEqual(response.headerFields[.contentType], "application/json")
            let seen = try decode([String: String].self, response.body)
            XCTAssertEqual(seen["x-trace"], "t-1")
            XCTAssertEqual(seen["via"], "1.1 spindle-gateway")
            XCTAssertEqual(seen["host"], "127.0.0.1:\(upstreams.fastPort)", "the upstream's own Host")
            for name in ["x-secret", "keep-alive", "proxy-authorization", "te"] { XCTAssertNil(seen[name], "\(name) was forwarded") }
        }
    }

    func testEndToEndFieldsTable() {
        let fields: HTTPFields = [
            .connection: "close, X-A", HTTPField.Name("X-A")!: "1", HTTPField.Name("X-B")!: "2", .transferEncoding: "chunked",
            .contentLength: "5", .upgrade: "websocket", HTTPField.Name("Keep-Alive")!: "timeout=1", .trailer: "X-C",
            .proxyAuthenticate: "Basic", .contentType: "text/plain", HTTPField.Name("Set-Cookie")!: "a=1", HTTPField.Name("Set-Cookie")!: "b=2",
        ]
        let kept = Gateway.endToEndFields(fields)
        XCTAssertEqual(kept.map(\.name.canonicalName), ["x-b", "content-type", "set-cookie", "set-cookie"])
        XCTAssertEqual(kept[values: HTTPField.Name("Set-Cookie")!], ["a=1", "b=2"], "repeated fields keep their order")
    }

    func testAKnownLengthIsKeptForALargeBody() throws {
        let size = 5 << 20
        try gateway(proxy: upstreams.fastPort).router().test(.live) { client in
            let response = try client.get("/proxy/sized/\(size)")
            XCTAssertEqual(response.status, .ok)
            XCTAssertEqual(response.headerFields[.contentLength], String(size))
            XCTAssertEqual(response.body, pattern(seed: 9, count: size))
        }
    }

    func testTheQueryAndEscapesPassAsSent() throws {
        let gateway = try gateway(proxy: upstreams.fastPort)
        try gateway.router().test(.live) { client in
            let response = try client.get("/proxy/profile/a%2Fb?x=1")
            XCTAssertEqual(response.status, .ok)
            XCTAssertEqual(try decode([String: String].self, response.body), ["name": "a/b"], "%2F reached the upstream as one segment")
            XCTAssertEqual(response.headerFields[.contentLength], String(response.body.count), "the upstream's length is kept")
            XCTAssertNil(response.headerFields[.transferEncoding])
            XCTAssertEqual(try client.get("/proxy/missing").status, .notFound, "the upstream's 404 passes through")
        }
    }

    func testUnreachableIsBadGatewayAndSilentIsGatewayTimeout() throws {
        try gateway(proxy: try refusingPort()).router().test(.live) { client in
            let response = try client.get("/proxy/anything")
            XCTAssertEqual(response.status, .badGateway)
            XCTAssertTrue(response.bodyString.contains("connect failed"), response.bodyString)
        }
        let impatient = HTTPClient.Configuration(headTimeout: .milliseconds(200))
        try gateway(proxy: upstreams.slowPort, client: impatient).router().test(.live) { client in
            let response = try client.get("/proxy/orders/x")
            XCTAssertEqual(response.status, .gatewayTimeout, response.bodyString)
        }
    }
}
