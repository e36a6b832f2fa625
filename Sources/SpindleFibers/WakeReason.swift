/// Why a parked fiber was resumed. The one vocabulary of every suspension in Spindle:
/// sleep, channels, mutexes, joins and (in SpindleIO) I/O completions all park and unpark
/// through `Fiber.park` / `Scheduler.unpark` with one of these.
public enum WakeReason: UInt8, Sendable {
    /// The awaited condition holds (value available, lock handed over, I/O complete).
    case ready
    /// The wait's deadline passed first.
    case timedOut
    /// The fiber was cancelled while waiting (only for cancellable waits).
    case cancelled
    /// The object waited on was closed (channel closed, runtime stopping).
    case closing
}

/// Thrown by waits whose deadline passed, e.g. `Channel.receive(deadline:)`.
public struct TimeoutError: Error, Equatable, Sendable, CustomStringConvertible {
    public init() {}
    public var description: String { "the operation's deadline passed" }
}
