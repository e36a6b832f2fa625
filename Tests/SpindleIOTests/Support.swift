// Helpers shared by the SpindleIO integration tests: a Runtime on background threads with a
// bounded wait for it to end, descriptor counting, a plain blocking-socket client, and the
// `spindle-io-probe` subprocess runner.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import SpindleFibers
import SpindleIO
import XCTest

// MARK: - Shared state

/// A value shared between worker fibers and the test thread, behind a lock.
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

/// A counter that also remembers the highest value it reached (e.g. fibers parked in `read`).
final class HighWaterCounter: @unchecked Sendable {
    // @unchecked Sendable: every access holds `lock`.
    private var value = 0
    private var highest = 0
    private let lock = NSLock()

    func increment() {
        lock.lock()
        value += 1
        highest = max(highest, value)
        lock.unlock()
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

/// A test failure raised on purpose (timeouts, unexpected outcomes) with a readable message.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

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
    /// the rest of the process (Foundation's child-process monitor, Dispatch and its timers, the
    /// Swift concurrency pool, Spindle's process pidfd), so the per-test descriptor counts
    /// compare like with like.
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
        // Several concurrent sleeps, so every thread of the concurrency pool has set up its
        // timer (Dispatch opens a timerfd lazily, per pool thread that first waits on a timer).
        for _ in 0..<8 {
            Task.detached {
                try? await Task.sleep(for: .milliseconds(5))
                done.signal()
            }
        }
        for _ in 0..<8 { done.wait() }
        // Long sleeps land in another Dispatch timer bucket (larger leeway), with its own timerfd.
        let long = Task.detached {
            try? await Task.sleep(for: .seconds(10))
            done.signal()
        }
        usleep(20_000)
        long.cancel()
        done.wait()
        let thread = Thread { done.signal() }
        thread.start()
        done.wait()
        // The first stack pool opens a pidfd for process_madvise that lives as long as the
        // process (CSpindle/sys.c), once; the ring, eventfd and stacks are per runtime.
        _ = try? onWorker(timeout: .seconds(10)) { _ in try Fiber.offload { 0 } }
        // Some of these open their descriptors lazily on background threads: wait until the
        // count has been stable for 200 ms (at most 3 s).
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

/// Base class of the SpindleIO tests: prepares the process once and checks, after each test
/// (whose runtimes have all stopped by then), that exactly the descriptors open before it are
/// open after it.
class IOTestCase: XCTestCase {
    private var descriptorsBefore: [Int32: String] = [:]

    override func setUp() {
        super.setUp()
        TestEnvironment.prepared
        descriptorsBefore = openFileDescriptors()
    }

    override func tearDown() {
        // Closes race the kernel by nothing: close(2) is synchronous. A short grace only for
        // descriptors closed by threads that are finishing (offload pool, Process readers).
        var after = openFileDescriptors()
        if after.count != descriptorsBefore.count {
            _ = waitUntil(timeout: .milliseconds(500)) { openFileDescriptors().count == descriptorsBefore.count }
            after = openFileDescriptors()
        }
        let leaked = after.filter { descriptorsBefore[$0.key] != $0.value }.sorted { $0.key < $1.key }
        let lost = descriptorsBefore.filter { after[$0.key] == nil }.sorted { $0.key < $1.key }
        XCTAssertEqual(after.count, descriptorsBefore.count,
                       "descriptor leak: \(descriptorsBefore.count) open before the test, \(after.count) after; new: \(leaked.prefix(20).map { "\($0.key)→\($0.value)" }), gone: \(lost.prefix(20).map { "\($0.key)→\($0.value)" })")
        super.tearDown()
    }
}

// MARK: - Runtime on background threads

/// A `Runtime` whose blocking `run` executes on a Foundation thread, so the test thread can act
/// as a client and then stop it with a bounded wait.
final class BackgroundRuntime: @unchecked Sendable {
    // @unchecked Sendable: `outcome` is behind a lock; the rest is immutable.
    let runtime: Runtime
    private let finished = DispatchSemaphore(value: 0)
    private let outcome = Locked<Result<Void, any Error>?>(nil)
    private let startedAt = Deadline.now

    init(workers: Int = 1, _ body: @escaping @Sendable (Runtime.Worker) throws -> Void) {
        runtime = Runtime(configuration: .init(workers: workers))
        let thread = Thread { [runtime, outcome, finished] in
            let result = Result { try runtime.run(body) }
            outcome.set(result)
            finished.signal()
        }
        thread.name = "runtime.run"
        thread.start()
    }

    /// True once `run` returned.
    var hasFinished: Bool { outcome.current != nil }

    /// Waits at most `timeout` for `run` to return; throws when it does not, or rethrows what it threw.
    func waitUntilFinished(timeout: Duration) throws {
        let (seconds, attoseconds) = timeout.components
        let wait = DispatchTimeInterval.nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        if finished.wait(timeout: .now() + wait) == .timedOut {
            throw TestFailure("Runtime.run did not return within \(timeout)")
        }
        finished.signal()  // later waits return at once
        try outcome.current!.get()
    }

    /// Calls `stop()` and waits at most `timeout` for `run` to return.
    func stop(timeout: Duration = .seconds(10)) throws {
        runtime.stop()
        try waitUntilFinished(timeout: timeout)
    }
}

/// Runs `body` as the only worker body of a one-worker `Runtime` (so it can spawn fibers and
/// do I/O), stops the runtime when `body` returns, and returns `body`'s value once `run` has
/// returned. Fails (throws) when that takes longer than `timeout`.
func onWorker<T>(timeout: Duration = .seconds(30), _ body: @escaping @Sendable (Runtime.Worker) throws -> T) throws -> T {
    let result = Locked<Result<T, any Error>?>(nil)
    let server = BackgroundRuntime(workers: 1) { worker in
        defer { worker.runtime.stop() }
        let outcome = Result { try body(worker) }
        result.set(outcome)
    }
    try server.waitUntilFinished(timeout: timeout)
    guard let outcome = result.current else { throw TestFailure("the worker body never ran") }
    return try outcome.get()
}

// MARK: - A plain blocking client

/// A blocking TCP client on plain POSIX sockets (independent of Spindle), with send and receive
/// timeouts so a misbehaving server fails the test instead of hanging it.
final class TestClient {
    private(set) var fd: Int32

    init(port: Int, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
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
            throw TestFailure("connect(127.0.0.1:\(port)): errno \(e)")
        }
    }

    deinit { close() }

    /// Sends all of `bytes`.
    func send(_ bytes: [UInt8]) throws {
        try TestClient.sendAll(fd: fd, bytes)
    }

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

    /// Receives exactly `count` bytes (throws on end of stream, error or timeout).
    func receive(exactly count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("recv: errno \(errno) after \(got) of \(count) bytes")
            }
            if n == 0 { throw TestFailure("recv: end of stream after \(got) of \(count) bytes") }
            got += n
        }
        return out
    }

    func receiveString(exactly count: Int) throws -> String {
        String(decoding: try receive(exactly: count), as: UTF8.self)
    }

    /// Receives until the peer closes its side (at most `limit` bytes).
    func receiveToEnd(limit: Int = 1 << 20) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while out.count <= limit {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("recv: errno \(errno) after \(out.count) bytes")
            }
            if n == 0 { return out }
            out += chunk[0..<n]
        }
        throw TestFailure("more than \(limit) bytes before end of stream")
    }

    /// Sends `message` from another thread while receiving its echo here (a message larger than
    /// the socket buffers would otherwise deadlock both sides), and returns what came back.
    func echo(_ message: [UInt8]) throws -> [UInt8] {
        let fd = self.fd
        let sendError = Locked<(any Error)?>(nil)
        let sent = DispatchSemaphore(value: 0)
        let writer = Thread {
            do { try TestClient.sendAll(fd: fd, message) } catch { sendError.set(error) }
            sent.signal()
        }
        writer.start()
        let received = Result { try receive(exactly: message.count) }
        sent.wait()
        if let error = sendError.current { throw error }
        return try received.get()
    }

    /// Sends FIN (no more data from this side); the connection stays open for reading.
    func shutdownWrite() {
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Closes with SO_LINGER {on, 0}: the kernel sends RST instead of FIN.
    func closeWithReset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

// MARK: - spindle-io-probe

/// A running `spindle-io-probe` subprocess with its three standard streams piped.
final class IOProbe {
    struct NotFound: Error, CustomStringConvertible {
        let description: String
    }

    /// The `spindle-io-probe` executable, which SwiftPM builds into the same products directory
    /// as the test bundle (`<scratch>/<triple>/<configuration>/`). Searched from the test
    /// binary's location upwards.
    static func executable() throws -> URL {
        var starts: [URL] = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0])]
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: exe))
        }
        var tried: [String] = []
        for start in starts {
            var dir = start.deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = dir.appendingPathComponent("spindle-io-probe")
                tried.append(candidate.path)
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw NotFound(description: "spindle-io-probe executable not found next to the test binary; build it with `swift build --build-tests`. Looked at:\n  " + tried.joined(separator: "\n  "))
    }

    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let errors = Pipe()
    private let outputData = Locked(Data())
    private let errorData = Locked(Data())
    private let readersDone = DispatchSemaphore(value: 0)
    let arguments: [String]

    /// Starts `spindle-io-probe <arguments>` (without the caller's SPINDLE_* variables).
    init(_ arguments: [String]) throws {
        self.arguments = arguments
        process.executableURL = try IOProbe.executable()
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
                let data = handle.readDataToEndOfFile()
                sink.set(data)
                done.signal()
            }
            reader.start()
        }
    }

    var isRunning: Bool { process.isRunning }

    /// Writes `line` and a newline to the probe's standard input.
    func send(line: String) throws {
        try input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Waits at most `timeout` for the probe to exit; kills it and throws when it does not.
    /// Returns (exit status or signal, stdout, stderr).
    @discardableResult
    func waitForExit(timeout: Duration) throws -> (status: Int32, exited: Bool, stdout: String, stderr: String) {
        let exitedInTime = waitUntil(timeout: timeout) { !process.isRunning }
        if !exitedInTime {
            process.terminate()
            if !waitUntil(timeout: .seconds(2), { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
        readersDone.wait()
        readersDone.wait()
        try? output.fileHandleForReading.close()
        try? errors.fileHandleForReading.close()
        let out = String(decoding: outputData.current, as: UTF8.self)
        let err = String(decoding: errorData.current, as: UTF8.self)
        if !exitedInTime {
            throw TestFailure("spindle-io-probe \(arguments.joined(separator: " ")) did not exit within \(timeout); killed.\n--- stdout ---\n\(out)\n--- stderr ---\n\(err)")
        }
        return (process.terminationStatus, process.terminationReason == .exit, out, err)
    }

    /// Runs the probe to completion (bounded by `timeout`).
    static func run(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> (status: Int32, exited: Bool, stdout: String, stderr: String) {
        let probe = try IOProbe(arguments)
        return try probe.waitForExit(timeout: timeout)
    }
}
