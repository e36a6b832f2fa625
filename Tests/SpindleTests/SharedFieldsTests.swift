// The field sets the response factories share (`.text`, `.json`, `.bytes` with the default
// content type) are written from bytes prepared once: the same bytes, in memory and live, as
// the same fields written one by one; and a response whose fields were changed or replaced is
// written from its fields.
import Foundation
import HTTPTypes
import Spindle
import SpindleTesting
import XCTest

final class SharedFieldsTests: ServerTestCase {
    private struct Message: Encodable { let message: String }

    private func makeRouter() -> Router<Handler> {
        let router = Router<Handler>()
        router.get("/text") { _, _ in .text("hi") }
        router.get("/text-fields") { _, _ in
            Response(headerFields: [.contentType: "text/plain; charset=utf-8"], body: .text("hi"))
        }
        router.get("/json") { _, _ in try .json(Message(message: "hi")) }
        router.get("/json-fields") { _, _ in
            Response(headerFields: [.contentType: "application/json"], body: .bytes(Array(#"{"message":"hi"}"#.utf8)))
        }
        router.get("/bytes") { _, _ in .bytes([1, 2, 3]) }
        router.get("/bytes-fields") { _, _ in
            Response(headerFields: [.contentType: "application/octet-stream"], body: .bytes([1, 2, 3]))
        }
        router.get("/changed") { _, _ in
            var response = Response.text("hi")
            response.headerFields[.cacheControl] = "no-store"
            return response
        }
        router.get("/replaced") { _, _ in
            var response = Response.text("hi")
            response.headerFields = [.contentType: "text/html"]
            return response
        }
        router.get("/removed") { _, _ in
            var response = try Response.json([1])
            response.headerFields[.contentType] = nil
            return response
        }
        return router
    }

    /// The response's bytes without its `Date` line (which the clock may change between two).
    private func wire(_ response: TestResponse) -> String {
        String(decoding: response.wireBytes, as: UTF8.self)
            .components(separatedBy: "\r\n").filter { !$0.hasPrefix("Date: ") }.joined(separator: "\r\n")
    }

    func testSharedFieldSetsAreWrittenAsTheSameFieldsOneByOne() throws {
        for mode in [TestMode.inMemory, .live] {
            try makeRouter().test(mode, configuration: ServerConfiguration(host: "127.0.0.1", port: 0)) { client in
                for path in ["/text", "/json", "/bytes"] {
                    let shared = try client.get(path)
                    XCTAssertEqual(wire(shared), wire(try client.get(path + "-fields")), "\(path) (\(mode))")
                    XCTAssertNotNil(shared.headerFields[.date], "\(path) (\(mode))")
                }
            }
        }
    }

    func testChangedOrReplacedFieldsAreWrittenFromTheFields() throws {
        for mode in [TestMode.inMemory, .live] {
            try makeRouter().test(mode, configuration: ServerConfiguration(host: "127.0.0.1", port: 0)) { client in
                let changed = try client.get("/changed")
                XCTAssertEqual(changed.headerFields[.contentType], "text/plain; charset=utf-8", "\(mode)")
                XCTAssertEqual(changed.headerFields[.cacheControl], "no-store", "\(mode)")
                let replaced = try client.get("/replaced")
                XCTAssertEqual(replaced.headerFields[.contentType], "text/html", "\(mode)")
                XCTAssertEqual(replaced.headerFields[values: .contentType].count, 1, "\(mode)")
                let removed = try client.get("/removed")
                XCTAssertNil(removed.headerFields[.contentType], "\(mode)")
                XCTAssertEqual(removed.bodyString, "[1]", "\(mode)")
            }
        }
    }
}
