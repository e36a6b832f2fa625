// Helpers of the files example's tests: a scratch tree (a site, an uploads directory and a
// secret file beside them that no request may reach), the files routes over it, and raw
// requests on a socket (targets sent byte for byte, bodies sent as the test decides).
#if canImport(Glibc)
import Glibc
#endif
import FilesApp
import Foundation
import Spindle
import SpindleTestSupport
import XCTest

/// A scratch directory holding `site/` (index.html, style.css, docs/range.txt of 1000 bytes, a
/// symbolic link out to the secret), `uploads/` (empty) and `secret.txt` next to them.
final class FilesFixture {
    static let secretMarker = "TOP-SECRET-CONTENT"
    let root: String
    var site: String { root + "/site" }
    var uploads: String { root + "/uploads" }
    var secret: String { root + "/secret.txt" }
    let rangeFile = pattern(seed: 77, count: 1000)
    let configuration: FilesConfiguration

    init(maxUploadBytes: Int = 1 << 30) throws {
        root = NSTemporaryDirectory() + "spindle-files-tests-\(getpid())-\(UUID().uuidString)"
        let manager = FileManager.default
        try manager.createDirectory(atPath: root + "/site/docs", withIntermediateDirectories: true)
        try manager.createDirectory(atPath: root + "/uploads", withIntermediateDirectories: true)
        try Data("<h1>fixture site</h1>\n".utf8).write(to: URL(fileURLWithPath: root + "/site/index.html"))
        try Data("body { color: black }\n".utf8).write(to: URL(fileURLWithPath: root + "/site/style.css"))
        try Data(rangeFile).write(to: URL(fileURLWithPath: root + "/site/docs/range.txt"))
        try Data((Self.secretMarker + "\n").utf8).write(to: URL(fileURLWithPath: root + "/secret.txt"))
        try manager.createSymbolicLink(atPath: root + "/site/link.txt", withDestinationPath: "../secret.txt")
        configuration = FilesConfiguration(siteDirectory: root + "/site", uploadsDirectory: root + "/uploads",
                                           maxUploadBytes: maxUploadBytes)
    }

    func router() throws -> Router<Handler> { try FilesRoutes.router(configuration: configuration) }

    /// Every name in the uploads directory, dot names (temporary files) included.
    var uploadNames: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: uploads)) ?? []).sorted() }

    /// Every name directly in the scratch directory.
    var rootNames: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted() }

    func contents(ofUpload name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: uploads + "/" + name).map { [UInt8]($0) }
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// The files routes over `fixture` on a live `Server` (127.0.0.1, port 0).
final class FilesTestServer {
    let server: Server
    let port: Int

    init(_ fixture: FilesFixture, workers: Int = 2) throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = workers
        server = Server(router: try fixture.router(), configuration: configuration)
        port = try server.start().port
    }

    func stop() {
        server.stop()
        server.wait()
    }
}

/// A response read from a raw socket: its status, fields (names lowercased) and body.
struct RawResponse {
    let status: Int
    let fields: [String: String]
    let body: [UInt8]
    var bodyString: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking client socket to 127.0.0.1:`port` (10 s timeouts) sending bytes exactly as given.
final class RawClient: @unchecked Sendable {
    // @unchecked Sendable: one thread may send while another reads responses; `buffered` is
    // only touched by the reading thread.
    let fd: Int32

    private var isClosed = false

    init(port: Int) throws { fd = try connectToLoopback(port: port, timeoutSeconds: 10) }

    deinit { if !isClosed { close(fd) } }

    func send(_ bytes: [UInt8]) throws { try sendAll(fd: fd, bytes) }
    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Closes the connection with a reset (SO_LINGER 0: the close sends RST, not FIN).
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
        isClosed = true
    }

    private var buffered: [UInt8] = []

    /// Reads one response (a `Content-Length` body; none for HEAD, 1xx, 204 and 304). Skips
    /// `100 Continue` unless `keepingContinue`.
    func readResponse(isHEAD: Bool = false, keepingContinue: Bool = false) throws -> RawResponse {
        while true {
            let headEnd = try fill(until: { $0.firstRange(of: Array("\r\n\r\n".utf8)) })
            let head = String(decoding: buffered[..<headEnd.lowerBound], as: UTF8.self)
            buffered.removeSubrange(..<headEnd.upperBound)
            let lines = head.components(separatedBy: "\r\n")
            let statusParts = lines[0].split(separator: " ")
            guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw TestFailure("bad status line: \(lines[0])") }
            var fields: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            if status == 100 && !keepingContinue { continue }
            let hasBody = !isHEAD && status >= 200 && status != 204 && status != 304
            let length = hasBody ? Int(fields["content-length"] ?? "0") ?? 0 : 0
            _ = try fill(until: { $0.count >= length ? 0..<0 : nil })
            let body = Array(buffered[..<length])
            buffered.removeSubrange(..<length)
            return RawResponse(status: status, fields: fields, body: body)
        }
    }

    /// True when the server closed the connection (reads end) within the socket's timeout.
    func isClosedByServer() -> Bool {
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &scratch, scratch.count)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    private func fill(until found: ([UInt8]) -> Range<Int>?) throws -> Range<Int> {
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            if let range = found(buffered) { return range }
            let n = read(fd, &scratch, scratch.count)
            guard n > 0 else { throw TestFailure("the connection ended (\(n), errno \(errno)) after \(buffered.count) bytes") }
            buffered += scratch[0..<n]
        }
    }
}

/// One request's bytes: `method target`, `Host`, then `fields` and `body` as given.
func rawRequest(_ method: String, _ target: String, fields: [String] = [], body: [UInt8] = []) -> [UInt8] {
    var head = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\n"
    for field in fields { head += field + "\r\n" }
    return Array((head + "\r\n").utf8) + body
}
