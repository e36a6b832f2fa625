#if canImport(Glibc)
import Glibc
#endif
import SpindleMemory

/// An IPv4 or IPv6 socket address. Value type; parsing allocates nothing beyond the struct.
public struct SocketAddress: CustomStringConvertible, Sendable {
    var storage: sockaddr_storage

    init(storage: sockaddr_storage) { self.storage = storage }

    /// Parses a numeric host (`127.0.0.1`, `::1`, `0.0.0.0`) and a port. Names are not resolved
    /// here (DNS would block the thread): `SocketAddress.resolve(host:port:)` resolves them, at
    /// startup or from a worker through `Fiber.offload`.
    public init(host: String, port: Int) throws(IOError) {
        misusePrecondition((0...65535).contains(port), "SocketAddress: port \(port) is outside 0...65535")
        var storage = sockaddr_storage()
        let ok: Bool = withUnsafeMutablePointer(to: &storage) { p in
            if host.contains(":") {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    sin6.pointee.sin6_family = sa_family_t(AF_INET6)
                    sin6.pointee.sin6_port = in_port_t(UInt16(port).bigEndian)
                    return inet_pton(AF_INET6, host, &sin6.pointee.sin6_addr) == 1
                }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                sin.pointee.sin_family = sa_family_t(AF_INET)
                sin.pointee.sin_port = in_port_t(UInt16(port).bigEndian)
                return inet_pton(AF_INET, host, &sin.pointee.sin_addr) == 1
            }
        }
        guard ok else { throw IOError("parse address \"\(host)\" (numeric IPv4/IPv6 expected)", errno: EINVAL) }
        self.storage = storage
    }

    /// The address family (`AF_INET` or `AF_INET6`).
    public var family: Int32 { Int32(storage.ss_family) }

    /// The port number.
    public var port: Int {
        withUnsafePointer(to: storage) { p in
            family == AF_INET6
                ? Int(UInt16(bigEndian: p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }))
                : Int(UInt16(bigEndian: p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }))
        }
    }

    /// `127.0.0.1:8080` or `[::1]:8080`.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        withUnsafePointer(to: storage) { p in
            if family == AF_INET6 {
                p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
                }
            } else {
                p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count))
                }
            }
        }
        let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Calls `body` with a `sockaddr` pointer and its length.
    func withSockaddr<T, E: Error>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(E) -> T) throws(E) -> T {
        let length = socklen_t(family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        var copy = storage
        return try withUnsafePointer(to: &copy) { p throws(E) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(E) in try body(sa, length) }
        }
    }
}
