#if canImport(Glibc)
import Glibc
#endif

extension TCPConnection {
    /// Turns Nagle's algorithm off (`TCP_NODELAY`), so small writes leave at once instead of
    /// waiting for the peer's acknowledgement: what a client that writes a request head and its
    /// body separately wants (accepted connections have it already). Never parks; one
    /// `setsockopt`.
    public func setNoDelay() throws {
        try Socket.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }
}
