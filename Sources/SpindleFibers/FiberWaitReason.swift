/// What a parked fiber waits for, recorded when it parks (one byte stored in its `FiberCore`
/// per park, nothing per switch) and shown by fiber dumps. A fiber that is not parked keeps
/// the reason of its last park; dumps show it only for parked fibers.
public enum FiberWaitReason: UInt8, Sendable, CaseIterable {
    /// Bytes from a socket or file (or the rest of a request body).
    case read
    /// Room to send: a socket write, or a response waiting for its send to complete.
    case write
    /// A connection to accept.
    case accept
    /// `Fiber.sleep`: the deadline of its timer is in the dump.
    case sleep
    /// A `Channel` send or receive.
    case channel
    /// A `FiberMutex`.
    case mutex
    /// An `Event` or a `WaitGroup`.
    case event
    /// A closure running on the offload pool (`Fiber.offload`).
    case offload
    /// A Swift concurrency task (`Fiber.await`).
    case await
    /// Another fiber's end (`FiberHandle.join()`).
    case join
    /// Anything else that parks through `Fiber.park` without naming a reason.
    case other

    /// The name used in dumps (`read`, `sleep`, …).
    public var name: String { String(describing: self) }
}
