// Plain blocking POSIX sockets for test clients (independent of Spindle): a connection to
// 127.0.0.1 with send and receive timeouts, and sending a whole buffer (also from a thread).
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation

/// `connect` to 127.0.0.1 (or ::1) failed.
public struct LoopbackConnectError: Error, CustomStringConvertible {
    /// The `errno` connect set.
    public let errno: Int32
    /// The port it tried.
    public let port: Int
    /// True when it tried ::1.
    public var ipv6 = false
    /// The address, errno and its text.
    public var description: String { "connect(\(ipv6 ? "[::1]" : "127.0.0.1"):\(port)): errno \(errno) (\(String(cString: strerror(errno))))" }
}

/// A blocking TCP socket connected to 127.0.0.1:`port` (with `ipv6`, [::1]:`port`), with send and receive timeouts of
/// `timeoutSeconds` (a misbehaving server fails the test instead of hanging it) and, when
/// `noDelay`, TCP_NODELAY, and with `receiveBufferSize`, that `SO_RCVBUF` (set before connecting,
/// so the window is small from the start: a client that does not read soon holds the server's
/// sends). Throws `LoopbackConnectError` when connect fails.
public func connectToLoopback(port: Int, timeoutSeconds: Int, noDelay: Bool = false, receiveBufferSize: Int? = nil,
                              ipv6: Bool = false) throws -> Int32 {
    let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
    var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    if noDelay {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }
    if var size = receiveBufferSize.map(Int32.init) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    let rc: Int32
    if ipv6 {
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = in_port_t(UInt16(port).bigEndian)
        address.sin6_addr = in6addr_loopback
        rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    } else {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
    guard rc == 0 else {
        let e = errno
        Glibc.close(fd)
        throw LoopbackConnectError(errno: e, port: port, ipv6: ipv6)
    }
    return fd
}

/// Sends all of `bytes` on the blocking socket `fd` (without SIGPIPE).
public func sendAll(fd: Int32, _ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
        if n < 0 {
            if errno == EINTR { continue }
            throw TestFailure("send: errno \(errno) after \(offset) of \(bytes.count) bytes")
        }
        offset += n
    }
}

/// Sends `bytes` on `fd` from another thread while the caller receives (a message larger than
/// the socket buffers would otherwise deadlock both sides). Call the returned function when done
/// receiving: it waits for the sender and returns its error, if any.
public func sendInBackground(fd: Int32, _ bytes: [UInt8]) -> () -> (any Error)? {
    let error = Locked<(any Error)?>(nil)
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        do { try sendAll(fd: fd, bytes) } catch let e { error.set(e) }
        done.signal()
    }
    thread.start()
    return {
        done.wait()
        return error.current
    }
}

/// Closes `fd` with a reset (RST, `SO_LINGER` {on, 0}) instead of FIN: what a client that goes
/// away abruptly sends, and what the server sees as its connection failing.
public func closeWithReset(fd: Int32) {
    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    Glibc.close(fd)
}
