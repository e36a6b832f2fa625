#if canImport(Glibc)
import Glibc
#endif
import SpindleMemory

/// Whether this machine's kernel could take over the TLS record layer (kTLS: the `tls` TCP
/// upper-layer protocol, `setsockopt(TCP_ULP, "tls")`, then `TLS_TX`/`TLS_RX`).
///
/// Where the kernel has it, a server hands it the records it sends: OpenSSL does the handshake,
/// then gives the kernel the keys and the record sequence number it reached, and from then on
/// each response goes to the socket as plaintext, the kernel framing and encrypting it
/// (`TLSConfiguration.kernelTLS`, `TLSStream.transmitRecords`). Receiving stays in OpenSSL.
/// Where the kernel has no kTLS, OpenSSL builds the records, as it does everywhere else. The
/// server says which case a machine is in once, at start (`Docs/tls.md`, "kTLS").
public enum KernelTLS {
    /// What the probe found.
    public enum Availability: Equatable, Sendable, CustomStringConvertible {
        /// The kernel has the `tls` upper-layer protocol (built in, or its module loaded on
        /// the probe's request).
        case available
        /// It has not; `reason` says how the probe knows.
        case unavailable(reason: String)

        public var description: String {
            switch self {
            case .available: "the kernel offers kTLS (the tls TCP upper-layer protocol)"
            case .unavailable(let reason): "the kernel offers no kTLS: \(reason)"
            }
        }
    }

    /// The probe's answer, found once per process: a TCP socket that is never connected, and
    /// one `setsockopt(TCP_ULP, "tls")` on it. The kernel looks the protocol up (loading its
    /// module if it has one) before it checks the socket: `ENOENT` means there is none, and
    /// `ENOTCONN` (the protocol attaches to connected sockets only) that there is. Cost: three
    /// system calls, the first time.
    public static let availability: Availability = probe()

    static func probe() -> Availability {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .unavailable(reason: "no TCP socket to probe with (\(Errno.name(errno)))") }
        defer { close(fd) }
        let result = "tls".withCString { setsockopt(fd, Int32(SOL_TCP), TCP_ULP, $0, 3) }
        let code = errno
        if result == 0 || code == ENOTCONN { return .available }
        if code == ENOENT { return .unavailable(reason: "setsockopt(TCP_ULP, \"tls\") says ENOENT (no tls module)") }
        return .unavailable(reason: "setsockopt(TCP_ULP, \"tls\") failed with \(Errno.name(code))")
    }
}

/// Whether a server tries to hand the records it sends to the kernel (kTLS).
public enum KernelTLSPolicy: Sendable, Hashable {
    /// When `KernelTLS.availability` says the kernel has kTLS (the default). Connections whose
    /// cipher the kernel does not take (OpenSSL offers AES-GCM and ChaCha20-Poly1305) stay in
    /// user space.
    case whenAvailable
    /// Never: OpenSSL builds every record.
    case never
    /// On every connection, whatever the probe said: where the kernel refuses, the connection
    /// goes on in user space (`TLSStream.transmitRecords` says why). For diagnosing a kernel,
    /// and for the tests of the fallback.
    case always
}

/// Who builds the TLS records a stream sends.
public enum TLSRecordBuilder: Sendable, Hashable, CustomStringConvertible {
    /// The kernel (kTLS): plaintext is sent on the socket, the kernel frames and encrypts it.
    case kernel
    /// OpenSSL, in user space; `reason` says why not the kernel.
    case userSpace(reason: String)

    public var description: String {
        switch self {
        case .kernel: "the kernel (kTLS)"
        case .userSpace(let reason): "OpenSSL in user space (\(reason))"
        }
    }
}
