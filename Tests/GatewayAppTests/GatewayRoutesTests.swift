// What the gateway answers without calling an upstream, in memory and live alike; and its
// configuration's parsing of upstream URLs.
import Foundation
import GatewayApp
import HTTPTypes
import SpindleTesting
import XCTest

final class GatewayRoutesTests: XCTestCase {
    func testRoutesThatCallNoUpstreamInBothModes() throws {
        for mode in [TestMode.inMemory, .live] {
            try Gateway(configuration: GatewayConfiguration(parts: [])).router().test(mode) { client in
                let stats = try client.get("/stats")
                XCTAssertEqual(stats.status, .ok, "\(mode)")
                XCTAssertEqual(try decode(UpstreamStatistics.self, stats.body), UpstreamStatistics())
                let empty = try client.get("/dashboard/alice")
                XCTAssertEqual(empty.status, .ok)
                let dashboard = try decode(Dashboard.self, empty.body)
                XCTAssertEqual(dashboard.user, "alice")
                XCTAssertEqual(dashboard.parts, [:])
                XCTAssertEqual(try client.get("/proxy/x").status, .notFound, "no proxy upstream configured (\(mode))")
                XCTAssertEqual(try client.execute(.post, "/dashboard/alice").status, .methodNotAllowed)
            }
        }
    }

    func testUpstreamURLs() throws {
        let valid: [(String, String, String)] = [
            ("http://127.0.0.1:9000", "127.0.0.1:9000", ""),
            ("http://127.0.0.1:9000/", "127.0.0.1:9000", ""),
            ("http://localhost/api/v1//", "localhost", "/api/v1"),
            ("http://[::1]:80/x", "[::1]:80", "/x"),
        ]
        for (text, authority, prefix) in valid {
            let url = try UpstreamURL(text)
            XCTAssertEqual([url.authority, url.pathPrefix], [authority, prefix], text)
        }
        for text in ["https://example.test", "127.0.0.1:9000", "http://", "http:///path", "http://h/p?q=1", "http://h/p#f", "http://u@h/"] {
            XCTAssertThrowsError(try UpstreamURL(text), text)
        }
    }

    func testPartSources() throws {
        let part = try DashboardPartSource(argument: "profile=http://127.0.0.1:9001/users/{user}/profile")
        XCTAssertEqual(part.name, "profile")
        XCTAssertEqual(part.url(for: "a b/c?é"), "http://127.0.0.1:9001/users/a%20b%2Fc%3F%C3%A9/profile")
        for argument in ["profile", "=http://h/", "p=ftp://h/{user}", "p=http://h/{user}?q"] {
            XCTAssertThrowsError(try DashboardPartSource(argument: argument), argument)
        }
    }
}
