// Bounded waiting for tests: elapsed time, polling a condition, running a body on a thread with
// a timeout, and the error a test throws when something does not happen in time.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import SpindleFibers

/// A test failure raised on purpose (timeouts, unexpected outcomes) with a readable message.
public struct TestFailure: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// A failure saying `description`.
    public init(_ description: String) { self.description = description }
}

/// Milliseconds elapsed since `start` on the monotonic clock.
public func milliseconds(since start: Deadline) -> Double {
    let d = Deadline.now - start
    return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

/// `duration` as a Dispatch interval (nanosecond resolution), for semaphore waits.
public func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
    let (seconds, attoseconds) = duration.components
    return .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
}

/// Polls `condition` every millisecond until it holds or `timeout` passes; returns whether it held.
public func waitUntil(timeout: Duration, _ condition: () -> Bool) -> Bool {
    let end = Deadline.now + timeout
    while !condition() {
        if Deadline.now > end { return false }
        usleep(1000)
    }
    return true
}

/// Runs `body` on a new thread and waits at most `timeout` for it; throws when it does not
/// finish in time (the thread is then abandoned) and rethrows what it threw.
public func withTimeout<T>(_ timeout: Duration, _ what: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
    let result = Locked<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        let r = Result { try body() }
        result.set(r)
        done.signal()
    }
    thread.start()
    if done.wait(timeout: .now() + dispatchInterval(timeout)) == .timedOut {
        throw TestFailure("\(what) did not finish within \(timeout)")
    }
    return try result.current!.get()
}
