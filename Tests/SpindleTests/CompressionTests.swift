// ResponseCompressionMiddleware over real sockets: a real client (Python's http.client, which
// decodes gzip with its own zlib binding) negotiates gzip for text, JSON and streamed bodies;
// the raw client checks negotiation (q-values, *, identity) and every response left alone
// (small, image, already encoded, no-transform, incompressible, HEAD, 204, 206, 304).
import Foundation
import HTTPTypes
import Spindle
import SpindleHTTP
import SpindleTestSupport
import XCTest

/// What the Python client saw: status, header fields, body bytes on the wire, decoded body.
private struct ClientResponse: Decodable {
    let status: Int
    let headers: [[String]]
    let wire: Int
    let body: String

    var bodyBytes: [UInt8] { [UInt8](Data(base64Encoded: body) ?? Data()) }
    func headers(_ name: String) -> [String] { headers.filter { $0[0].lowercased() == name }.map { $0[1] } }
}

final class CompressionTests: ServerTestCase {
    private static let page: String = (0..<120).map { "<li>item \($0): a line of markup that repeats</li>\n" }.joined()
    private static let noise: [UInt8] = {
        var random = SplitMix(seed: 42)
        return (0..<5000).map { _ in UInt8.random(in: 0...255, using: &random) }
    }()

    private func startCompressingServer() throws -> TestServer {
        try startServer { router in
            router.add(middleware: ResponseCompressionMiddleware())
            @Sendable func big(_ fields: HTTPFields, status: HTTPResponse.Status = .ok) -> Response {
                var fields = fields
                if fields[.contentType] == nil { fields[.contentType] = "text/html; charset=utf-8" }
                return Response(status: status, headerFields: fields, body: .text(Self.page))
            }
            router.get("/text") { _, _ in big([.eTag: "\"v1\"", .acceptRanges: "bytes"]) }
            router.get("/json") { _, _ in
                // Strings, not objects: JSONEncoder's key order changes from one encode to the next.
                try .json((0..<300).map { "item number \($0)" })
            }
            router.get("/stream") { _, _ in
                .stream(contentType: "text/plain; charset=utf-8") { writer in
                    for k in 0..<40 { try writer.write("line \(k) of a streamed body\n") }
                    try writer.write(Self.page)
                }
            }
            router.get("/small") { _, _ in .text("tiny") }
            router.get("/image") { _, _ in .bytes(Array(Self.page.utf8), contentType: "image/png") }
            router.get("/encoded") { _, _ in big([.contentEncoding: "br"]) }
            router.get("/no-transform") { _, _ in big([.cacheControl: "max-age=60, No-Transform"]) }
            router.get("/noise") { _, _ in .bytes(Self.noise, contentType: "text/plain") }
            router.get("/not-modified") { _, _ in big([.eTag: "\"v1\""], status: .notModified) }
            router.get("/no-content") { _, _ in big([:], status: .noContent) }
            router.get("/partial") { _, _ in big([.contentRange: "bytes 0-99/5000"], status: .partialContent) }
            router.get("/vary") { _, _ in big([.vary: "Origin"]) }
            router.get("/vary-star") { _, _ in big([.vary: "*"]) }
            router.get("/vary-ae") { _, _ in big([.vary: "origin, accept-encoding"]) }
        }
    }

    /// Fetches `path` with Python's http.client; a gzip body is decoded by Python's gzip module.
    private func fetch(_ port: Int, _ path: String, acceptEncoding: String) throws -> ClientResponse {
        let program = """
        import sys, json, http.client, gzip, base64
        port, path, accept = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path, headers={"Accept-Encoding": accept})
        response = connection.getresponse()
        raw = response.read()
        body = gzip.decompress(raw) if response.getheader("Content-Encoding") == "gzip" else raw
        json.dump({"status": response.status, "headers": [[k, v] for k, v in response.getheaders()],
                   "wire": len(raw), "body": base64.b64encode(body).decode()}, sys.stdout)
        """
        let output = try runPython(program, arguments: [String(port), path, acceptEncoding])
        return try JSONDecoder().decode(ClientResponse.self, from: Data(output))
    }

    private func exchange(_ port: Int, _ path: String, method: String = "GET", acceptEncoding: String?) throws -> WireResponse {
        let client = try TestClient(port: port)
        let accept = acceptEncoding.map { "Accept-Encoding: \($0)\r\n" } ?? ""
        try client.send("\(method) \(path) HTTP/1.1\r\nHost: a\r\n\(accept)Connection: close\r\n\r\n")
        return try client.readResponse(isHEAD: method == "HEAD")
    }

    private func gunzip(_ bytes: [UInt8]) throws -> [UInt8] {
        try runPython("import sys, gzip; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))", input: bytes)
    }

    func testARealClientGetsGzipForTextJSONAndStreams() throws {
        let server = try startCompressingServer()
        for path in ["/text", "/json", "/stream"] {
            let plain = try fetch(server.port, path, acceptEncoding: "identity")
            let gzipped = try fetch(server.port, path, acceptEncoding: "gzip, deflate, br")
            XCTAssertEqual(plain.headers("content-encoding"), [], path)
            XCTAssertEqual(gzipped.status, 200, path)
            XCTAssertEqual(gzipped.headers("content-encoding"), ["gzip"], path)
            XCTAssertTrue(gzipped.bodyBytes == plain.bodyBytes,
                          "\(path): the decoded body is the original (\(gzipped.bodyBytes.count) vs \(plain.bodyBytes.count) bytes)")
            XCTAssertGreaterThan(plain.bodyBytes.count, 1024, path)
            XCTAssertLessThan(gzipped.wire, plain.wire / 3, "\(path): \(gzipped.wire) bytes on the wire for \(plain.wire)")
            for response in [plain, gzipped] {
                XCTAssertEqual(response.headers("vary"), ["Accept-Encoding"], "\(path): both forms say what they vary on")
            }
        }
        let text = try fetch(server.port, "/text", acceptEncoding: "gzip")
        XCTAssertEqual(text.headers("etag"), ["W/\"v1\""], "a strong ETag turns weak")
        XCTAssertEqual(text.headers("accept-ranges"), [], "ranges of the uncompressed form do not apply")
        XCTAssertEqual(text.headers("content-length"), [String(text.wire)], "framed for the compressed body")
        let identity = try fetch(server.port, "/text", acceptEncoding: "identity")
        XCTAssertEqual(identity.headers("etag"), ["\"v1\""], "the uncompressed form keeps its ETag")
        XCTAssertEqual(identity.headers("accept-ranges"), ["bytes"])
        let stream = try exchange(server.port, "/stream", acceptEncoding: "gzip")
        XCTAssertEqual(stream.header("transfer-encoding"), "chunked", "a stream stays a stream")
        XCTAssertEqual(stream.header("content-encoding"), "gzip")
    }

    func testNegotiationTable() throws {
        let server = try startCompressingServer()
        let original = Array(Self.page.utf8)
        let cases: [(acceptEncoding: String?, gzip: Bool, note: String)] = [
            (nil, false, "no Accept-Encoding: no coding"),
            ("", false, "an empty field: identity only"),
            ("gzip", true, "gzip"),
            ("GZIP", true, "any case"),
            ("x-gzip", true, "the old name"),
            ("deflate, gzip;q=0.8", true, "weighted"),
            ("gzip;q=0", false, "q=0 refuses"),
            ("*", true, "*"),
            ("*;q=0", false, "*;q=0"),
            ("*, gzip;q=0", false, "gzip;q=0 beats *"),
            ("br", false, "another coding only"),
            ("identity", false, "identity only"),
            ("gzip;q=0.5, identity", false, "identity weighs more"),
            ("gzip, identity;q=0.5", true, "gzip weighs more"),
            ("gzip;q=2", false, "an invalid weight drops the member"),
        ]
        for (acceptEncoding, gzip, note) in cases {
            let response = try exchange(server.port, "/text", acceptEncoding: acceptEncoding)
            XCTAssertEqual(response.status, 200, note)
            XCTAssertEqual(response.header("content-encoding"), gzip ? "gzip" : nil, note)
            XCTAssertEqual(response.headers("vary"), ["Accept-Encoding"], note)
            XCTAssertTrue(try (gzip ? gunzip(response.body) : response.body) == original, "\(note): the body decodes to the original")
        }
    }

    func testResponsesLeftAlone() throws {
        let server = try startCompressingServer()
        let page = Array(Self.page.utf8)
        let cases: [(path: String, method: String, status: Int, encoding: String?, vary: [String], body: [UInt8], note: String)] = [
            ("/small", "GET", 200, nil, [], Array("tiny".utf8), "under minimumBytes"),
            ("/image", "GET", 200, nil, [], page, "an image type"),
            ("/encoded", "GET", 200, "br", [], page, "already encoded"),
            ("/no-transform", "GET", 200, nil, [], page, "Cache-Control: no-transform"),
            ("/noise", "GET", 200, nil, ["Accept-Encoding"], Self.noise, "gzip would be larger: sent as it is"),
            ("/text", "HEAD", 200, nil, ["Accept-Encoding"], [], "HEAD"),
            ("/not-modified", "GET", 304, nil, [], [], "304"),
            ("/no-content", "GET", 204, nil, [], [], "204"),
            ("/partial", "GET", 206, nil, [], page, "206"),
        ]
        for (path, method, status, encoding, vary, body, note) in cases {
            let response = try exchange(server.port, path, method: method, acceptEncoding: "gzip")
            XCTAssertEqual(response.status, status, note)
            XCTAssertEqual(response.header("content-encoding"), encoding, note)
            XCTAssertEqual(response.headers("vary"), vary, note)
            XCTAssertTrue(response.body == body, "\(note): the body is untouched (\(response.body.count) bytes)")
        }
        let head = try exchange(server.port, "/text", method: "HEAD", acceptEncoding: "gzip")
        XCTAssertEqual(head.header("content-length"), String(page.count), "HEAD announces the uncompressed GET's length")
        XCTAssertEqual(head.header("etag"), "\"v1\"")
    }

    func testVaryIsExtendedOnce() throws {
        let server = try startCompressingServer()
        XCTAssertEqual(try exchange(server.port, "/vary", acceptEncoding: "gzip").headers("vary"), ["Origin", "Accept-Encoding"])
        XCTAssertEqual(try exchange(server.port, "/vary-star", acceptEncoding: "gzip").headers("vary"), ["*"])
        XCTAssertEqual(try exchange(server.port, "/vary-ae", acceptEncoding: "gzip").headers("vary"), ["origin, accept-encoding"])
        XCTAssertEqual(try exchange(server.port, "/vary-ae", acceptEncoding: "gzip").header("content-encoding"), "gzip")
    }

    func testCompressibleTypes() {
        let cases: [(String, Bool)] = [
            ("text/html", true), ("text/plain; charset=utf-8", true), ("TEXT/CSS", true), ("text/event-stream", true),
            ("application/json", true), ("application/problem+json", true), ("application/javascript", true),
            ("application/xml", true), ("image/svg+xml", true), ("application/atom+xml; charset=utf-8", true),
            ("application/wasm", true), ("font/ttf", true),
            ("image/png", false), ("image/jpeg", false), ("video/mp4", false), ("audio/ogg", false),
            ("application/zip", false), ("application/gzip", false), ("font/woff2", false), ("font/woff", false),
            ("application/octet-stream", false), ("", false), ("application/jsonx", false),
        ]
        for (type, compressible) in cases {
            XCTAssertEqual(ResponseCompressionMiddleware.isCompressible(contentType: type), compressible, type)
        }
    }
}
