// Helpers shared by the fiber tests: an ordered event log, an error type with a payload,
// a joinable OS thread, elapsed-time measurement and a subprocess runner for `spindle-probe`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import SpindleFibers
import XCTest

/// An ordered list of events recorded by fibers of one scheduler (no lock needed: fibers of a
/// scheduler never run at the same time).
final class Log {
    private(set) var entries: [String] = []
    func callAsFunction(_ entry: String) { entries.append(entry) }
}

/// A mutable value shared by the closures of several fibers.
final class Box<Value> {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// Hands a non-Sendable object to another thread. Every use in these tests touches the object
/// only on the scheduler thread (inside submitted work), which is what makes it sound.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// An error with a payload, to check that exactly this error comes back.
enum TestError: Error, Equatable {
    case boom(Int)
    case other(String)
}

/// A joinable POSIX thread (Foundation's `Thread` cannot be joined).
final class OSThread {
    private final class Start {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        let start = Unmanaged.passRetained(Start(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            start.body()
            return nil
        }, start)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() { pthread_join(thread, nil) }
}

/// Milliseconds elapsed since `start` on the monotonic clock.
func milliseconds(since start: Deadline) -> Double {
    let d = Deadline.now - start
    return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

/// Asserts that `body` throws an error of type `E` (and, if given, equal to `expected`).
func XCTAssertThrows<E: Error & Equatable, T>(
    _ expected: E, _ body: @autoclosure () throws -> T,
    file: StaticString = #filePath, line: UInt = #line
) {
    do {
        let value = try body()
        XCTFail("expected \(expected) to be thrown, got the value \(value)", file: file, line: line)
    } catch let error as E {
        XCTAssertEqual(error, expected, file: file, line: line)
    } catch {
        XCTFail("expected \(E.self) \(expected), got \(type(of: error)): \(error)", file: file, line: line)
    }
}

/// Asserts that `body` throws `CancellationError`.
func XCTAssertThrowsCancellation<T>(
    _ body: @autoclosure () throws -> T, file: StaticString = #filePath, line: UInt = #line
) {
    do {
        let value = try body()
        XCTFail("expected CancellationError, got the value \(value)", file: file, line: line)
    } catch is CancellationError {
    } catch {
        XCTFail("expected CancellationError, got \(type(of: error)): \(error)", file: file, line: line)
    }
}

// MARK: - spindle-probe

/// The result of one run of the `spindle-probe` executable.
struct ProbeResult {
    let status: Int32
    let reason: Process.TerminationReason
    let stdout: String
    let stderr: String

    /// The signal that killed the probe, or nil when it exited.
    var signal: Int32? { reason == .uncaughtSignal ? status : nil }

    var summary: String {
        "reason=\(reason == .exit ? "exit" : "signal") status=\(status)\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
    }
}

enum Probe {
    /// The `spindle-probe` executable: SwiftPM builds it next to the test bundle
    /// (`.build*/<triple>/<configuration>/`). Found from `/proc/self/exe` (the xctest binary),
    /// walking up a few directories.
    static func executable() throws -> URL {
        var candidates: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            for _ in 0..<4 {
                candidates.append(dir.appendingPathComponent("spindle-probe"))
                dir = dir.deletingLastPathComponent()
            }
        }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("spindle-probe"))
        for url in candidates where FileManager.default.isExecutableFile(atPath: url.path) {
            return url
        }
        let tried = candidates.map(\.path).joined(separator: "\n  ")
        throw ProbeNotFound(message: "spindle-probe executable not found; build it with `swift build --build-tests`. Looked at:\n  \(tried)")
    }

    struct ProbeNotFound: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Runs `spindle-probe <mode>` with `environment` added to this process's environment
    /// (minus any `SPINDLE_*` variable), waits for it and captures both streams.
    static func run(_ mode: String, environment: [String: String] = [:],
                    file: StaticString = #filePath, line: UInt = #line) throws -> ProbeResult {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = [mode]
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPINDLE_") }
        // Swift's crash backtracer would add seconds of symbolication to every expected crash.
        env["SWIFT_BACKTRACE"] = "enable=no"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes to the end before waiting, so a chatty probe cannot block on a full pipe.
        let errorReader = OSThreadReader(err.fileHandleForReading)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = errorReader.finish()
        process.waitUntilExit()
        return ProbeResult(status: process.terminationStatus, reason: process.terminationReason,
                           stdout: String(decoding: outData, as: UTF8.self),
                           stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// Reads a file handle to its end on its own thread.
private final class OSThreadReader: @unchecked Sendable {
    // @unchecked Sendable: `data` is written by the reader thread and read only after join().
    private var data = Data()
    private var thread: OSThread? = nil

    init(_ handle: FileHandle) {
        let handle = UncheckedSendable(handle)
        thread = OSThread { [unowned self] in self.data = handle.value.readDataToEndOfFile() }
    }

    func finish() -> Data {
        thread?.join()
        thread = nil
        return data
    }
}
