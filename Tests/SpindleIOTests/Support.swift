// Helpers of the SpindleIO integration tests: a Runtime on background threads with a bounded
// wait for it to end, the per-test descriptor-leak check, a plain blocking-socket client, and
// the `spindle-io-probe` subprocess. Helpers shared with other test targets are in
// SpindleTestSupport.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import XCTest

// MARK: - Process environment

enum TestEnvironment {
    /// Prepares, once, every process-wide facility the tests use that keeps a descriptor open for
    /// the rest of the process (besides those `prepareForDescriptorCounting` starts: Dispatch's
    /// timers per concurrency-pool thread, Spindle's process pidfd), so the per-test descriptor
    /// counts compare like with like.
    static let prepared: Void = prepareForDescriptorCounting {
        let done = DispatchSemaphore(value: 0)
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
        // The first stack pool opens a pidfd for process_madvise that lives as long as the
        // process (CSpindle/sys.c), once; the ring, eventfd and stacks are per runtime.
        _ = try? onWorker(timeout: .seconds(10)) { _ in try Fiber.offload { 0 } }
    }
}

/// Base class of the SpindleIO tests: prepares the process once and checks, after each test
/// (whose runtimes have all stopped by then), that exactly the descriptors open before it are
/// open after it.
class IOTestCase: XCTestCase {
    private var descriptorsBefore = DescriptorSnapshot([:])
    private var objectsBefore = LiveObjectSnapshot()

    override func setUp() {
        super.setUp()
        TestEnvironment.prepared
        descriptorsBefore = DescriptorSnapshot()
        objectsBefore = LiveObjectSnapshot()
    }

    override func tearDown() {
        // Closes race the kernel by nothing: close(2) is synchronous. A short grace only for
        // descriptors closed by threads that are finishing (offload pool, Process readers).
        let comparison = descriptorsBefore.compareWithNow(grace: .milliseconds(500))
        XCTAssertEqual(comparison.after, comparison.before, comparison.message)
        if let leak = objectsBefore.leakNow(grace: .milliseconds(500)) { XCTFail(leak) }
        super.tearDown()
    }
}

// MARK: - The backend under test

/// The I/O backend this run of the suite exercises: the one `SPINDLE_IO` forces (the runtimes
/// and probes read it), or io_uring, which this machine kind always has.
enum SuiteBackend {
    static var kind: IOBackendKind {
        ProcessInfo.processInfo.environment["SPINDLE_IO"].flatMap(IOBackendKind.init(rawValue:)) ?? .uring
    }

    /// Skips the calling test, saying why, when the suite runs on epoll.
    static func skipOnEpoll(_ reason: String) throws {
        if kind == .epoll { throw XCTSkip("SPINDLE_IO=epoll: \(reason)") }
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
        if finished.wait(timeout: .now() + dispatchInterval(timeout)) == .timedOut {
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
        fd = try connectToLoopback(port: port, timeoutSeconds: timeoutSeconds)
    }

    deinit { close() }

    /// Sends all of `bytes`.
    func send(_ bytes: [UInt8]) throws {
        try sendAll(fd: fd, bytes)
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

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
        let finishSending = sendInBackground(fd: fd, message)
        let received = Result { try receive(exactly: message.count) }
        if let error = finishSending() { throw error }
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

/// A running `spindle-io-probe` subprocess (the client side and process-level experiments of
/// these tests) with its three standard streams piped.
final class IOProbe: ProbeProcess, @unchecked Sendable {
    /// Starts `spindle-io-probe <arguments>` (without the caller's SPINDLE_* variables); with
    /// `ioUringBlocked`, under `spindle-seccomp-exec` (its io_uring calls fail with EPERM).
    init(_ arguments: [String], ioUringBlocked: Bool = false) throws {
        try super.init(executable: "spindle-io-probe", arguments: arguments, ioUringBlocked: ioUringBlocked)
    }

    /// Runs the probe to completion (bounded by `timeout`).
    static func run(_ arguments: [String], ioUringBlocked: Bool = false, timeout: Duration = .seconds(60)) throws -> ProbeOutcome {
        try IOProbe(arguments, ioUringBlocked: ioUringBlocked).waitForExit(timeout: timeout)
    }
}
