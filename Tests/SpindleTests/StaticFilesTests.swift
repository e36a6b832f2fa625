// StaticFiles over a real directory made by each test: a table of requests (types, HEAD,
// index and redirects, ranges and their edge cases, conditional requests, precompressed
// siblings, the middleware and handler forms) answered alike in memory and over a live
// socket, and a table of hostile paths (dot-segments plain and encoded, encoded slashes,
// backslashes, NUL, symbolic links out of the root, dotfiles) that must all be refused.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleIO
import SpindleTesting
import SpindleTestSupport
import XCTest

/// One request and what its response must be. `fields`: expected values, nil for absent.
struct StaticCase {
    var name: String
    var method: HTTPRequest.Method = .get
    var target: String
    var headers: HTTPFields = [:]
    var status: HTTPResponse.Status
    var body: [UInt8]? = nil
    var fields: [(HTTPField.Name, String?)] = []
}

final class StaticFilesTests: ServerTestCase {
    private var site: StaticSite!
    static let digits = Array(String(repeating: "0123456789", count: 10).utf8)  // 100 bytes
    static let large = pattern(seed: 3, count: 200 << 10)  // larger than a chunk
    static let secret = "TOP SECRET"

    override func setUpWithError() throws {
        try super.setUpWithError()
        site = try StaticSite()
        try site.write("hello.txt", "Hello, static world!\n")
        try site.write("index.html", "<h1>home</h1>\n")
        try site.write("docs/index.html", "<h1>docs</h1>\n")
        try FileManager.default.createDirectory(atPath: site.path("empty"), withIntermediateDirectories: true)
        try site.write("app.js", "console.log(1)\n")
        try site.write("style.css", "body{}\n")
        try site.write("data.json", "{}\n")
        try site.write("image.png", [0x89, 0x50, 0x4E, 0x47])
        try site.write("font.woff2", [1, 2, 3])
        try site.write("PAGE.HTML", "<p>upper</p>\n")
        try site.write("unknown.xyz", "?\n")
        try site.write("noextension", "plain\n")
        try site.write("digits.bin", Self.digits)
        try site.write("empty.txt", [])
        try site.write("large.bin", Self.large)
        try site.write("page.html", "<p>identity</p>\n")
        try site.write("page.html.gz", [0x1F, 0x8B, 8, 0, 42])
        try site.write(".env", Self.secret)
        try site.write(".git/config", Self.secret)
        try site.write("%2e%2e/name", "a directory literally named %2e%2e\n")
        try Data(Self.secret.utf8).write(to: URL(fileURLWithPath: site.outside + "/secret.txt"))
        try site.link("inside-link.txt", to: "hello.txt")
        try site.link("link-out.txt", to: "../outside/secret.txt")
        try site.link("absolute-link-out.txt", to: site.outside + "/secret.txt")
        try site.link("dir-link-out", to: "../outside")
        try site.link("link-to-dotfile", to: ".env")
        XCTAssertEqual(mkfifo(site.path("fifo"), 0o644), 0, "mkfifo")
    }

    override func tearDown() {
        site?.remove()
        super.tearDown()
    }

    /// The application: the handler form under /static and /gz (precompressed siblings,
    /// Cache-Control), /dots (dotfiles served), and the middleware form under /files, with
    /// routes of its own there to show what it passes on.
    private func makeRouter() throws -> Router<Handler> {
        let router = Router<Handler>()
        let files = try StaticFiles(root: site.root, urlPrefix: "/files/")
        router.add(middleware: files)
        router.get("/files/api") { _, _ in .text("api route") }
        router.post("/files/hello.txt") { _, _ in .text("posted") }
        router.get("/static/*", try StaticFiles(root: site.root, urlPrefix: "/static").handler)
        let gzip = StaticFiles.Configuration(cacheControl: "public, max-age=60", servesPrecompressedGzip: true)
        router.get("/gz/*", try StaticFiles(root: site.root, urlPrefix: "/gz", configuration: gzip).handler)
        router.get("/dots/*", try StaticFiles(root: site.root, urlPrefix: "/dots",
                                              configuration: .init(servesDotFiles: true)).handler)
        return router
    }

    private func inBothModes(_ body: (HTTPTestClient, TestMode) throws -> Void) throws {
        for mode in [TestMode.inMemory, .live] {
            try makeRouter().test(mode) { client in try body(client, mode) }
        }
    }

    private func check(_ cases: [StaticCase], _ client: HTTPTestClient, _ mode: TestMode,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        for c in cases {
            let response = try client.execute(c.method, c.target, headers: c.headers)
            let label = "\(c.name) [\(c.method) \(c.target), \(mode)]"
            XCTAssertEqual(response.status.code, c.status.code, "\(label): \(response.bodyString)", file: file, line: line)
            if let body = c.body {
                XCTAssertEqual(response.body, body, "\(label): body \(response.bodyString.prefix(80))", file: file, line: line)
            }
            for (name, value) in c.fields {
                XCTAssertEqual(response.headerFields[name], value, "\(label): \(name)", file: file, line: line)
            }
        }
    }

    func testFilesTypesHeadIndexAndRedirects() throws {
        let hello = Array("Hello, static world!\n".utf8)
        let lastModified = try site.lastModified("hello.txt")
        let cases: [StaticCase] = [
            .init(name: "a text file", target: "/static/hello.txt", status: .ok, body: hello, fields: [
                (.contentType, "text/plain; charset=utf-8"), (.contentLength, "21"), (.acceptRanges, "bytes"),
                (.lastModified, lastModified), (.cacheControl, nil), (.vary, nil), (.contentEncoding, nil)]),
            .init(name: "HEAD: the GET's fields, no body", method: .head, target: "/static/hello.txt", status: .ok, body: [],
                  fields: [(.contentLength, "21"), (.contentType, "text/plain; charset=utf-8"), (.lastModified, lastModified)]),
            .init(name: "the root's index", target: "/static/", status: .ok, body: Array("<h1>home</h1>\n".utf8),
                  fields: [(.contentType, "text/html; charset=utf-8")]),
            .init(name: "the mount point without its slash", target: "/static", status: .movedPermanently,
                  fields: [(.location, "/static/")]),
            .init(name: "a directory without its slash", target: "/static/docs", status: .movedPermanently,
                  fields: [(.location, "/static/docs/")]),
            .init(name: "the redirect keeps the query", target: "/static/docs?x=1&y=%20", status: .movedPermanently,
                  fields: [(.location, "/static/docs/?x=1&y=%20")]),
            .init(name: "a directory's index", target: "/static/docs/", status: .ok, body: Array("<h1>docs</h1>\n".utf8)),
            .init(name: "repeated slashes: the router does not merge them (Docs/routing.md)", target: "/static//docs//index.html", status: .notFound),
            .init(name: "middleware: repeated slashes are not merged either", target: "/files//hello.txt", status: .badRequest),
            .init(name: "a directory without an index", target: "/static/empty/", status: .notFound),
            .init(name: "a file with a trailing slash", target: "/static/hello.txt/", status: .notFound),
            .init(name: "a missing file", target: "/static/missing.txt", status: .notFound),
            .init(name: "a link inside the root", target: "/static/inside-link.txt", status: .ok, body: hello),
            .init(name: "a name that is percent-encoded", target: "/static/hell%6F.txt", status: .ok, body: hello),
            .init(name: "an encoded percent stays one", target: "/static/%252e%252e/name", status: .ok,
                  body: Array("a directory literally named %2e%2e\n".utf8)),
            .init(name: "a FIFO is not a file to serve", target: "/static/fifo", status: .notFound),
            .init(name: "javascript", target: "/static/app.js", status: .ok, fields: [(.contentType, "text/javascript; charset=utf-8")]),
            .init(name: "css", target: "/static/style.css", status: .ok, fields: [(.contentType, "text/css; charset=utf-8")]),
            .init(name: "json", target: "/static/data.json", status: .ok, fields: [(.contentType, "application/json")]),
            .init(name: "png", target: "/static/image.png", status: .ok, body: [0x89, 0x50, 0x4E, 0x47], fields: [(.contentType, "image/png")]),
            .init(name: "woff2", target: "/static/font.woff2", status: .ok, fields: [(.contentType, "font/woff2")]),
            .init(name: "an extension in capitals", target: "/static/PAGE.HTML", status: .ok, fields: [(.contentType, "text/html; charset=utf-8")]),
            .init(name: "an unknown extension", target: "/static/unknown.xyz", status: .ok, fields: [(.contentType, "application/octet-stream")]),
            .init(name: "no extension", target: "/static/noextension", status: .ok, fields: [(.contentType, "application/octet-stream")]),
            .init(name: "an empty file", target: "/static/empty.txt", status: .ok, body: [], fields: [(.contentLength, "0")]),
            .init(name: "middleware: a file", target: "/files/hello.txt", status: .ok, body: hello),
            .init(name: "middleware: a route under the prefix", target: "/files/api", status: .ok, body: Array("api route".utf8)),
            .init(name: "middleware: another method goes on", method: .post, target: "/files/hello.txt", status: .ok,
                  body: Array("posted".utf8)),
            .init(name: "middleware: nothing there", target: "/files/missing.txt", status: .notFound),
            .init(name: "middleware: outside the prefix", target: "/filesystem/hello.txt", status: .notFound),
            .init(name: "handler: other methods", method: .put, target: "/static/hello.txt", status: .methodNotAllowed),
            .init(name: "dotfiles when configured", target: "/dots/.env", status: .ok, body: Array(Self.secret.utf8)),
            .init(name: "a link to a dotfile when configured", target: "/dots/link-to-dotfile", status: .ok),
        ]
        try inBothModes { client, mode in try check(cases, client, mode) }
    }

    func testLargeFilesAreStreamedWhole() throws {
        try inBothModes { client, mode in
            let full = try client.get("/static/large.bin")
            XCTAssertEqual(full.status, .ok)
            XCTAssertEqual(full.body, Self.large, "\(mode)")
            // Larger than a chunk: streamed piece by piece, with its length.
            XCTAssertNil(full.headerFields[.transferEncoding], "\(mode)")
            XCTAssertEqual(full.headerFields[.contentLength], String(Self.large.count), "\(mode)")
            let head = try client.execute(.head, "/static/large.bin")
            XCTAssertEqual(head.status, .ok)
            XCTAssertEqual(head.body, [])
            XCTAssertEqual(head.headerFields[.contentLength], String(Self.large.count), "HEAD says the GET's length (\(mode))")
            XCTAssertEqual(head.headerFields[.eTag], full.headerFields[.eTag])
            let tail = try client.get("/static/large.bin", headers: [.range: "bytes=1000-"])
            XCTAssertEqual(tail.status, .partialContent)
            XCTAssertEqual(tail.body, Array(Self.large[1000...]), "\(mode)")
            XCTAssertEqual(tail.headerFields[.contentRange], "bytes 1000-\(Self.large.count - 1)/\(Self.large.count)")
            let acrossChunks = try client.get("/static/large.bin", headers: [.range: "bytes=65530-65545"])
            XCTAssertEqual(acrossChunks.body, Array(Self.large[65530...65545]), "\(mode)")
            XCTAssertEqual(acrossChunks.headerFields[.contentLength], "16")
        }
    }

    func testRanges() throws {
        let digits = Self.digits
        func part(_ name: String, _ range: String, _ bytes: ClosedRange<Int>) -> StaticCase {
            .init(name: name, target: "/static/digits.bin", headers: [.range: range], status: .partialContent,
                  body: Array(digits[bytes]), fields: [
                    (.contentRange, "bytes \(bytes.lowerBound)-\(bytes.upperBound)/100"),
                    (.contentLength, String(bytes.count)), (.contentType, "application/octet-stream")])
        }
        func whole(_ name: String, _ range: String) -> StaticCase {
            .init(name: name, target: "/static/digits.bin", headers: [.range: range], status: .ok, body: digits,
                  fields: [(.contentRange, nil), (.contentLength, "100")])
        }
        func unsatisfiable(_ name: String, _ range: String, target: String = "/static/digits.bin", size: Int = 100) -> StaticCase {
            .init(name: name, target: target, headers: [.range: range], status: .rangeNotSatisfiable,
                  fields: [(.contentRange, "bytes */\(size)")])
        }
        let cases: [StaticCase] = [
            part("the first byte", "bytes=0-0", 0...0),
            part("the last byte", "bytes=99-99", 99...99),
            part("a middle range", "bytes=10-19", 10...19),
            part("from an offset to the end", "bytes=90-", 90...99),
            part("an end beyond the file", "bytes=95-200", 95...99),
            part("an end too large for any integer", "bytes=0-99999999999999999999999999", 0...99),
            part("a suffix", "bytes=-1", 99...99),
            part("a suffix larger than the file", "bytes=-500", 0...99),
            part("the unit in capitals", "BYTES=0-1", 0...1),
            part("spaces around the range", "bytes= 3-4 ", 3...4),
            unsatisfiable("starting at the size", "bytes=100-"),
            unsatisfiable("starting beyond the end", "bytes=200-300"),
            unsatisfiable("a start too large for any integer", "bytes=99999999999999999999999999-"),
            unsatisfiable("an empty suffix", "bytes=-0"),
            unsatisfiable("any range of an empty file", "bytes=0-", target: "/static/empty.txt", size: 0),
            unsatisfiable("a suffix of an empty file", "bytes=-5", target: "/static/empty.txt", size: 0),
            whole("last before first (invalid)", "bytes=5-2"),
            whole("not a number", "bytes=abc"),
            whole("no dash", "bytes=5"),
            whole("a negative start", "bytes=--5"),
            whole("nothing after the unit", "bytes="),
            whole("another unit", "items=0-5"),
            whole("several ranges", "bytes=0-1,5-6"),
            .init(name: "HEAD ignores Range", method: .head, target: "/static/digits.bin", headers: [.range: "bytes=0-0"],
                  status: .ok, body: [], fields: [(.contentLength, "100"), (.contentRange, nil)]),
        ]
        try inBothModes { client, mode in try check(cases, client, mode) }
    }

    func testConditionalRequests() throws {
        let lastModified = try site.lastModified("digits.bin")
        let modifiedSeconds = try site.modificationSeconds("digits.bin")
        let earlier = StaticSite.httpDate(Date(timeIntervalSince1970: TimeInterval(modifiedSeconds - 86_400)))
        let later = StaticSite.httpDate(Date(timeIntervalSince1970: TimeInterval(modifiedSeconds + 86_400)))
        try inBothModes { client, mode in
            let first = try client.get("/static/digits.bin")
            let tag = try XCTUnwrap(first.headerFields[.eTag])
            XCTAssertTrue(tag.hasPrefix("\"") && tag.hasSuffix("\"") && tag.count > 2, "a strong entity tag: \(tag)")
            XCTAssertEqual(first.headerFields[.lastModified], lastModified)
            let notModified: [(HTTPField.Name, String?)] = [(.eTag, tag), (.lastModified, lastModified), (.contentType, nil)]
            let cases: [StaticCase] = [
                .init(name: "the current tag", target: "/static/digits.bin", headers: [.ifNoneMatch: tag],
                      status: .notModified, body: [], fields: notModified),
                .init(name: "its weak form (weak comparison)", target: "/static/digits.bin", headers: [.ifNoneMatch: "W/" + tag],
                      status: .notModified, body: []),
                .init(name: "in a list", target: "/static/digits.bin", headers: [.ifNoneMatch: "\"other\", \(tag)"],
                      status: .notModified),
                .init(name: "after a tag holding a comma", target: "/static/digits.bin", headers: [.ifNoneMatch: "\"a,b\",\(tag)"],
                      status: .notModified),
                .init(name: "a star", target: "/static/digits.bin", headers: [.ifNoneMatch: "*"], status: .notModified),
                .init(name: "another tag", target: "/static/digits.bin", headers: [.ifNoneMatch: "\"other\""],
                      status: .ok, body: Self.digits),
                .init(name: "an unquoted tag is not a tag", target: "/static/digits.bin",
                      headers: [.ifNoneMatch: String(tag.dropFirst().dropLast())], status: .ok),
                .init(name: "HEAD too", method: .head, target: "/static/digits.bin", headers: [.ifNoneMatch: tag], status: .notModified),
                .init(name: "modified since: no", target: "/static/digits.bin", headers: [.ifModifiedSince: lastModified],
                      status: .notModified, fields: notModified),
                .init(name: "modified since a later date: no", target: "/static/digits.bin", headers: [.ifModifiedSince: later],
                      status: .notModified),
                .init(name: "modified since an earlier date: yes", target: "/static/digits.bin", headers: [.ifModifiedSince: earlier],
                      status: .ok, body: Self.digits),
                .init(name: "an invalid date is ignored", target: "/static/digits.bin", headers: [.ifModifiedSince: "yesterday"],
                      status: .ok),
                .init(name: "If-None-Match wins (no match)", target: "/static/digits.bin",
                      headers: [.ifNoneMatch: "\"other\"", .ifModifiedSince: lastModified], status: .ok),
                .init(name: "If-None-Match wins (match)", target: "/static/digits.bin",
                      headers: [.ifNoneMatch: tag, .ifModifiedSince: earlier], status: .notModified),
                .init(name: "If-Range with the tag", target: "/static/digits.bin", headers: [.range: "bytes=0-0", .ifRange: tag],
                      status: .partialContent, body: Array("0".utf8)),
                .init(name: "If-Range with another tag", target: "/static/digits.bin", headers: [.range: "bytes=0-0", .ifRange: "\"x\""],
                      status: .ok, body: Self.digits),
                .init(name: "If-Range with a weak tag", target: "/static/digits.bin", headers: [.range: "bytes=0-0", .ifRange: "W/" + tag],
                      status: .ok),
                .init(name: "If-Range with the date", target: "/static/digits.bin", headers: [.range: "bytes=1-1", .ifRange: lastModified],
                      status: .partialContent, body: Array("1".utf8)),
                .init(name: "If-Range with another date", target: "/static/digits.bin", headers: [.range: "bytes=1-1", .ifRange: earlier],
                      status: .ok),
            ]
            try check(cases, client, mode)
        }
    }

    func testTheEntityTagChangesWithTheFile() throws {
        let router = try makeRouter()
        router.get("/fresh/*", try StaticFiles(root: site.root, urlPrefix: "/fresh", configuration: .init(cacheValidity: .zero)).handler)
        try router.test(.live) { client in
            let before = try XCTUnwrap(try client.get("/fresh/hello.txt").headerFields[.eTag])
            try site.write("hello.txt", "Hello, changed world\n")  // same size, new inode/mtime
            let after = try client.get("/fresh/hello.txt", headers: [.ifNoneMatch: before])
            XCTAssertEqual(after.status, .ok)
            XCTAssertEqual(after.bodyString, "Hello, changed world\n")
            XCTAssertNotEqual(after.headerFields[.eTag], before)
        }
    }

    /// A small file is answered from the worker's memory until `cacheValidity` has passed,
    /// whatever happens on disk meanwhile; then it is read again. A file over
    /// `cachedFileSizeLimit` is read on every request.
    func testACachedFileIsServedUntilItsValidityEnds() throws {
        let router = Router<Handler>()
        // The requests "within the validity" below must all come before it ends, also on a
        // loaded machine: 2 s (about 20 times what they take there).
        let validity = Duration.seconds(2)
        let short = StaticFiles.Configuration(cacheValidity: validity, cachedFileSizeLimit: 100)
        router.get("/short/*", try StaticFiles(root: site.root, urlPrefix: "/short", configuration: short).handler)
        try site.write("big.txt", String(repeating: "b", count: 101))
        try router.test(.live) { client in
            let first = try client.get("/short/hello.txt")
            let cachedBy = Deadline.now  // the file was cached before this answer came
            let firstBig = try client.get("/short/big.txt")
            try site.write("hello.txt", "Hello, changed world\n")
            try site.write("big.txt", String(repeating: "c", count: 101))
            let during = try client.get("/short/hello.txt")
            XCTAssertEqual(during.bodyString, first.bodyString, "changed within the validity: still the cached file")
            XCTAssertEqual(during.headerFields[.eTag], first.headerFields[.eTag])
            let bigDuring = try client.get("/short/big.txt")
            XCTAssertEqual(bigDuring.bodyString, String(repeating: "c", count: 101), "over the size limit: never cached")
            XCTAssertNotEqual(bigDuring.headerFields[.eTag], firstBig.headerFields[.eTag])
            // A range and a conditional request are answered from the cached bytes and tag.
            let part = try client.get("/short/hello.txt", headers: [.range: "bytes=0-4"])
            XCTAssertEqual(part.status, .partialContent)
            XCTAssertEqual(part.bodyString, String(first.bodyString.prefix(5)))
            let unchanged = try client.get("/short/hello.txt", headers: [.ifNoneMatch: try XCTUnwrap(first.headerFields[.eTag])])
            XCTAssertEqual(unchanged.status, .notModified)
            let expired = cachedBy + validity + .milliseconds(100)
            while Deadline.now < expired { usleep(10_000) }
            let after = try client.get("/short/hello.txt")
            XCTAssertEqual(after.bodyString, "Hello, changed world\n", "after the validity: read again")
            XCTAssertNotEqual(after.headerFields[.eTag], first.headerFields[.eTag])
        }
    }

    /// The cache keeps at most its byte limit: expired entries go first, then everything.
    func testTheCacheStaysUnderItsByteLimit() {
        let cache = StaticFileCache()
        let now = Deadline.now
        func entry(_ size: Int, expires: Deadline) -> StaticFileCache.Entry {
            let status = File.Status(size: size, mode: UInt16(S_IFREG))
            return .init(parts: FileResponseParts(status: status, contentType: "text/plain", gzip: false, configuration: .init()),
                         bytes: [UInt8](repeating: 0, count: size), expires: expires)
        }
        func key(_ name: String) -> StaticFileCache.Key { .init(names: [name], namesDirectory: false, allowsGzip: false) }
        cache.store(entry(40, expires: now + .seconds(10)), for: key("a"), limit: 100, now: now)
        cache.store(entry(40, expires: now), for: key("expired"), limit: 100, now: now)  // expires now
        XCTAssertEqual(cache.usage.entries, 2)
        XCTAssertEqual(cache.usage.bytes, 80)
        cache.store(entry(40, expires: now + .seconds(10)), for: key("b"), limit: 100, now: now)  // the expired one goes
        XCTAssertEqual(cache.usage.entries, 2)
        XCTAssertEqual(cache.usage.bytes, 80)
        XCTAssertNotNil(cache.entry(for: key("a"), now: now))
        XCTAssertNil(cache.entry(for: key("expired"), now: now))
        cache.store(entry(40, expires: now + .seconds(10)), for: key("c"), limit: 100, now: now)  // nothing expired: all go
        XCTAssertEqual(cache.usage.entries, 1)
        XCTAssertEqual(cache.usage.bytes, 40)
        cache.store(entry(101, expires: now + .seconds(10)), for: key("huge"), limit: 100, now: now)  // over the limit alone
        XCTAssertNil(cache.entry(for: key("huge"), now: now))
        cache.store(entry(10, expires: now + .seconds(10)), for: key("c"), limit: 100, now: now)  // replaces its own entry
        XCTAssertEqual(cache.usage.bytes, 10)
        XCTAssertNil(cache.entry(for: key("c"), now: now + .seconds(11)), "expired when read")
        XCTAssertEqual(cache.usage.entries, 0)
    }

    func testPrecompressedSiblings() throws {
        let identity = Array("<p>identity</p>\n".utf8)
        let compressed: [UInt8] = [0x1F, 0x8B, 8, 0, 42]
        let html = "text/html; charset=utf-8"
        try inBothModes { client, mode in
            let plain = try client.get("/gz/page.html")
            let zipped = try client.get("/gz/page.html", headers: [.acceptEncoding: "gzip, deflate"])
            XCTAssertNotEqual(plain.headerFields[.eTag], zipped.headerFields[.eTag], "each representation has its own tag")
            let cases: [StaticCase] = [
                .init(name: "gzip accepted", target: "/gz/page.html", headers: [.acceptEncoding: "gzip, deflate"], status: .ok,
                      body: compressed, fields: [(.contentEncoding, "gzip"), (.contentType, html), (.vary, "Accept-Encoding"),
                                                 (.cacheControl, "public, max-age=60"), (.contentLength, "5")]),
                .init(name: "no Accept-Encoding", target: "/gz/page.html", status: .ok, body: identity,
                      fields: [(.contentEncoding, nil), (.vary, "Accept-Encoding"), (.cacheControl, "public, max-age=60")]),
                .init(name: "gzip refused by weight", target: "/gz/page.html", headers: [.acceptEncoding: "gzip;q=0, br"], status: .ok,
                      body: identity, fields: [(.contentEncoding, nil)]),
                .init(name: "a star accepts gzip", target: "/gz/page.html", headers: [.acceptEncoding: "br, *;q=0.5"], status: .ok,
                      body: compressed),
                .init(name: "gzip named wins over a refusing star", target: "/gz/page.html", headers: [.acceptEncoding: "*;q=0, gzip;q=0.1"],
                      status: .ok, body: compressed),
                .init(name: "no sibling: identity", target: "/gz/hello.txt", headers: [.acceptEncoding: "gzip"], status: .ok,
                      fields: [(.contentEncoding, nil), (.vary, "Accept-Encoding")]),
                .init(name: "a range of the gzip bytes", target: "/gz/page.html", headers: [.acceptEncoding: "gzip", .range: "bytes=0-1"],
                      status: .partialContent, body: [0x1F, 0x8B], fields: [(.contentRange, "bytes 0-1/5"), (.contentEncoding, "gzip")]),
                .init(name: "304 keeps Vary and Cache-Control", target: "/gz/page.html",
                      headers: [.acceptEncoding: "gzip", .ifNoneMatch: zipped.headerFields[.eTag] ?? "?"], status: .notModified,
                      fields: [(.vary, "Accept-Encoding"), (.cacheControl, "public, max-age=60")]),
                .init(name: "the identity tag does not match the gzip one", target: "/gz/page.html",
                      headers: [.acceptEncoding: "gzip", .ifNoneMatch: plain.headerFields[.eTag] ?? "?"], status: .ok, body: compressed),
                .init(name: "the .gz file asked for by name", target: "/static/page.html.gz", status: .ok, body: compressed,
                      fields: [(.contentType, "application/gzip"), (.contentEncoding, nil)]),
            ]
            try check(cases, client, mode)
        }
    }

    /// Every way out of the root that a path can try is refused: 400 for what is malformed on
    /// its face, 404 for what is only found after opening (links, dotfiles).
    func testHostilePathsAreRefused() throws {
        let hostile: [(target: String, status: HTTPResponse.Status)] = [
            ("/static/../outside/secret.txt", .badRequest),
            ("/static/docs/../../outside/secret.txt", .badRequest),
            ("/static/%2e%2e/outside/secret.txt", .badRequest),
            ("/static/%2E%2E/outside/secret.txt", .badRequest),
            ("/static/.%2E/outside/secret.txt", .badRequest),
            ("/static/%2e./outside/secret.txt", .badRequest),
            ("/static/./hello.txt", .badRequest),
            ("/static/..%2foutside%2fsecret.txt", .badRequest),
            ("/static/%2e%2e%2Foutside%2Fsecret.txt", .badRequest),
            ("/static/..\\outside\\secret.txt", .badRequest),
            ("/static/..%5coutside%5csecret.txt", .badRequest),
            ("/static/hello.txt%00.png", .badRequest),
            ("/static/%00", .badRequest),
            ("/static/%0a", .badRequest),
            ("/static/%zz", .badRequest),
            ("/static/%2", .badRequest),
            ("/static/%ff%fe", .badRequest),
            ("/static/link-out.txt", .notFound),
            ("/static/absolute-link-out.txt", .notFound),
            ("/static/dir-link-out/secret.txt", .notFound),
            ("/static/.env", .notFound),
            ("/static/%2eenv", .notFound),
            ("/static/.git/config", .notFound),
            ("/static/link-to-dotfile", .notFound),
            ("/static/%2fetc%2fpasswd", .badRequest),
        ]
        try inBothModes { client, mode in
            for (prefix, missing) in [("/static/", HTTPResponse.Status.notFound), ("/files/", .notFound)] {
                for (target, status) in hostile {
                    let target = prefix + target.dropFirst("/static/".count)
                    let response = try client.get(target)
                    XCTAssertEqual(response.status.code, status == .notFound ? missing.code : status.code, "\(target) (\(mode))")
                    XCTAssertFalse(response.bodyString.contains(Self.secret), "\(target) leaked the secret (\(mode))")
                }
            }
            // An empty segment: the router's 404 before the handler form; the middleware's 400.
            for (target, status) in [("/static//etc/passwd", 404), ("/files//etc/passwd", 400)] {
                let response = try client.get(target)
                XCTAssertEqual(response.status.code, status, "\(target) (\(mode))")
                XCTAssertFalse(response.bodyString.contains("root:"), "\(target) (\(mode))")
            }
            let absoluteForm = try client.executeRaw(Array("GET http://localhost/static/../outside/secret.txt HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
            XCTAssertEqual(absoluteForm.first?.status, .badRequest, "absolute-form target (\(mode))")
        }
    }

    func testARootThatIsNotADirectoryIsRefused() throws {
        XCTAssertThrowsError(try StaticFiles(root: site.path("hello.txt")))
        XCTAssertThrowsError(try StaticFiles(root: site.path("no-such-directory")))
        let files = try StaticFiles(root: site.root + "/docs/../.", urlPrefix: "/x/")
        XCTAssertEqual(files.rootPath, try File.canonicalPath(site.root))
        XCTAssertEqual(files.urlPrefix, "/x")
    }
}
