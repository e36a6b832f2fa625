// SpindleTesting itself: the same router answered in memory and live, byte for byte alike
// where the transport does not matter (bodies, framing, errors, pipelining, parking handlers).
import Foundation
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleTesting
import XCTest

final class SpindleTestingTests: ServerTestCase {
    private func makeRouter() -> Router<Handler> {
        let router = Router<Handler>()
        router.add { request, context, next in
            var response = try next(request, context)
            response.headerFields[HTTPField.Name("X-Seen")!] = "yes"
            return response
        }
        router.get("/hello") { _, _ in .text("Hello!") }
        router.get("/users/:id") { _, context in .text("user \(try context.parameters.require("id", as: Int.self))") }
        router.post("/echo") { request, _ in .bytes(try request.body.readAll()) }
        router.get("/sleep") { _, _ in
            try Fiber.sleep(for: .milliseconds(20))
            return .text("slept")
        }
        router.get("/offload") { _, context in .text(try context.offload { "offloaded" }) }
        router.get("/stream") { _, _ in
            .stream(contentType: "text/plain") { writer in
                for word in ["one ", "two ", "three"] { try writer.write(word) }
            }
        }
        return router
    }

    private func bothModes(_ body: (HTTPTestClient, TestMode) throws -> Void) throws {
        for mode in [TestMode.inMemory, .live] {
            var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
            configuration.limits.maxBodyBytes = 1000
            try makeRouter().test(mode, configuration: configuration) { client in try body(client, mode) }
        }
    }

    func testRequestsAndResponsesInBothModes() throws {
        try bothModes { client, mode in
            let hello = try client.get("/hello")
            XCTAssertEqual(hello.status, .ok, "\(mode)")
            XCTAssertEqual(hello.bodyString, "Hello!")
            XCTAssertEqual(hello.headerFields[.contentType], "text/plain; charset=utf-8")
            XCTAssertEqual(hello.headerFields[.contentLength], "6")
            XCTAssertEqual(hello.headerFields[HTTPField.Name("X-Seen")!], "yes")
            XCTAssertNotNil(hello.headerFields[.date])

            XCTAssertEqual(try client.get("/users/42").bodyString, "user 42")
            XCTAssertEqual(try client.get("/users/x").status, .badRequest)
            let missing = try client.get("/missing")
            XCTAssertEqual(missing.status, .notFound)
            XCTAssertEqual(missing.headerFields[HTTPField.Name("X-Seen")!], "yes", "404 went through the middleware (\(mode))")
            let wrongMethod = try client.execute(.put, "/hello")
            XCTAssertEqual(wrongMethod.status, .methodNotAllowed)
            XCTAssertEqual(wrongMethod.headerFields[.allow], "GET, HEAD")

            let head = try client.execute(.head, "/hello")
            XCTAssertEqual(head.status, .ok)
            XCTAssertEqual(head.body, [])
            XCTAssertEqual(head.headerFields[.contentLength], "6")

            let echoed = try client.post("/echo", body: "some bytes")
            XCTAssertEqual(echoed.bodyString, "some bytes")
            let chunked = try client.execute(.post, "/echo", headers: [.transferEncoding: "chunked"],
                                             body: Array("4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n".utf8))
            XCTAssertEqual(chunked.bodyString, "abcdefg", "chunked request body (\(mode))")
            let tooLarge = try client.post("/echo", body: String(repeating: "x", count: 1001))
            XCTAssertEqual(tooLarge.status, .contentTooLarge, "\(mode)")
            XCTAssertEqual(tooLarge.headerFields[HTTPField.Name("X-Seen")!], "yes", "413 went through the middleware (\(mode))")
        }
    }

    func testParkingHandlersAndStreamsInBothModes() throws {
        try bothModes { client, mode in
            XCTAssertEqual(try client.get("/sleep").bodyString, "slept", "\(mode)")
            XCTAssertEqual(try client.get("/offload").bodyString, "offloaded", "\(mode)")
            let stream = try client.get("/stream")
            XCTAssertEqual(stream.bodyString, "one two three", "\(mode)")
            XCTAssertEqual(stream.headerFields[.transferEncoding], "chunked")
            XCTAssertTrue(String(decoding: stream.wireBytes, as: UTF8.self).hasSuffix("4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"))
        }
    }

    func testRawPipelinedAndMalformedRequestsInBothModes() throws {
        try bothModes { client, mode in
            let pipelined = try client.executeRaw(Array("GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /users/7 HTTP/1.1\r\nHost: a\r\n\r\n".utf8),
                                                  responses: 2)
            XCTAssertEqual(pipelined.map(\.bodyString), ["Hello!", "user 7"], "\(mode)")
            let malformed = try client.executeRaw(Array("GET /hello HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n".utf8))
            XCTAssertEqual(malformed.first?.status, .badRequest, "\(mode)")
            XCTAssertNil(malformed.first?.headerFields[HTTPField.Name("X-Seen")!], "a malformed head never reaches middleware (\(mode))")
        }
    }

    func testSwiftHTTPTypesRequest() throws {
        try makeRouter().test(.inMemory) { client in
            let request = HTTPRequest(method: .get, scheme: nil, authority: "example.com", path: "/users/9")
            XCTAssertEqual(try client.execute(request).bodyString, "user 9")
            XCTAssertNil(client.port)
        }
        try makeRouter().test(.live) { client in
            XCTAssertNotNil(client.port)
        }
    }
}
