// Requests that try to leave the served directories, sent as raw bytes (no client normalises
// them): dot-segments plain and encoded, encoded slashes and backslashes, NUL, a symbolic link,
// on the site and as upload names. None reads, writes or removes anything outside; every one
// is answered 400 or 404.
import FilesApp
import Foundation
import Spindle
import SpindleTestSupport
import XCTest

final class FilesTraversalTests: XCTestCase {
    private static let readTargets = [
        "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/.%2e/secret.txt", "/%2e./secret.txt",
        "/docs/../../secret.txt", "/docs/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
        "/docs%2f..%2f..%2fsecret.txt", "/..%5csecret.txt", "/..\\secret.txt", "/%5c..%5csecret.txt",
        "/docs/..%00/secret.txt", "/link.txt", "//secret.txt", "/./secret.txt", "/secret.txt",
        "/uploads/../secret.txt", "/uploads/..%2fsecret.txt", "/uploads/%2e%2e%2fsecret.txt", "/uploads/..%2F..%2Fsecret.txt",
        "/uploads/%2e%2e", "/uploads/..", "/uploads/.upload-0.part", "/uploads/%2Fsecret.txt", "/uploads/..%5csecret.txt",
        "/uploads/../site/index.html", "/uploads/%2e%2e/site/index.html",
    ]

    private static let uploadTargets = [
        "/uploads/..%2fsecret.txt", "/uploads/%2e%2e%2fsecret.txt", "/uploads/..%2F..%2Fsecret.txt", "/uploads/%2e%2e",
        "/uploads/..", "/uploads/../secret.txt", "/uploads/.hidden", "/uploads/%2ehidden", "/uploads/a%2fb",
        "/uploads/%2Fsecret.txt", "/uploads/a%5cb", "/uploads/a\\b", "/uploads/a%00b", "/uploads/a%0Ab", "/uploads/a..b",
        "/uploads/" + String(repeating: "n", count: 256), "/uploads/%2e%2e%2fsite%2findex.html", "/uploads/../site/index.html",
    ]

    func testNoRequestLeavesTheServedDirectories() throws {
        let fixture = try FilesFixture()
        defer { fixture.remove() }
        let test = try FilesTestServer(fixture)
        defer { test.stop() }
        let rootBefore = fixture.rootNames
        let siteIndex = try Data(contentsOf: URL(fileURLWithPath: fixture.site + "/index.html"))

        for target in Self.readTargets {
            for method in ["GET", "HEAD"] {
                let client = try RawClient(port: test.port)
                try client.send(rawRequest(method, target))
                let response = try client.readResponse(isHEAD: method == "HEAD")
                XCTAssertTrue([400, 404].contains(response.status), "\(method) \(target): \(response.status) \(response.bodyString)")
                XCTAssertFalse(response.bodyString.contains(FilesFixture.secretMarker), "\(method) \(target) read the secret")
            }
        }
        for target in Self.uploadTargets {
            for method in ["PUT", "DELETE"] {
                let client = try RawClient(port: test.port)
                let body = Array("overwritten".utf8)
                try client.send(rawRequest(method, target, fields: ["Content-Length: \(body.count)"], body: body))
                let response = try client.readResponse()
                XCTAssertEqual(response.status, 400, "\(method) \(target): \(response.bodyString)")
            }
        }
        XCTAssertEqual(try String(contentsOfFile: fixture.secret, encoding: .utf8), FilesFixture.secretMarker + "\n")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: fixture.site + "/index.html")), siteIndex)
        XCTAssertEqual(fixture.rootNames, rootBefore, "nothing created or removed beside the served directories")
        XCTAssertEqual(fixture.uploadNames, [], "nothing stored, no temporary file left")

        // The longest name allowed, 255 bytes, is stored (the 256-byte one above is not).
        let longest = String(repeating: "n", count: 255)
        let client = try RawClient(port: test.port)
        try client.send(rawRequest("PUT", "/uploads/" + longest, fields: ["Content-Length: 2"], body: Array("ok".utf8)))
        XCTAssertEqual(try client.readResponse().status, 201)
        XCTAssertEqual(fixture.uploadNames, [longest])
    }

    func testUploadNamesAreCheckedWhateverTheBytes() {
        for bad in ["", ".", "..", ".hidden", "a/b", "/", "a\\b", "a\u{0}b", "a\nb", "a\u{7F}b", "a..b", "..a", String(repeating: "é", count: 128)] {
            XCTAssertThrowsError(try UploadName(bad), bad.debugDescription) { error in
                XCTAssertEqual((error as? HTTPError)?.status, .badRequest, bad.debugDescription)
            }
        }
        for good in ["a", "photo.jpg", "a.b.c", "a b", "ünïcödé.txt", "x.", String(repeating: "é", count: 127)] {
            XCTAssertEqual(try UploadName(good).value, good)
        }
    }
}
