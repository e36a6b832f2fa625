// Query and form parameters, and the router's path rules, through a real server on
// 127.0.0.1:0 with raw requests: what a handler reads, and the status of what it refuses; and
// the same through SpindleTesting, in memory and live.
import Foundation
import Spindle
import HTTPTypes
import SpindleHTTP
import SpindleTestSupport
import SpindleTesting
import XCTest

final class QueryAndFormParametersTests: ServerTestCase {
    /// A handler's view of a form or query: `name=value` lines, in order.
    private static func describe(_ parameters: QueryParameters) -> String {
        parameters.map { "\($0.name)=\($0.value)" }.joined(separator: "\n")
    }

    private func startParameterServer() throws -> TestServer {
        try startServer { router in
            router.post("/form") { request, _ in .text(Self.describe(try request.formParameters())) }
            router.post("/small-form") { request, _ in .text(Self.describe(try request.formParameters(maxBytes: 16))) }
            router.get("/query") { request, _ in
                let parameters = try request.queryParameters
                return .text("""
                    tags=\(parameters.all("tag").joined(separator: ","))
                    q=\(request.queryParameter("q") ?? "none")
                    flag=\(parameters.contains("flag"))
                    first=\(request.queryParameter("tag") ?? "none")
                    """)
            }
            router.get("/files/*") { _, context in .text("file \(context.parameters["*"] ?? "?")") }
            router.get("/users/:id") { _, context in .text("user \(context.parameters["id"] ?? "?")") }
        }
    }

    /// Sends `request` on `client` and reads the response.
    private func exchange(_ client: TestClient, _ request: String) throws -> WireResponse {
        try client.send(request)
        return try client.readResponse()
    }

    private func post(_ target: String, contentType: String?, body: String) -> String {
        let type = contentType.map { "Content-Type: \($0)\r\n" } ?? ""
        return "POST \(target) HTTP/1.1\r\nHost: a\r\n\(type)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    func testFormBodyIsParsedInOrderWithRepeatedNames() throws {
        let server = try startParameterServer()
        let client = try TestClient(port: server.port)
        let form = "name=J%C3%BCrgen+M&tag=a&tag=b%26c&empty=&flag&&note=1%2B1%3D2"
        let expected = "name=Jürgen M\ntag=a\ntag=b&c\nempty=\nflag=\nnote=1+1=2"
        for contentType in ["application/x-www-form-urlencoded", "Application/X-WWW-Form-URLEncoded; charset=UTF-8", " application/x-www-form-urlencoded ;q"] {
            let response = try exchange(client, post("/form", contentType: contentType, body: form))
            XCTAssertEqual(response.status, 200, contentType)
            XCTAssertEqual(response.bodyString, expected, contentType)
        }
        // Chunked: the same pairs.
        let chunkedRequest = "POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        try client.send(bytes(chunkedRequest) + chunked(bytes(form), chunkSize: 7))
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyString, expected)
    }

    func testFormBodyRefusals() throws {
        let server = try startParameterServer()
        let tooMany = String(repeating: "a=1&", count: 1_001)
        let cases: [(name: String, request: String, status: Int)] = [
            ("JSON → 415", post("/form", contentType: "application/json", body: "{}"), 415),
            ("no Content-Type → 415", post("/form", contentType: nil, body: "a=1"), 415),
            ("multipart → 415", post("/form", contentType: "multipart/form-data; boundary=x", body: "a=1"), 415),
            ("a longer media type → 415", post("/form", contentType: "application/x-www-form-urlencodedx", body: "a=1"), 415),
            ("invalid escape → 400", post("/form", contentType: "application/x-www-form-urlencoded", body: "a=50%off"), 400),
            ("invalid UTF-8 → 400", post("/form", contentType: "application/x-www-form-urlencoded", body: "a=%FF"), 400),
            ("over maxBytes → 413", post("/small-form", contentType: "application/x-www-form-urlencoded", body: "a=12345678901234567"), 413),
            ("1,001 pairs → 413", post("/form", contentType: "application/x-www-form-urlencoded", body: tooMany), 413),
        ]
        for row in cases {
            let client = try TestClient(port: server.port)
            let response = try exchange(client, row.request + "GET /users/after HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(response.status, row.status, "\(row.name): \(response.bodyString)")
            if row.status == 415 || row.status == 400 {
                // The request was read in full: the next one on the connection is answered.
                XCTAssertEqual(try client.readResponse().bodyString, "user after", row.name)
            }
        }
        let exactly = try exchange(try TestClient(port: server.port),
                                   post("/small-form", contentType: "application/x-www-form-urlencoded", body: "a=1234567890123+"))
        XCTAssertEqual(exactly.status, 200)
        XCTAssertEqual(exactly.bodyString, "a=1234567890123 ")
    }

    func testQueryParameters() throws {
        let server = try startParameterServer()
        let client = try TestClient(port: server.port)
        let response = try exchange(client, "GET /query?tag=a&q=50%off&tag=b+c&flag&&tag=%26 HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyString, "tags=a,b c,&\nq=50%off\nflag=true\nfirst=a")
        let none = try exchange(client, "GET /query HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(none.bodyString, "tags=\nq=none\nflag=false\nfirst=none")
        let absolute = try exchange(client, "GET http://example.com/query?q=%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(absolute.bodyString, "tags=\nq=é\nflag=false\nfirst=none")
        // Past 1,000 pairs the handler's `try request.queryParameters` throws a 400.
        let many = try exchange(client, "GET /query?" + String(repeating: "a&", count: 1_001) + " HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(many.status, 400)
        XCTAssertTrue(many.bodyString.contains("more than 1000 parameters"), many.bodyString)
    }

    /// The query starts at the target's first `?`, wherever that falls in the words the parser
    /// scans the target in (`HTTPRequestHead.pathBeforeQuery`): a route for each prefix of a
    /// 21-byte path, asked for with a query after each, and without one, in origin- and in
    /// absolute-form.
    func testThePathEndsAtTheFirstQuestionMarkAtEveryLength() throws {
        let full = Array("/abcdefghijklmnopqrst")
        let router = Router<Responder>()
        for length in 1...full.count {
            router.get(String(full[0..<length])) { _, _ in .text("\(length)") }
        }
        try router.test(.inMemory) { client in
            for length in 1...full.count {
                let path = String(full[0..<length])
                for query in ["", "?", "?q=1", "?a?b", "?" + String(full)] {
                    for target in [path + query, "http://example.com" + path + query, "http://a:1" + path + query] {
                        let response = try client.get(target)
                        XCTAssertEqual(response.status.code, 200, target)
                        XCTAssertEqual(response.bodyString, "\(length)", target)
                    }
                }
            }
        }
    }

    func testPathRulesOverTheWire() throws {
        let server = try startParameterServer()
        let client = try TestClient(port: server.port)
        let cases: [(target: String, status: Int, body: String?)] = [
            ("/files/a%20b/c.txt", 200, "file a b/c.txt"),
            ("/files/..", 400, "Bad Request: the path has a dot-segment (. or ..)\n"),
            ("/files/%2e%2E/etc/passwd", 400, nil),
            ("/files/a/.%2e/b?x=1", 400, nil),
            ("/files/100%", 400, "Bad Request: the path has an invalid percent-escape\n"),
            ("/users/%FF", 400, "Bad Request: a path parameter is not valid UTF-8 once decoded\n"),
            ("/users/a%2Fb", 200, "user a/b"),
            ("/users/7/", 200, "user 7"),
            ("/users//", 404, nil),
            ("//users/7", 404, nil),
            ("/%75sers/7", 404, nil),
            ("/users/...", 200, "user ..."),
        ]
        // All on one connection: a refused path is an ordinary response; the connection stays.
        for row in cases {
            let response = try exchange(client, "GET \(row.target) HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(response.status, row.status, row.target)
            if let body = row.body { XCTAssertEqual(response.bodyString, body, row.target) }
        }
    }

    /// The same handlers in both SpindleTesting modes: the body and the query come from the
    /// in-memory exchange as they do from a connection.
    func testFormsQueriesAndPathRulesInBothTestModes() throws {
        let formType: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        for mode in [TestMode.inMemory, .live] {
            let router = Router<Handler>()
            router.post("/form") { request, _ in .text(Self.describe(try request.formParameters())) }
            router.get("/query") { request, _ in .text(Self.describe(try request.queryParameters)) }
            router.get("/users/:id") { _, context in .text("user \(context.parameters["id"] ?? "?")") }
            try router.test(mode) { client in
                XCTAssertEqual(try client.post("/form", headers: formType, body: "a=1&b=x+y&a=%C3%A9").bodyString, "a=1\nb=x y\na=é", "\(mode)")
                XCTAssertEqual(try client.post("/form", headers: formType, body: "a=%E9").status, .badRequest, "\(mode)")
                XCTAssertEqual(try client.post("/form", body: "a=1").status, .unsupportedMediaType, "\(mode)")
                XCTAssertEqual(try client.get("/query?x=1&&x=2&y").bodyString, "x=1\nx=2\ny=", "\(mode)")
                XCTAssertEqual(try client.get("/users/a%2Fb").bodyString, "user a/b", "\(mode)")
                XCTAssertEqual(try client.get("/users/%2e%2e").status, .badRequest, "\(mode)")
                XCTAssertEqual(try client.get("/users//").status, .notFound, "\(mode)")
            }
        }
    }
}
