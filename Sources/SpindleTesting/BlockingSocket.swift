#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client socket to 127.0.0.1 for the live test mode. The only file of
/// SpindleTesting that calls the C library: the descriptor is owned by this object (closed in
/// `deinit`), and every buffer handed to `send`/`recv` is a Swift array pinned for the call.
/// Receives time out after `timeoutSeconds` (a test never hangs on a silent server).
final class BlockingSocket {
    private let fd: Int32
    static let timeoutSeconds = 30

    init(connectingToLoopbackPort port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestClientError("socket() failed: errno \(errno)") }
        var timeout = timeval(tv_sec: Self.timeoutSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let error = errno
            close(fd)
            throw TestClientError("connect to 127.0.0.1:\(port) failed: errno \(error)")
        }
    }

    deinit { close(fd) }

    /// Sends all of `bytes`.
    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestClientError("send failed: errno \(errno)")
            }
            sent += n
        }
    }

    /// The next bytes received (empty at the end of the stream).
    func receive() throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n >= 0 { return Array(buffer[0..<n]) }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                throw TestClientError("no response within \(Self.timeoutSeconds) s")
            }
            if errno == ECONNRESET { return [] }
            throw TestClientError("recv failed: errno \(errno)")
        }
    }
}
