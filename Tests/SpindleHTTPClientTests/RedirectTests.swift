// Redirects against Spindle's Server: off by default, followed when asked, with the method and
// body rules of each status, relative locations, a limit, and Authorization dropped across hosts.
import HTTPTypes
import SpindleHTTPClient
import SpindleTestSupport
import XCTest

final class RedirectTests: XCTestCase {
    private var server: ClientTestServer!

    override func setUpWithError() throws { server = try ClientTestServer() }
    override func tearDown() { server.stop() }

    private static let following = HTTPClient.Configuration(redirects: .follow(max: 5))

    func testRedirectsAreReturnedAsTheyAreUnlessFollowingIsAskedFor() throws {
        let port = server.port
        let (status, location) = try onWorker {
            let response = try HTTPClient().get("http://127.0.0.1:\(port)/r/302")
            return (response.status.code, response.headerFields[.location])
        }
        XCTAssertEqual(status, 302)
        XCTAssertEqual(location, "/plaintext")
    }

    func testEachRedirectStatusKeepsOrChangesTheMethodAsSpecified() throws {
        let port = server.port
        // (status, method, body sent) -> what the final handler saw.
        let table: [(Int, HTTPRequest.Method, String, String)] = [
            (301, .get, "", "GET"),
            (301, .post, "abc", "GET"),       // POST after 301/302 becomes GET, body dropped
            (302, .get, "", "Hello, World!"),
            (303, .post, "abc", "GET"),       // 303: GET
            (307, .post, "abcd", "POST 4"),   // 307: same method, same body
            (308, .post, "hello", "hello"),   // 308 to /echo: same method, same body
        ]
        let outcomes = try onWorker { () -> [String] in
            let client = HTTPClient(configuration: Self.following)
            return try table.map { code, method, body, _ in
                let response = try client.execute(request(method, port: port, "/r/\(code)"), body: method == .post ? .text(body) : .empty)
                XCTAssertEqual(response.redirectCount, 1)
                return try text(response)
            }
        }
        XCTAssertEqual(outcomes, table.map(\.3))
    }

    func testRelativeLocationsResolveAgainstTheRequestPath() throws {
        let port = server.port
        let body = try onWorker {
            try text(HTTPClient(configuration: Self.following).get("http://127.0.0.1:\(port)/r/relative/deeper"))
        }
        XCTAssertEqual(body, "sibling q=1", "sibling?q=1 from /r/relative/deeper is /r/relative/sibling?q=1")
    }

    func testAStreamedBodyIsNotRepeatedSoA307IsReturned() throws {
        let port = server.port
        let status = try onWorker {
            let client = HTTPClient(configuration: Self.following)
            let response = try client.execute(request(.post, port: port, "/r/307"), body: .stream { try $0.write("once") })
            return response.status.code
        }
        XCTAssertEqual(status, 307)
    }

    func testTooManyRedirectsThrows() throws {
        let port = server.port
        let count = try onWorker { () -> Int in
            let client = HTTPClient(configuration: .init(redirects: .follow(max: 3)))
            guard case .tooManyRedirects(let n) = clientError({ _ = try client.get("http://127.0.0.1:\(port)/r/loop") }) else { return -1 }
            return n
        }
        XCTAssertEqual(count, 3)
    }

    func testAuthorizationIsKeptOnTheSameHostAndDroppedAcrossHosts() throws {
        let port = server.port
        let (same, cross) = try onWorker {
            let client = HTTPClient(configuration: Self.following)
            let fields: HTTPFields = [.authorization: "Bearer secret"]
            let same = try text(client.execute(request(port: port, "/r/same", headerFields: fields)))
            // 127.0.0.1 → localhost: another host (and a name resolved through getaddrinfo).
            let cross = try text(client.execute(request(port: port, "/r/cross/\(port)", headerFields: fields)))
            return (same, cross)
        }
        XCTAssertEqual(same, "Bearer secret")
        XCTAssertEqual(cross, "none")
    }
}
