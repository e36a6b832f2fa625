// Shared mutable state for tests: a value behind a lock, and a counter that remembers its
// highest value (both safe to touch from worker threads and the test thread at once).
import Foundation

/// A value shared between worker threads or fibers and the test thread, behind a lock.
public final class Locked<Value>: @unchecked Sendable {
    // @unchecked Sendable: every access holds `lock`.
    private var value: Value
    private let lock = NSLock()

    /// A lock around `value`.
    public init(_ value: Value) { self.value = value }

    /// Runs `body` with the value, holding the lock.
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    /// A copy of the value now.
    public var current: Value { withLock { $0 } }

    /// Replaces the value.
    public func set(_ newValue: Value) { withLock { $0 = newValue } }
}

/// A counter that also remembers the highest value it reached (e.g. fibers parked in `read`,
/// handlers in flight at once).
public final class HighWaterCounter: @unchecked Sendable {
    // @unchecked Sendable: every access holds `lock`.
    private var value = 0
    private var highest = 0
    private let lock = NSLock()

    /// A counter at zero.
    public init() {}

    /// Increments; returns (new value, whether it is a new maximum).
    @discardableResult
    public func increment() -> (value: Int, isNewMaximum: Bool) {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        if value > highest { highest = value; return (value, true) }
        return (value, false)
    }

    /// Decrements.
    public func decrement() {
        lock.lock()
        value -= 1
        lock.unlock()
    }

    /// The value now.
    public var current: Int { lock.lock(); defer { lock.unlock() }; return value }
    /// The highest value reached so far.
    public var maximum: Int { lock.lock(); defer { lock.unlock() }; return highest }
}
