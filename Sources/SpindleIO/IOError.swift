import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// A failed I/O operation: which operation and which errno (named, with its meaning).
/// The same type as SpindleMemory's `SystemCallError`: every layer reports failures alike.
public typealias IOError = SystemCallError

extension SystemCallError {
    /// True for the errors that mean the peer went away (reset, broken pipe, not connected).
    public var isDisconnect: Bool {
        errno == ECONNRESET || errno == EPIPE || errno == ENOTCONN || errno == ECONNABORTED
    }
}

/// Thrown when io_uring cannot be used in this process, naming the cause and what to do.
public struct IOUringUnavailableError: Error, CustomStringConvertible, Sendable {
    /// The errno `io_uring_setup` returned (or 0 when a needed feature is missing).
    public let errno: Int32
    /// What is wrong and how to fix it.
    public let description: String
}

extension IOUringUnavailableError {
    /// True when io_uring is denied outright (seccomp, an LSM, a sysctl, a kernel without it):
    /// the runtime then runs on epoll instead. Other failures (no memory for the ring, no
    /// descriptor left) are problems epoll would hit too, and stay errors.
    public var fallsBackToEpoll: Bool {
        errno == EPERM || errno == ENOSYS || errno == EACCES || errno == 0
    }
}
