// The client against a local nginx (Debian's nginx-light): keep-alive reuse counted by nginx
// itself ($connection and $connection_requests in headers), HEAD, 404 bodies, a redirect.
import Foundation
import HTTPTypes
import SpindleHTTPClient
import SpindleTestSupport
import XCTest

final class NginxTests: XCTestCase {
    private var nginx: LocalNginx!

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: LocalNginx.binary),
                          "nginx is not installed at \(LocalNginx.binary) (apt-get install nginx-light; make test installs it)")
        nginx = try LocalNginx()
    }

    override func tearDown() { nginx?.stop() }

    func testNginxCountsEveryRequestOnOneKeepAliveConnection() throws {
        let port = nginx.port
        let seen = try onWorker { () -> [(String, String, String)] in
            let client = HTTPClient()
            return try (0..<20).map { _ in
                let response = try client.get("http://127.0.0.1:\(port)/plaintext")
                return (response.headerFields[HTTPField.Name("X-Connection")!] ?? "?",
                        response.headerFields[HTTPField.Name("X-Connection-Requests")!] ?? "?",
                        try text(response))
            }
        }
        XCTAssertEqual(Set(seen.map(\.0)).count, 1, "one connection: \(seen.map(\.0))")
        XCTAssertEqual(seen.map(\.1), (1...20).map(String.init), "nginx served the requests one after another on it")
        XCTAssertEqual(Set(seen.map(\.2)), ["Hello, World!"])
    }

    func testHeadAnd404AndARedirectFromNginx() throws {
        let port = nginx.port
        let (head, missing, moved, requests) = try onWorker { () -> (String, Int, String, String) in
            let client = HTTPClient(configuration: .init(redirects: .follow(max: 2)))
            let head = try client.execute(request(.head, port: port, "/plaintext"))
            let headBody = try head.body.collect()
            let missing = try client.get("http://127.0.0.1:\(port)/missing")
            _ = try missing.body.collect()
            let moved = try client.get("http://127.0.0.1:\(port)/moved")
            return ("\(head.status.code) \(head.headerFields[.contentLength] ?? "-") \(headBody.count)", missing.status.code,
                    "\(moved.redirectCount) \(try text(moved))", moved.headerFields[HTTPField.Name("X-Connection-Requests")!] ?? "?")
        }
        XCTAssertEqual(head, "200 13 0")
        XCTAssertEqual(missing, 404)
        XCTAssertEqual(moved, "1 Hello, World!")
        XCTAssertEqual(requests, "4", "HEAD, 404, the redirect and its target on one connection")
    }
}
