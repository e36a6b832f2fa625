// The files example serving its directories: the site and an uploaded file, with ranges
// (single, suffix, unsatisfiable), validators and 304 (If-None-Match, If-Modified-Since), in
// memory and over a socket.
import FilesApp
import Foundation
import HTTPTypes
import Spindle
import SpindleTestSupport
import SpindleTesting
import XCTest

final class FilesServingTests: XCTestCase {
    func testTheSiteIsServedWithItsIndexTypesAndValidators() throws {
        let fixture = try FilesFixture()
        defer { fixture.remove() }
        for mode in [TestMode.inMemory, .live] {
            try fixture.router().test(mode) { client in
                let index = try client.get("/")
                XCTAssertEqual(index.status, .ok, "\(mode)")
                XCTAssertEqual(index.bodyString, "<h1>fixture site</h1>\n")
                XCTAssertEqual(index.headerFields[.contentType], "text/html; charset=utf-8")
                XCTAssertEqual(index.headerFields[.acceptRanges], "bytes")
                XCTAssertNotNil(index.headerFields[.eTag], "\(mode)")
                XCTAssertNotNil(index.headerFields[.lastModified], "\(mode)")
                let style = try client.get("/style.css")
                XCTAssertEqual(style.status, .ok)
                XCTAssertEqual(style.headerFields[.contentType], "text/css; charset=utf-8")
                XCTAssertEqual(try client.get("/docs/range.txt").body, fixture.rangeFile, "\(mode)")
                XCTAssertEqual(try client.get("/docs").headerFields[.location], "/docs/", "\(mode): a directory without its slash")
                XCTAssertEqual(try client.get("/missing.html").status, .notFound, "\(mode)")
                XCTAssertEqual(try client.execute(.post, "/index.html").status, .methodNotAllowed, "\(mode)")
            }
        }
    }

    func testTheDemoSiteShipsWithTheExample() throws {
        let uploads = NSTemporaryDirectory() + "spindle-files-demo-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: uploads) }
        let router = try FilesRoutes.router(configuration: FilesConfiguration(uploadsDirectory: uploads))
        try router.test(.inMemory) { client in
            let index = try client.get("/")
            XCTAssertEqual(index.status, .ok, index.bodyString)
            XCTAssertTrue(index.bodyString.contains("<link rel=\"stylesheet\" href=\"/style.css\">"), index.bodyString)
            let style = try client.get("/style.css")
            XCTAssertEqual(style.status, .ok)
            XCTAssertEqual(style.headerFields[.contentType], "text/css; charset=utf-8")
        }
    }

    /// One range, a suffix range, a range past the end clamped, and unsatisfiable ones (416 with
    /// `Content-Range: bytes */size`), on a site file and on an uploaded one.
    func testRangesOfSiteFilesAndUploads() throws {
        let fixture = try FilesFixture()
        defer { fixture.remove() }
        let uploaded = pattern(seed: 5, count: 1000)
        for mode in [TestMode.inMemory, .live] {
            try fixture.router().test(mode) { client in
                XCTAssertEqual(try client.execute(.put, "/uploads/ranged.bin", body: uploaded).status, mode == .inMemory ? .created : .ok)
                for (target, whole) in [("/docs/range.txt", fixture.rangeFile), ("/uploads/ranged.bin", uploaded)] {
                    let name = "\(mode) \(target)"
                    let single = try client.get(target, headers: [.range: "bytes=10-19"])
                    XCTAssertEqual(single.status, .partialContent, name)
                    XCTAssertEqual(single.headerFields[.contentRange], "bytes 10-19/1000", name)
                    XCTAssertEqual(single.body, Array(whole[10...19]), name)
                    let suffix = try client.get(target, headers: [.range: "bytes=-100"])
                    XCTAssertEqual(suffix.status, .partialContent, name)
                    XCTAssertEqual(suffix.headerFields[.contentRange], "bytes 900-999/1000", name)
                    XCTAssertEqual(suffix.body, Array(whole[900...]), name)
                    let clamped = try client.get(target, headers: [.range: "bytes=990-5000"])
                    XCTAssertEqual(clamped.headerFields[.contentRange], "bytes 990-999/1000", name)
                    XCTAssertEqual(clamped.body, Array(whole[990...]), name)
                    for unsatisfiable in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
                        let refused = try client.get(target, headers: [.range: unsatisfiable])
                        XCTAssertEqual(refused.status, .rangeNotSatisfiable, "\(name) \(unsatisfiable)")
                        XCTAssertEqual(refused.headerFields[.contentRange], "bytes */1000", "\(name) \(unsatisfiable)")
                    }
                }
            }
        }
    }

    /// `304 Not Modified` for a matching `If-None-Match` or an `If-Modified-Since` not older than
    /// the file, `200` otherwise; an upload that replaces the file changes its `ETag`.
    func testConditionalRequestsOfSiteFilesAndUploads() throws {
        let fixture = try FilesFixture()
        defer { fixture.remove() }
        try fixture.router().test(.live) { client in
            XCTAssertEqual(try client.execute(.put, "/uploads/page.txt", body: Array("first".utf8)).status, .created)
            for target in ["/index.html", "/uploads/page.txt"] {
                let first = try client.get(target)
                XCTAssertEqual(first.status, .ok, target)
                let tag = try XCTUnwrap(first.headerFields[.eTag], target)
                let modified = try XCTUnwrap(first.headerFields[.lastModified], target)
                let byTag = try client.get(target, headers: [.ifNoneMatch: tag])
                XCTAssertEqual(byTag.status, .notModified, target)
                XCTAssertEqual(byTag.body, [], target)
                XCTAssertEqual(byTag.headerFields[.eTag], tag, target)
                XCTAssertEqual(try client.get(target, headers: [.ifNoneMatch: "\"other\", " + tag]).status, .notModified, target)
                XCTAssertEqual(try client.get(target, headers: [.ifNoneMatch: "\"other\""]).status, .ok, target)
                XCTAssertEqual(try client.get(target, headers: [.ifModifiedSince: modified]).status, .notModified, target)
                XCTAssertEqual(try client.get(target, headers: [.ifModifiedSince: "Sat, 01 Jan 2000 00:00:00 GMT"]).status, .ok, target)
                // If-None-Match wins over If-Modified-Since.
                XCTAssertEqual(try client.get(target, headers: [.ifNoneMatch: "\"other\"", .ifModifiedSince: modified]).status, .ok, target)
            }
            let before = try XCTUnwrap(try client.get("/uploads/page.txt").headerFields[.eTag])
            XCTAssertEqual(try client.execute(.put, "/uploads/page.txt", body: Array("second".utf8)).status, .ok)
            let after = try client.get("/uploads/page.txt", headers: [.ifNoneMatch: before])
            XCTAssertEqual(after.status, .ok, "the replaced file no longer matches the old tag")
            XCTAssertEqual(after.bodyString, "second")
            XCTAssertNotEqual(after.headerFields[.eTag], before)
        }
    }
}
