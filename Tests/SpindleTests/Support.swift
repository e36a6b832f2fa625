// Helpers of the Spindle server integration tests: a real `Server` on 127.0.0.1:0 with bounded
// stop/wait, the per-test descriptor-leak check, a raw-bytes blocking client with an HTTP/1.1
// response reader, and the `spindle-server-probe` subprocess. Helpers shared with other test
// targets are in SpindleTestSupport.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Logging
import Spindle
import SpindleFibers
import SpindleIO
import SpindleMemory
import SpindleTestSupport
import XCTest

// MARK: - Process environment

enum TestEnvironment {
    /// Prepares, once, every process-wide facility the tests use that keeps a descriptor open for
    /// the rest of the process (besides those `prepareForDescriptorCounting` starts: Spindle's
    /// process pidfd, a first server), so the per-test descriptor counts compare like with like.
    static let prepared: Void = prepareForDescriptorCounting {
        // A first server (its stack pool opens the process-wide pidfd once, CSpindle/sys.c).
        let router = Router<Handler>()
        router.on(.get, "/") { _, _ in .text("warm") }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 1
        let server = Server(router: router, configuration: configuration)
        if let address = try? server.start() {
            if let client = try? TestClient(port: address.port) {
                try? client.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                _ = try? client.readResponse()
            }
            server.stop()
            server.wait()
        }
    }
}

// MARK: - Servers under test

/// A `Server` started on 127.0.0.1 with port 0, stopped with a bounded wait.
final class TestServer: @unchecked Sendable {
    // @unchecked Sendable: `stopped` is behind a lock; the rest is immutable.
    let server: Server
    let port: Int
    private let stopped = Locked(false)

    init(configure: (inout ServerConfiguration) -> Void = { _ in }, logger: Logger? = nil,
         routes: (Router<Handler>) -> Void) throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configure(&configuration)
        let router = Router<Handler>()
        routes(router)
        if let logger {
            server = Server(router: router, configuration: configuration, logger: logger)
        } else {
            server = Server(router: router, configuration: configuration)
        }
        port = try server.start().port
    }

    var isStopped: Bool { stopped.current }

    /// `stop()`, then `wait()` bounded by `timeout`. Returns how long `wait()` took (ms).
    @discardableResult
    func stop(timeout: Duration = .seconds(30)) throws -> Double {
        if stopped.withLock({ let was = $0; $0 = true; return was }) { return 0 }
        let start = Deadline.now
        server.stop()
        let server = self.server
        try withTimeout(timeout, "Server.wait() after stop()") { server.wait() }
        return milliseconds(since: start)
    }
}

/// Base class of the server tests: prepares the process once, stops every server a test started
/// (bounded), and checks that exactly the descriptors open before the test are open after it.
class ServerTestCase: XCTestCase {
    private var descriptorsBefore = DescriptorSnapshot([:])
    private var objectsBefore = LiveObjectSnapshot()
    private var servers: [TestServer] = []

    override func setUp() {
        super.setUp()
        TestEnvironment.prepared
        descriptorsBefore = DescriptorSnapshot()
        objectsBefore = LiveObjectSnapshot()
    }

    private var probes: [ServerProbe] = []

    /// Starts `spindle-server-probe <arguments>` (with `ioUringBlocked`, without io_uring, under
    /// `spindle-seccomp-exec`); tearDown makes sure it has exited (killing it after 5 s) and its
    /// pipes are closed.
    func startProbe(_ arguments: [String], environment: [String: String] = [:], ioUringBlocked: Bool = false) throws -> ServerProbe {
        let probe = try ServerProbe(arguments, environment: environment, ioUringBlocked: ioUringBlocked)
        probes.append(probe)
        return probe
    }

    /// Starts a server the test case stops in tearDown (if the test did not).
    func startServer(configure: (inout ServerConfiguration) -> Void = { _ in }, logger: Logger? = nil,
                     routes: (Router<Handler>) -> Void) throws -> TestServer {
        let server = try TestServer(configure: configure, logger: logger, routes: routes)
        servers.append(server)
        return server
    }

    override func tearDown() {
        for probe in probes {
            if probe.isRunning { try? probe.send(line: "stop") }
            _ = try? probe.waitForExit(timeout: .seconds(5))
        }
        probes.removeAll()
        for server in servers where !server.isStopped {
            do { try server.stop() } catch { XCTFail("stopping a server in tearDown: \(error)") }
        }
        servers.removeAll()
        // close(2) is synchronous; the grace is for descriptors closed by threads that
        // are finishing (the server's workers after wait(), Process readers).
        let comparison = descriptorsBefore.compareWithNow(grace: .seconds(2))
        XCTAssertEqual(comparison.after, comparison.before, comparison.message)
        if let leak = objectsBefore.leakNow(grace: .seconds(2)) { XCTFail(leak) }
        super.tearDown()
    }
}

// MARK: - Metrics scrapes

extension TestServer {
    /// `/metrics` from the server's admin listener (`adminPort` set, an explicit worker count),
    /// parsed, once every worker answers (`start()` returns when the listeners are bound; each
    /// worker joins the scrapes when it begins accepting, a moment later). With `until`, scrapes
    /// again (every 5 ms, for at most `timeout`) until it holds, and returns the last scrape:
    /// the caller's assertions say what is missing. Each scrape is one connection, closed.
    func scrapeMetrics(until condition: (Exposition) -> Bool = { _ in true }, timeout: Duration = .seconds(5)) throws -> Exposition {
        guard let address = server.adminAddress else { throw TestFailure("the server has no admin listener") }
        guard let workers = server.configuration.workers else { throw TestFailure("scrapes need an explicit worker count") }
        let end = Deadline.now + timeout
        while true {
            let client = try TestClient(port: address.port)
            try client.send("GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            let response = try client.readResponse()
            client.close()
            guard response.status == 200 else { throw TestFailure("scrape: \(response.status) \(response.bodyString)") }
            let exposition = Exposition(response.bodyString)
            if exposition.value("spindle_workers") == Double(workers) && condition(exposition) { return exposition }
            guard Deadline.now < end else { return exposition }
            usleep(5_000)
        }
    }
}

/// A parsed Prometheus text exposition: every sample line as name, labels and value.
struct Exposition {
    struct Sample {
        let name: String
        let labels: [String: String]
        let value: Double
        /// The `le` label as a number (`+Inf` is infinity), for ordering buckets.
        var bound: Double { labels["le"].map { $0 == "+Inf" ? .infinity : Double($0) ?? .nan } ?? .nan }
    }

    let samples: [Sample]

    init(_ text: String) {
        var samples: [Sample] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            var labels: [String: String] = [:]
            var name = String(series)
            if let brace = series.firstIndex(of: "{"), series.hasSuffix("}") {
                name = String(series[..<brace])
                let inner = series[series.index(after: brace)..<series.index(before: series.endIndex)]
                // Label values here never contain `",` (names, numbers, `+Inf`).
                for pair in inner.split(separator: ",") {
                    guard let equals = pair.firstIndex(of: "=") else { continue }
                    labels[String(pair[..<equals])] = String(pair[pair.index(after: equals)...].dropFirst().dropLast())
                }
            }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
        self.samples = samples
    }

    /// Every sample of `name`.
    func series(_ name: String) -> [Sample] { samples.filter { $0.name == name } }

    /// The value of `name` with exactly `labels`, or nil when absent.
    func optionalValue(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The value of `name` with exactly `labels`; 0 when absent (a series not yet counted).
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        optionalValue(name, labels) ?? 0
    }
}

// MARK: - A raw-bytes blocking client

/// A parsed HTTP/1.1 response as it came over the wire.
struct WireResponse: CustomStringConvertible {
    var version: String
    var status: Int
    var reason: String
    var headers: [(name: String, value: String)]
    /// The decoded body.
    var body: [UInt8]
    /// The body bytes exactly as sent (chunk framing included).
    var wireBody: [UInt8]
    var head: String

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func headers(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    var bodyString: String { String(decoding: body, as: UTF8.self) }

    /// True when the response carries a `close` connection option.
    var saysClose: Bool {
        headers("connection").contains { $0.lowercased().split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "close" } }
    }

    var statusLine: String { "\(version) \(status) \(reason)" }

    var description: String { head.replacingOccurrences(of: "\r\n", with: "⏎ ") + " + \(body.count) body bytes" }
}

/// A blocking TCP client on plain POSIX sockets (independent of Spindle), with send and receive
/// timeouts so a misbehaving server fails the test instead of hanging it.
final class TestClient {
    private(set) var fd: Int32
    /// Received bytes not consumed by a response yet.
    private(set) var pending: [UInt8] = []
    private(set) var sawEndOfStream = false

    /// Connects to 127.0.0.1:`port` (with `ipv6`, [::1]:`port`); `receiveBufferSize` sets
    /// `SO_RCVBUF` first (a small one keeps the server's sends pending while this client does not read).
    init(port: Int, timeoutSeconds: Int = 10, receiveBufferSize: Int? = nil, ipv6: Bool = false) throws {
        fd = try connectToLoopback(port: port, timeoutSeconds: timeoutSeconds, noDelay: true, receiveBufferSize: receiveBufferSize,
                                   ipv6: ipv6)
    }

    /// `connect` failed (its errno and the port).
    typealias ConnectError = LoopbackConnectError

    deinit { close() }

    func setReceiveTimeout(milliseconds: Int) {
        var tv = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) throws { try sendAll(fd: fd, bytes) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends `bytes` one byte per `send`, pausing `pauseMicroseconds` between them.
    func sendByteByByte(_ bytes: [UInt8], pauseMicroseconds: UInt32 = 200) throws {
        for byte in bytes {
            try send([byte])
            if pauseMicroseconds > 0 { usleep(pauseMicroseconds) }
        }
    }

    /// Sends `bytes` from another thread while the caller receives (large bodies would
    /// otherwise deadlock both sides on full socket buffers). Call `finishSending()` after.
    func sendInBackground(_ bytes: [UInt8]) -> () -> (any Error)? {
        SpindleTestSupport.sendInBackground(fd: fd, bytes)
    }

    /// Reads more bytes into `pending`; false at end of stream (or a reset). Throws on timeout.
    @discardableResult
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 { pending += chunk[0..<n]; return true }
            if n == 0 { sawEndOfStream = true; return false }
            let e = errno
            if e == EINTR { continue }
            if e == ECONNRESET { sawEndOfStream = true; return false }
            if e == EAGAIN || e == EWOULDBLOCK { throw TestFailure("recv timed out (\(pending.count) bytes pending: \(preview(pending)))") }
            throw TestFailure("recv: errno \(e)")
        }
    }

    private func take(_ count: Int) throws -> [UInt8] {
        while pending.count < count {
            guard try fill() else { throw TestFailure("end of stream after \(pending.count) of \(count) expected bytes") }
        }
        let out = Array(pending[0..<count])
        pending.removeFirst(count)
        return out
    }

    private func takeLine() throws -> [UInt8] {
        while true {
            if let i = indexOfCRLF(in: pending) {
                let line = Array(pending[0..<i])
                pending.removeFirst(i + 2)
                return line
            }
            guard try fill() else { throw TestFailure("end of stream inside a line (\(preview(pending)))") }
        }
    }

    /// Reads one response. `isHEAD` (or a 1xx/204/304 status) means no body follows.
    func readResponse(isHEAD: Bool = false) throws -> WireResponse {
        let statusLine = String(decoding: try takeLine(), as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw TestFailure("malformed status line \"\(statusLine)\"")
        }
        var headers: [(name: String, value: String)] = []
        var head = statusLine + "\r\n"
        while true {
            let line = String(decoding: try takeLine(), as: UTF8.self)
            head += line + "\r\n"
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw TestFailure("field line without colon: \"\(line)\"") }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var response = WireResponse(version: String(parts[0]), status: status, reason: parts.count > 2 ? String(parts[2]) : "",
                                    headers: headers, body: [], wireBody: [], head: head)
        if isHEAD || status < 200 || status == 204 || status == 304 { return response }
        if let te = response.header("transfer-encoding") {
            guard te.lowercased() == "chunked" else { throw TestFailure("unexpected Transfer-Encoding \(te)") }
            while true {
                let sizeLine = try takeLine()
                response.wireBody += sizeLine + [13, 10]
                let hex = String(decoding: sizeLine, as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(hex, radix: 16) else { throw TestFailure("bad chunk size line \"\(String(decoding: sizeLine, as: UTF8.self))\"") }
                if size == 0 {
                    while true {  // trailers
                        let trailer = try takeLine()
                        response.wireBody += trailer + [13, 10]
                        if trailer.isEmpty { break }
                    }
                    return response
                }
                let data = try take(size)
                response.body += data
                response.wireBody += data
                let crlf = try take(2)
                response.wireBody += crlf
                guard crlf == [13, 10] else { throw TestFailure("chunk data not followed by CRLF") }
            }
        }
        if let length = response.header("content-length") {
            guard let n = Int(length), n >= 0 else { throw TestFailure("bad Content-Length \(length)") }
            response.body = try take(n)
            response.wireBody = response.body
            return response
        }
        // Close-delimited.
        while try fill() {}
        response.body = pending
        response.wireBody = pending
        pending.removeAll()
        return response
    }

    /// Waits (at most `timeout`) for the server to close: true when the stream ended (FIN or
    /// RST) with no further bytes; throws when bytes arrive (returned in the message) and false
    /// when the connection is still open after `timeout`.
    func isClosedByPeer(within timeout: Duration = .seconds(3)) throws -> Bool {
        if sawEndOfStream && pending.isEmpty { return true }
        guard pending.isEmpty else { throw TestFailure("\(pending.count) unexpected bytes after the response: \(preview(pending))") }
        let (s, atto) = timeout.components
        setReceiveTimeout(milliseconds: Int(s) * 1000 + Int(atto / 1_000_000_000_000_000))
        defer { setReceiveTimeout(milliseconds: 10_000) }
        do {
            if try fill() { throw TestFailure("\(pending.count) unexpected bytes after the response: \(preview(pending))") }
            return true
        } catch let failure as TestFailure where failure.description.hasPrefix("recv timed out") {
            return false
        }
    }

    /// Reads exactly `count` raw bytes (no parsing): the start of a response still arriving.
    func read(exactly count: Int) throws -> [UInt8] { try take(count) }

    /// Reads everything the server still sends until it closes (FIN or RST) or `timeout` has
    /// passed: the bytes, and whether the stream ended.
    func readUntilClosed(within timeout: Duration) throws -> (bytes: [UInt8], ended: Bool) {
        let end = Deadline.now + timeout
        setReceiveTimeout(milliseconds: 100)
        defer { setReceiveTimeout(milliseconds: 10_000) }
        while !sawEndOfStream && Deadline.now < end {
            do {
                try fill()
            } catch let failure as TestFailure where failure.description.hasPrefix("recv timed out") {
                continue
            }
        }
        defer { pending.removeAll() }
        return (pending, sawEndOfStream)
    }

    /// Sends FIN (no more data from this side); the connection stays open for reading.
    func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Closes with a reset (RST, `SO_LINGER` 0) instead of FIN: whatever the server still sends
    /// fails, whatever it has queued for this side is dropped.
    func reset() {
        guard fd >= 0 else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

func indexOfCRLF(in bytes: [UInt8]) -> Int? {
    guard bytes.count >= 2 else { return nil }
    for i in 0..<(bytes.count - 1) where bytes[i] == 13 && bytes[i + 1] == 10 { return i }
    return nil
}

/// The first bytes, printable (control characters escaped).
func preview(_ bytes: [UInt8], limit: Int = 200) -> String {
    var out = ""
    for b in bytes.prefix(limit) {
        switch b {
        case 13: out += "\\r"
        case 10: out += "\\n"
        case 32...126: out += String(UnicodeScalar(b))
        default: out += String(format: "\\x%02x", b)
        }
    }
    return bytes.count > limit ? out + "…" : out
}

/// A chunked encoding of `body` in pieces of `chunkSize` bytes.
func chunked(_ body: [UInt8], chunkSize: Int) -> [UInt8] {
    var out: [UInt8] = []
    var i = 0
    while i < body.count {
        let n = min(chunkSize, body.count - i)
        out += bytes(String(n, radix: 16) + "\r\n") + body[i..<(i + n)] + [13, 10]
        i += n
    }
    return out + bytes("0\r\n\r\n")
}

// MARK: - spindle-server-probe

/// A running `spindle-server-probe` subprocess (clients and crash-prone servers of these tests)
/// with its three standard streams piped.
final class ServerProbe: ProbeProcess, @unchecked Sendable {
    /// Starts `spindle-server-probe <arguments>` (without the caller's SPINDLE_* variables); with
    /// `ioUringBlocked`, under `spindle-seccomp-exec` (its io_uring calls fail with EPERM).
    init(_ arguments: [String], environment: [String: String] = [:], ioUringBlocked: Bool = false) throws {
        try super.init(executable: "spindle-server-probe", arguments: arguments, environment: environment, ioUringBlocked: ioUringBlocked)
    }
}
