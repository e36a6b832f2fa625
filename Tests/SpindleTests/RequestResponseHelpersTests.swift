// Request and response helpers over real sockets: cookies both ways, JSON bodies decoded into
// types (and the 400/415/413 a client gets when they do not fit), the head as an HTTPRequest,
// redirects and Cache-Control.
import Foundation
import HTTPTypes
import Spindle
import SpindleHTTP
import SpindleTestSupport
import XCTest

private struct Order: Decodable {
    struct Line: Decodable {
        let sku: String
        let quantity: Int
    }
    let customer: String
    let lines: [Line]
}

final class RequestResponseHelpersTests: ServerTestCase {
    private func exchange(_ port: Int, _ target: String, method: String = "GET", headers: [String] = [],
                          body: String? = nil) throws -> WireResponse {
        let client = try TestClient(port: port)
        let length = body.map { ["Content-Length: \($0.utf8.count)"] } ?? []
        let lines = ["\(method) \(target) HTTP/1.1", "Host: a"] + headers + length + ["Connection: close"]
        try client.send(lines.joined(separator: "\r\n") + "\r\n\r\n" + (body ?? ""))
        return try client.readResponse(isHEAD: method == "HEAD")
    }

    func testCookiesInBothDirections() throws {
        let server = try startServer { router in
            router.get("/cookies") { request, _ in
                let all = request.cookies.map { "\($0.name)=\($0.value)" }.joined(separator: "|")
                return .text("\(all) b:\(request.cookie("b") ?? "-") z:\(request.cookie("z") ?? "-")")
            }
            router.get("/login") { _, _ in
                var response = Response.text("welcome")
                try response.setCookie(SetCookie(name: "session", value: "s3cr3t", maxAge: 3600, secure: true,
                                                 httpOnly: true, sameSite: .lax))
                try response.setCookie(SetCookie(name: "theme", value: "dark"))
                return response
            }
            router.get("/echo-cookie") { request, _ in
                // A value from the client: a ; in it must not become an attribute.
                var response = Response.text("set")
                try response.setCookie(SetCookie(name: "echo", value: request.header("x-value") ?? ""))
                return response
            }
        }
        let sent = try exchange(server.port, "/cookies", headers: [#"Cookie: a=1; b="two"; bad name=x"#, "Cookie: c=3;d"])
        XCTAssertEqual(sent.bodyString, "a=1|b=two|c=3 b:two z:-", "every Cookie line, quotes removed, invalid pairs skipped")
        XCTAssertEqual(try exchange(server.port, "/cookies").bodyString, " b:- z:-", "no Cookie field")

        let login = try exchange(server.port, "/login")
        XCTAssertEqual(login.headers("set-cookie"), ["session=s3cr3t; Max-Age=3600; Path=/; Secure; HttpOnly; SameSite=Lax",
                                                     "theme=dark; Path=/"], "one field line per cookie")
        XCTAssertEqual(try exchange(server.port, "/echo-cookie", headers: ["X-Value: plain"]).header("set-cookie"), "echo=plain; Path=/")
        let injected = try exchange(server.port, "/echo-cookie", headers: ["X-Value: x; Domain=evil.example"])
        XCTAssertEqual(injected.status, 500, "the handler let the CookieError through")
        XCTAssertEqual(injected.headers("set-cookie"), [], "nothing of the refused cookie reaches the client")
    }

    func testDecodeAnswersWhatTheClientGotWrong() throws {
        let server = try startServer(configure: { $0.limits.maxBodyBytes = 4096 }) { router in
            router.post("/orders") { request, _ in
                let order = try request.decode(Order.self)
                return .text("\(order.customer): \(order.lines.map { "\($0.quantity)x\($0.sku)" }.joined(separator: ","))")
            }
            router.post("/small") { request, _ in
                let order = try request.decode(Order.self, maxBytes: 40)
                return .text(order.customer)
            }
        }
        let valid = #"{"customer":"ann","lines":[{"sku":"A1","quantity":2},{"sku":"B7","quantity":1}]}"#
        let json = "Content-Type: application/json"
        let cases: [(headers: [String], body: String, status: Int, text: String, note: String)] = [
            ([json], valid, 200, "ann: 2xA1,1xB7", "a valid order"),
            (["Content-Type: application/vnd.shop+json; charset=utf-8"], valid, 200, "ann: 2xA1,1xB7", "a +json type with parameters"),
            (["Content-Type: Application/JSON"], valid, 200, "ann: 2xA1,1xB7", "media types ignore case"),
            ([json], #"{"customer":"ann","lines":[{"sku":"A1","quantity":2}"#, 400, "Bad Request: malformed JSON\n", "cut short"),
            ([json], "not json", 400, "Bad Request: malformed JSON\n", "not JSON at all"),
            ([json], "", 400, "Bad Request: empty body, expected JSON\n", "no body"),
            ([json], #"{"customer":"ann","lines":[{"sku":"A1","quantity":"two"}]}"#, 400,
             "Bad Request: lines.0.quantity: expected Int\n", "a type mismatch names where"),
            ([json], #"{"lines":[]}"#, 400, "Bad Request: customer: required field missing\n", "a missing field"),
            ([json], #"{"customer":null,"lines":[]}"#, 400, "Bad Request: customer: missing String value\n", "null for a required value"),
            (["Content-Type: text/plain"], valid, 415, "Unsupported Media Type: expected Content-Type application/json\n", "the wrong type"),
            (["Content-Type: application/x-www-form-urlencoded"], valid, 415,
             "Unsupported Media Type: expected Content-Type application/json\n", "a form"),
            (["Content-Type: application/+json"], valid, 415, "Unsupported Media Type: expected Content-Type application/json\n",
             "a suffix without a name"),
            ([], valid, 415, "Unsupported Media Type: expected Content-Type application/json\n", "no Content-Type"),
        ]
        for (headers, body, status, text, note) in cases {
            let response = try exchange(server.port, "/orders", method: "POST", headers: headers, body: body)
            XCTAssertEqual(response.status, status, note)
            XCTAssertEqual(response.bodyString, text, note)
        }
        let tooLarge = try exchange(server.port, "/small", method: "POST", headers: [json], body: valid)
        XCTAssertEqual(tooLarge.status, 413, "over the handler's maxBytes")
        let overServerLimit = try exchange(server.port, "/orders", method: "POST", headers: [json], body: String(repeating: " ", count: 5000) + valid)
        XCTAssertEqual(overServerLimit.status, 413, "over the server's limit")
    }

    func testHTTPRequestView() throws {
        let server = try startServer { router in
            router.get("/view") { request, _ in
                let view = request.httpRequest
                let names = view.headerFields.map { $0.name.rawName }.joined(separator: ",")
                return .text("\(view.method.rawValue) \(view.scheme ?? "nil") \(view.authority ?? "nil") \(view.path ?? "nil") [\(names)] \(view.headerFields[.userAgent] ?? "-")")
            }
        }
        let origin = try exchange(server.port, "/view?x=1&y=%20", headers: ["User-Agent: tester/1"])
        XCTAssertEqual(origin.bodyString, "GET nil a /view?x=1&y=%20 [User-Agent,Connection] tester/1",
                       "scheme unknown, authority from Host (not a header field), the target as sent")
        let absolute = try exchange(server.port, "http://example.com:8080/view?q", headers: [])
        XCTAssertEqual(absolute.bodyString, "GET http example.com:8080 /view?q [Connection] -", "an absolute-form target states its scheme")
    }

    func testRedirectsAndCacheControl() throws {
        let server = try startServer { router in
            router.get("/redirect/:kind") { _, context in
                let kinds: [String: Response.RedirectStatus] = [
                    "303": .seeOther, "302": .found, "301": .movedPermanently, "307": .temporaryRedirect, "308": .permanentRedirect,
                ]
                guard let kind = context.parameters["kind"], let status = kinds[kind] else { return .text("?", status: .notFound) }
                return try .redirect(to: "/target?from=\(kind)", status: status)
            }
            router.get("/default") { _, _ in try .redirect(to: "https://example.com/") }
            router.get("/asset") { _, _ in
                var response = Response.text("body")
                response.cacheControl(.public, .maxAge(31_536_000), .immutable)
                return response
            }
            router.get("/private") { _, _ in
                var response = Response.text("body")
                response.headerFields[.cacheControl] = "public"
                response.cacheControl(.private, .noCache, .mustRevalidate)
                return response
            }
        }
        for code in [301, 302, 303, 307, 308] {
            let response = try exchange(server.port, "/redirect/\(code)")
            XCTAssertEqual(response.status, code)
            XCTAssertEqual(response.header("location"), "/target?from=\(code)")
            XCTAssertEqual(response.header("content-length"), "0")
        }
        let plain = try exchange(server.port, "/default")
        XCTAssertEqual(plain.status, 303, "See Other by default")
        XCTAssertEqual(plain.header("location"), "https://example.com/")
        XCTAssertEqual(try exchange(server.port, "/asset").headers("cache-control"), ["public, max-age=31536000, immutable"])
        XCTAssertEqual(try exchange(server.port, "/private").headers("cache-control"), ["private, no-cache, must-revalidate"],
                       "replaces what was set before")
    }

    func testRedirectRefusesControlBytes() {
        for location in ["/a\r\nSet-Cookie: admin=1", "/a\nb", "/a\rb", "/a\u{0}b", "/a\tb", "/a\u{7F}", ""] {
            XCTAssertThrowsError(try Response.redirect(to: location), location.debugDescription) { error in
                XCTAssertEqual((error as? InvalidFieldValueError)?.field, "Location", "\(error)")
            }
        }
        for location in ["/", "/ok?a=b#frag", "https://example.com/a%20b", "//cdn.example/x", "/caf\u{E9}"] {
            XCTAssertEqual(try Response.redirect(to: location).headerFields[.location], location)
        }
    }

    func testCacheDirectiveText() {
        let cases: [(CacheDirective, String)] = [
            (.maxAge(60), "max-age=60"), (.maxAge(-1), "max-age=0"), (.maxAge(Int.max), "max-age=2147483648"),
            (.sharedMaxAge(600), "s-maxage=600"), (.sharedMaxAge(Int.min), "s-maxage=0"),
            (.noStore, "no-store"), (.noCache, "no-cache"), (.public, "public"), (.private, "private"),
            (.immutable, "immutable"), (.mustRevalidate, "must-revalidate"), (.noTransform, "no-transform"),
        ]
        for (directive, text) in cases { XCTAssertEqual(directive.text, text) }
        var response = Response()
        response.cacheControl(.noStore)
        response.cacheControl([])
        XCTAssertNil(response.headerFields[.cacheControl], "no directives: no field")
    }
}
