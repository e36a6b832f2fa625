// Helpers of the fiber tests: an ordered event log, an error type with a payload, a joinable
// OS thread, assertions on thrown errors, and the `spindle-probe` subprocess. Helpers shared
// with other test targets are in SpindleTestSupport.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import SpindleFibers
import SpindleTestSupport
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

/// The `spindle-probe` executable (crash reports, misuse traps) run to completion.
enum Probe {
    /// Runs `spindle-probe <mode>` with `environment` added to this process's environment
    /// (minus any `SPINDLE_*` variable), waits for it and captures both streams.
    static func run(_ mode: String, environment: [String: String] = [:]) throws -> ProbeOutcome {
        try ProbeProcess(executable: "spindle-probe", arguments: [mode], environment: environment).waitForExit(timeout: nil)
    }
}
