// Helpers shared by the Spindle server integration tests: a real `Server` on 127.0.0.1:0 with
// bounded stop/wait, descriptor counting, a raw-bytes blocking client with an HTTP/1.1 response
// reader, and the `spindle-server-probe` subprocess runner.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Spindle
import SpindleFibers
import SpindleIO
import SpindleMemory
import XCTest

// MARK: - Shared state

/// A value shared between handler fibers (on worker threads) and the test thread, behind a lock.
final class Locked<Value>: @unchecked Sendable {
    // @unchecked Sendable: every access holds `lock`.
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    var current: Value { withLock { $0 } }

    func set(_ newValue: Value) { withLock { $0 = newValue } }
}

/// A counter that remembers the highest value it reached (e.g. handlers in flight at once).
final class HighWaterCounter: @unchecked Sendable {
    // @unchecked Sendable: every access holds `lock`.
    private var value = 0
    private var highest = 0
    private let lock = NSLock()

    /// Increments; returns (new value, whether it is a new maximum).
    @discardableResult
    func increment() -> (value: Int, isNewMaximum: Bool) {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        if value > highest { highest = value; return (value, true) }
        return (value, false)
    }

    func decrement() {
        lock.lock()
        value -= 1
        lock.unlock()
    }

    var current: Int { lock.lock(); defer { lock.unlock() }; return value }
    var maximum: Int { lock.lock(); defer { lock.unlock() }; return highest }
}

/// Milliseconds elapsed since `start` on the monotonic clock.
func milliseconds(since start: Deadline) -> Double {
    let d = Deadline.now - start
    return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

/// Deterministic pseudo-random bytes (xorshift), different for every `seed`.
func pattern(seed: Int, count: Int) -> [UInt8] {
    var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 &+ 0x1234_5678
    var out = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        out[i] = UInt8(truncatingIfNeeded: state)
    }
    return out
}

/// Polls `condition` every millisecond until it holds or `timeout` passes; returns whether it held.
func waitUntil(timeout: Duration, _ condition: () -> Bool) -> Bool {
    let end = Deadline.now + timeout
    while !condition() {
        if Deadline.now > end { return false }
        usleep(1000)
    }
    return true
}

/// Runs `body` on a new thread and waits at most `timeout` for it; throws when it does not
/// finish in time (the thread is then abandoned) and rethrows what it threw.
func withTimeout<T>(_ timeout: Duration, _ what: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
    let result = Locked<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        let r = Result { try body() }
        result.set(r)
        done.signal()
    }
    thread.start()
    let (seconds, attoseconds) = timeout.components
    if done.wait(timeout: .now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))) == .timedOut {
        throw TestFailure("\(what) did not finish within \(timeout)")
    }
    return try result.current!.get()
}

/// A test failure raised on purpose (timeouts, unexpected outcomes) with a readable message.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

// MARK: - Process environment

enum TestEnvironment {
    /// Raises the soft RLIMIT_NOFILE to the hard limit (20,000 on this machine kind).
    @discardableResult
    static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        precondition(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, "getrlimit failed")
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            precondition(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, "setrlimit failed: \(errno)")
        }
        return Int(limit.rlim_cur)
    }

    /// Starts, once, every process-wide facility the tests use that keeps a descriptor open for
    /// the rest of the process (Foundation's child-process monitor, Dispatch, Spindle's process
    /// pidfd, a first server), so the per-test descriptor counts compare like with like.
    static let prepared: Void = {
        raiseDescriptorLimit()
        for _ in 0..<2 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/true")
            process.standardOutput = Pipe()
            process.standardError = Pipe()
            process.standardInput = Pipe()
            try? process.run()
            process.waitUntilExit()
        }
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(1)) { done.signal() }
        done.wait()
        let thread = Thread { done.signal() }
        thread.start()
        done.wait()
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
        var last = openFileDescriptors().count
        var stableSince = Deadline.now
        let end = Deadline.now + .seconds(3)
        while Deadline.now < end && milliseconds(since: stableSince) < 200 {
            usleep(10_000)
            let now = openFileDescriptors().count
            if now != last { last = now; stableSince = .now }
        }
    }()
}

/// The process's open descriptors (number → what it points at), from /proc/self/fd.
func openFileDescriptors() -> [Int32: String] {
    var result: [Int32: String] = [:]
    guard let dir = opendir("/proc/self/fd") else { return result }
    let own = dirfd(dir)
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        guard let fd = Int32(name), fd != own else { continue }
        var target = [CChar](repeating: 0, count: 512)
        let n = readlink("/proc/self/fd/\(name)", &target, 511)
        result[fd] = n > 0 ? String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    }
    closedir(dir)
    return result
}

// MARK: - Servers under test

/// A `Server` started on 127.0.0.1 with port 0, stopped with a bounded wait.
final class TestServer: @unchecked Sendable {
    // @unchecked Sendable: `stopped` is behind a lock; the rest is immutable.
    let server: Server
    let port: Int
    private let stopped = Locked(false)

    init(configure: (inout ServerConfiguration) -> Void = { _ in }, routes: (Router<Handler>) -> Void) throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configure(&configuration)
        let router = Router<Handler>()
        routes(router)
        server = Server(router: router, configuration: configuration)
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
    private var descriptorsBefore: [Int32: String] = [:]
    private var servers: [TestServer] = []

    override func setUp() {
        super.setUp()
        TestEnvironment.prepared
        descriptorsBefore = openFileDescriptors()
    }

    private var probes: [ServerProbe] = []

    /// Starts `spindle-server-probe <arguments>`; tearDown makes sure it has exited (killing it
    /// after 5 s) and its pipes are closed.
    func startProbe(_ arguments: [String]) throws -> ServerProbe {
        let probe = try ServerProbe(arguments)
        probes.append(probe)
        return probe
    }

    /// Starts a server the test case stops in tearDown (if the test did not).
    func startServer(configure: (inout ServerConfiguration) -> Void = { _ in }, routes: (Router<Handler>) -> Void) throws -> TestServer {
        let server = try TestServer(configure: configure, routes: routes)
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
        // close(2) is synchronous; the settle loop is for descriptors closed by threads that
        // are finishing (the server's workers after wait(), Process readers).
        var after = openFileDescriptors()
        if after.count != descriptorsBefore.count {
            _ = waitUntil(timeout: .seconds(2)) { openFileDescriptors().count == descriptorsBefore.count }
            after = openFileDescriptors()
        }
        let leaked = after.filter { descriptorsBefore[$0.key] != $0.value }.sorted { $0.key < $1.key }
        let lost = descriptorsBefore.filter { after[$0.key] == nil }.sorted { $0.key < $1.key }
        XCTAssertEqual(after.count, descriptorsBefore.count,
                       "descriptor leak: \(descriptorsBefore.count) open before the test, \(after.count) after; new: \(leaked.prefix(20).map { "\($0.key)→\($0.value)" }), gone: \(lost.prefix(20).map { "\($0.key)→\($0.value)" })")
        super.tearDown()
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

    init(port: Int, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        setReceiveTimeout(milliseconds: timeoutSeconds * 1000)
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            fd = -1
            throw ConnectError(errno: e, port: port)
        }
    }

    struct ConnectError: Error, CustomStringConvertible {
        let errno: Int32
        let port: Int
        var description: String { "connect(127.0.0.1:\(port)): errno \(errno) (\(String(cString: strerror(errno))))" }
    }

    deinit { close() }

    func setReceiveTimeout(milliseconds: Int) {
        var tv = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) throws { try TestClient.sendAll(fd: fd, bytes) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    static func sendAll(fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("send: errno \(errno) after \(offset) of \(bytes.count) bytes")
            }
            offset += n
        }
    }

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
        let fd = self.fd
        let error = Locked<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            do { try TestClient.sendAll(fd: fd, bytes) } catch let e { error.set(e) }
            done.signal()
        }
        thread.start()
        return {
            done.wait()
            return error.current
        }
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

    /// Sends FIN (no more data from this side); the connection stays open for reading.
    func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

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

/// A running `spindle-server-probe` subprocess with its three standard streams piped.
final class ServerProbe: @unchecked Sendable {
    // @unchecked Sendable: mutable state behind locks.

    /// The `spindle-server-probe` executable, which SwiftPM builds into the same products
    /// directory as the test bundle (`<scratch>/<triple>/<configuration>/`).
    static func executable() throws -> URL {
        var starts: [URL] = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0])]
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: exe))
        }
        var tried: [String] = []
        for start in starts {
            var dir = start.deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = dir.appendingPathComponent("spindle-server-probe")
                tried.append(candidate.path)
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw TestFailure("spindle-server-probe executable not found next to the test binary; build it with `swift build --build-tests`. Looked at:\n  " + tried.joined(separator: "\n  "))
    }

    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let errors = Pipe()
    /// Everything the probe printed so far (stdout), and its stderr.
    private let outputData = Locked(Data())
    private let errorData = Locked(Data())
    private let readersDone = DispatchSemaphore(value: 0)
    let arguments: [String]

    /// Starts `spindle-server-probe <arguments>` (without the caller's SPINDLE_* variables).
    init(_ arguments: [String]) throws {
        self.arguments = arguments
        process.executableURL = try ServerProbe.executable()
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPINDLE_") }
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        for (pipe, sink) in [(output, outputData), (errors, errorData)] {
            let handle = pipe.fileHandleForReading
            let done = readersDone
            let reader = Thread {
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    sink.withLock { $0.append(data) }
                }
                done.signal()
            }
            reader.start()
        }
    }

    var isRunning: Bool { process.isRunning }
    var stdout: String { String(decoding: outputData.current, as: UTF8.self) }
    var stderr: String { String(decoding: errorData.current, as: UTF8.self) }

    /// Waits at most `timeout` for a stdout line starting with `prefix`; returns it.
    func waitForLine(prefix: String, timeout: Duration) throws -> String {
        var found: String? = nil
        let ok = waitUntil(timeout: timeout) {
            found = stdout.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init)
            return found != nil || !process.isRunning
        }
        if let found { return found }
        // One last look: the line may have come with the exit.
        usleep(50_000)
        if let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line) }
        throw TestFailure("spindle-server-probe \(arguments.joined(separator: " ")): no line \"\(prefix)…\" \(ok ? "before it exited (status \(process.isRunning ? -1 : process.terminationStatus))" : "within \(timeout)")\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)")
    }

    /// Writes `line` and a newline to the probe's standard input. A probe that has died makes
    /// this throw (EPIPE) instead of raising SIGPIPE in the test process: SIGPIPE is blocked on
    /// this thread for the write and a raised one is consumed (the process keeps SIGPIPE's
    /// default action, so a server write without MSG_NOSIGNAL would still show).
    func send(line: String) throws {
        let fd = input.fileHandleForWriting.fileDescriptor
        var block = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGPIPE)
        var old = sigset_t()
        pthread_sigmask(SIG_BLOCK, &block, &old)
        defer {
            var pending = sigset_t()
            sigpending(&pending)
            if sigismember(&pending, SIGPIPE) == 1 {
                var zero = timespec()
                _ = sigtimedwait(&block, nil, &zero)
            }
            pthread_sigmask(SIG_SETMASK, &old, nil)
        }
        let bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("writing to spindle-server-probe's stdin: errno \(errno) (the probe has exited?)")
            }
            offset += n
        }
    }

    private let reaped = Locked(false)

    /// Waits at most `timeout` for the probe to exit; kills it and throws when it does not.
    /// Safe to call again (the base test case calls it in tearDown for every probe).
    @discardableResult
    func waitForExit(timeout: Duration) throws -> (status: Int32, exited: Bool, stdout: String, stderr: String) {
        let exitedInTime = waitUntil(timeout: timeout) { !process.isRunning }
        if !exitedInTime {
            process.terminate()
            if !waitUntil(timeout: .seconds(2), { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        if !reaped.withLock({ let was = $0; $0 = true; return was }) {
            try? input.fileHandleForWriting.close()
            readersDone.wait()
            readersDone.wait()
            try? output.fileHandleForReading.close()
            try? errors.fileHandleForReading.close()
        }
        if !exitedInTime {
            throw TestFailure("spindle-server-probe \(arguments.joined(separator: " ")) did not exit within \(timeout); killed.\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)")
        }
        return (process.terminationStatus, process.terminationReason == .exit, stdout, stderr)
    }
}
