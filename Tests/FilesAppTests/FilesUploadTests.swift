// Uploads of the files example over real sockets: created, replaced, served back and removed;
// the upload route's own body limit (413 from the Content-Length before any body byte is read,
// 413 when a chunked body grows past it) while the server's limit still holds elsewhere; and
// uploads cut off by the client (a FIN or a reset) leave nothing behind.
import FilesApp
import Foundation
import HTTPTypes
import Spindle
import SpindleTestSupport
import SpindleTesting
import XCTest

final class FilesUploadTests: XCTestCase {
    func testAnUploadIsCreatedReplacedServedAndRemovedInBothModes() throws {
        let fixture = try FilesFixture()
        defer { fixture.remove() }
        for mode in [TestMode.inMemory, .live] {
            try fixture.router().test(mode) { client in
                let first = pattern(seed: 1, count: 200_000)
                let created = try client.execute(.put, "/uploads/a%20b%C3%BC.bin", body: first)
                XCTAssertEqual(created.status, .created, "\(mode): \(created.bodyString)")
                XCTAssertEqual(created.headerFields[.location], "/uploads/a%20b%C3%BC.bin", "\(mode)")
                XCTAssertEqual(created.bodyString, "created /uploads/a bü.bin (200000 bytes)\n")
                XCTAssertEqual(fixture.contents(ofUpload: "a bü.bin"), first, "\(mode): on disk")
                XCTAssertEqual(try client.get("/uploads/a%20b%C3%BC.bin").body, first, "\(mode): served back")

                let second = pattern(seed: 2, count: 1234)
                let replaced = try client.execute(.put, "/uploads/a%20b%C3%BC.bin", body: second)
                XCTAssertEqual(replaced.status, .ok, "\(mode)")
                XCTAssertNil(replaced.headerFields[.location])
                XCTAssertEqual(replaced.bodyString, "replaced /uploads/a bü.bin (1234 bytes)\n")
                XCTAssertEqual(try client.get("/uploads/a%20b%C3%BC.bin").body, second, "\(mode)")

                let empty = try client.execute(.put, "/uploads/empty.txt", body: [])
                XCTAssertEqual(empty.status, .created, "\(mode): an empty upload is a file too")
                XCTAssertEqual(fixture.contents(ofUpload: "empty.txt"), [])
                let head = try client.execute(.head, "/uploads/a%20b%C3%BC.bin")
                XCTAssertEqual(head.headerFields[.contentLength], "1234", "\(mode)")

                XCTAssertEqual(try client.execute(.delete, "/uploads/a%20b%C3%BC.bin").status, .noContent, "\(mode)")
                XCTAssertEqual(try client.execute(.delete, "/uploads/empty.txt").status, .noContent, "\(mode)")
                XCTAssertEqual(try client.get("/uploads/a%20b%C3%BC.bin").status, .notFound, "\(mode)")
                XCTAssertEqual(try client.execute(.delete, "/uploads/a%20b%C3%BC.bin").status, .notFound, "\(mode)")
                XCTAssertEqual(fixture.uploadNames, [], "\(mode): nothing left, no temporary file either")
            }
        }
    }

    /// A chunked upload with chunks of every size is stored whole.
    func testAChunkedUploadIsStoredWhole() throws {
        let fixture = try FilesFixture()
        defer { fixture.remove() }
        let test = try FilesTestServer(fixture)
        defer { test.stop() }
        let body = pattern(seed: 3, count: 300_000)
        let client = try RawClient(port: test.port)
        try client.send(rawRequest("PUT", "/uploads/chunked.bin", fields: ["Transfer-Encoding: chunked"]))
        var offset = 0, size = 1
        while offset < body.count {
            let end = min(offset + size, body.count)
            try client.send(Array("\(String(end - offset, radix: 16))\r\n".utf8) + body[offset..<end] + Array("\r\n".utf8))
            offset = end
            size = size * 3 + 1
        }
        try client.send("0\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 201, response.bodyString)
        XCTAssertEqual(fixture.contents(ofUpload: "chunked.bin"), body)
    }

    /// The upload limit (here 3 MiB, above the server's 1 MiB) is the upload route's own: a
    /// 2 MiB upload is taken, a Content-Length over 3 MiB is refused before any body byte is
    /// sent, a chunked body is refused once it passes 3 MiB; other routes keep 1 MiB.
    func testUploadsOverTheLimitAreRefusedBothWays() throws {
        let limit = 3 << 20
        let fixture = try FilesFixture(maxUploadBytes: limit)
        defer { fixture.remove() }
        let test = try FilesTestServer(fixture)
        defer { test.stop() }

        let allowed = try RawClient(port: test.port)
        let twoMiB = pattern(seed: 4, count: 2 << 20)
        try allowed.send(rawRequest("PUT", "/uploads/two.bin", fields: ["Content-Length: \(twoMiB.count)"], body: twoMiB))
        XCTAssertEqual(try allowed.readResponse().status, 201, "over the server's limit, within the upload route's")
        XCTAssertEqual(fixture.contents(ofUpload: "two.bin"), twoMiB)
        try allowed.send(rawRequest("PUT", "/uploads/exact.bin", fields: ["Content-Length: \(limit)"], body: [UInt8](repeating: 7, count: limit)))
        XCTAssertEqual(try allowed.readResponse().status, 201, "exactly the limit")

        // Announced too large: the head alone gets 413 (the test never sends a body byte).
        let announced = try RawClient(port: test.port)
        try announced.send(rawRequest("PUT", "/uploads/announced.bin", fields: ["Content-Length: \(limit + 1)", "Expect: 100-continue"]))
        let refused = try announced.readResponse(keepingContinue: true)
        XCTAssertEqual(refused.status, 413, "no 100 Continue, a 413 straight away: \(refused.bodyString)")
        XCTAssertEqual(refused.fields["connection"], "close")
        XCTAssertTrue(announced.isClosedByServer())

        // Chunked: refused when the chunk that crosses the limit is announced.
        let chunked = try RawClient(port: test.port)
        try chunked.send(rawRequest("PUT", "/uploads/chunked.bin", fields: ["Transfer-Encoding: chunked"]))
        let piece = pattern(seed: 5, count: 256 << 10)
        let sent = Locked(0)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue(label: "chunked sender").async {
            // Until the server stops reading (it answers and closes): sends may then fail.
            let chunk = Array("\(String(piece.count, radix: 16))\r\n".utf8) + piece + Array("\r\n".utf8)
            while sent.current <= limit + piece.count {
                guard (try? chunked.send(chunk)) != nil else { break }
                sent.withLock { $0 += piece.count }
            }
            done.signal()
        }
        let response = try chunked.readResponse()
        _ = done.wait(timeout: .now() + 20)
        XCTAssertEqual(response.status, 413, response.bodyString)
        XCTAssertGreaterThan(sent.current, limit - piece.count, "the refusal came once the body passed the limit")
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { fixture.uploadNames == ["exact.bin", "two.bin"] }, "\(fixture.uploadNames)")

        // Elsewhere the server's own 1 MiB holds.
        let elsewhere = try RawClient(port: test.port)
        try elsewhere.send(rawRequest("DELETE", "/uploads/two.bin", fields: ["Content-Length: \(2 << 20)"]))
        XCTAssertEqual(try elsewhere.readResponse().status, 413)
        XCTAssertEqual(fixture.contents(ofUpload: "two.bin"), twoMiB, "not deleted")
    }

    /// A client that stops halfway — closing (FIN) or resetting its connection — leaves no
    /// file: neither the name nor a temporary file; an upload cut off while replacing a file
    /// leaves the old file as it was.
    func testACutOffUploadLeavesNothingBehind() throws {
        let fixture = try FilesFixture()
        defer { fixture.remove() }
        let test = try FilesTestServer(fixture)
        defer { test.stop() }
        let old = Array("the old file\n".utf8)
        try Data(old).write(to: URL(fileURLWithPath: fixture.uploads + "/kept.txt"))
        for (name, resetting) in [("new.bin", false), ("new.bin", true), ("kept.txt", false), ("kept.txt", true)] {
            let client = try RawClient(port: test.port)
            try client.send(rawRequest("PUT", "/uploads/\(name)", fields: ["Content-Length: \(4 << 20)"], body: pattern(seed: 6, count: 300_000)))
            XCTAssertTrue(waitUntil(timeout: .seconds(10)) { fixture.uploadNames.contains { $0.hasPrefix(".upload-") } },
                          "\(name): the upload is under way in a temporary file")
            if resetting { client.reset() } else { shutdown(client.fd, Int32(SHUT_WR)) }
            XCTAssertTrue(waitUntil(timeout: .seconds(10)) { fixture.uploadNames == ["kept.txt"] },
                          "\(name) \(resetting ? "reset" : "closed"): \(fixture.uploadNames)")
            XCTAssertEqual(fixture.contents(ofUpload: "kept.txt"), old)
        }
    }
}
