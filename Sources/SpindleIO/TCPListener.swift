import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket. With `reusePort` (the default) several listeners — one per worker —
/// can bind the same address and the kernel spreads connections across them.
///
/// Create it on any thread; the first `accept()` binds it to that worker, which arms one
/// multishot accept: the kernel then accepts continuously and `accept()` takes from a queue,
/// parking the fiber (not the thread) while it is empty.
public final class TCPListener: @unchecked Sendable {
    // @unchecked Sendable: created anywhere, then used by exactly one worker (checked in
    // `accept`); the accept state is touched only on that worker's thread.

    /// The bound address (with the real port when bound to port 0).
    public let address: SocketAddress
    let fd: Int32
    private let acceptor: Acceptor

    /// Binds and listens on `address`. `sendBufferSize` fixes accepted connections' `SO_SNDBUF`
    /// (nil: the kernel sizes it and grows it with the connection). Cost: four or five system
    /// calls.
    public init(address: SocketAddress, reusePort: Bool = true, backlog: Int32 = 4096,
                sendBufferSize: Int? = nil) throws(IOError) {
        let (fd, bound) = try Self.openListeningSocket(address, reusePort: reusePort, backlog: backlog,
                                                       sendBufferSize: sendBufferSize)
        self.fd = fd
        self.address = bound
        self.acceptor = Acceptor(fd: fd)
    }

    /// Binds and listens on the first of `candidates` that binds (their order is the
    /// preference); throws the first candidate's error when none does.
    private init(firstBindableOf candidates: [SocketAddress], reusePort: Bool, backlog: Int32,
                 sendBufferSize: Int?) throws(IOError) {
        var firstError: IOError? = nil
        for candidate in candidates {
            do {
                let (fd, bound) = try Self.openListeningSocket(candidate, reusePort: reusePort, backlog: backlog,
                                                               sendBufferSize: sendBufferSize)
                self.fd = fd
                self.address = bound
                self.acceptor = Acceptor(fd: fd)
                return
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        throw firstError ?? IOError("bind (no address to bind)", errno: EADDRNOTAVAIL)
    }

    /// Binds `host:port` (port 0 picks a free port). `host` is a numeric IPv4 or IPv6 address
    /// (`127.0.0.1`, `::1`, `[::1]`) or a name (`localhost`) resolved with `getaddrinfo` (see
    /// `SocketAddress.resolve`): the first resolved address that binds is used, in the
    /// resolver's order. Throws `HostResolutionError` when nothing resolves, the first address's
    /// `IOError` when none binds (`EADDRINUSE`; for IPv6 where the machine has none,
    /// `EAFNOSUPPORT` from `socket` or `EADDRNOTAVAIL` from `bind`).
    /// Cost: a name may block the thread on the name service (call it at startup); then four or
    /// five system calls per address tried.
    public convenience init(host: String, port: Int, reusePort: Bool = true, backlog: Int32 = 4096,
                            sendBufferSize: Int? = nil) throws {
        let candidates = try SocketAddress.resolve(host: host, port: port)
        try self.init(firstBindableOf: candidates, reusePort: reusePort, backlog: backlog, sendBufferSize: sendBufferSize)
    }

    /// A socket bound to `address` and listening, and the address it is bound to.
    private static func openListeningSocket(_ address: SocketAddress, reusePort: Bool, backlog: Int32,
                                            sendBufferSize: Int?) throws(IOError) -> (Int32, SocketAddress) {
        let fd = try Socket.tcp(family: address.family)
        do {
            try Socket.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if reusePort { try Socket.setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            if let sendBufferSize { try Socket.setOption(fd, SOL_SOCKET, SO_SNDBUF, Int32(clamping: sendBufferSize)) }
            try Socket.bind(fd, address)
            try Socket.listen(fd, backlog: backlog)
            return (fd, try Socket.localAddress(fd))
        } catch {
            Socket.close(fd)
            throw error
        }
    }

    deinit { close() }

    /// Waits for the next connection. Parks the fiber while none is queued. Throws
    /// `CancellationError` when the fiber is cancelled, `TimeoutError` after `deadline`,
    /// `IOError` when the listener fails or was closed. Must run on one worker's fibers.
    ///
    /// Accept errors that say nothing about the listener never end accepting: a connection
    /// aborted before it was taken (`ECONNABORTED` and the network errors Linux passes on) is
    /// skipped; running out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`)
    /// is counted in `transientErrors`, reported to `onTransientError`, and waited out with a
    /// back-off from 10 to 100 ms (the kernel keeps the connection queued meanwhile).
    public func accept(deadline: Deadline? = nil) throws -> TCPConnection {
        let backend = IOBackends.current("TCPListener.accept")
        let me = Fiber.currentCore("TCPListener.accept")
        if me.isCancelRequested { throw CancellationError() }
        acceptor.bind(to: backend)
        while true {
            if let result = acceptor.ready.popFirst() {
                if result >= 0 {
                    backOff = .zero
                    // Small responses go out at once (HTTP and echo traffic); one setsockopt per connection.
                    try? Socket.setOption(result, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
                    return TCPConnection(fd: result, backend: backend)
                }
                let code = -result
                switch AcceptFailure(errno: code) {
                case .connectionGone:
                    transientErrors += 1
                    continue
                case .outOfResources:
                    transientErrors += 1
                    backOff = backOff == .zero ? .milliseconds(10) : min(backOff * 2, .milliseconds(100))
                    onTransientError?(IOError("accept", errno: code), backOff)
                    try Fiber.sleep(for: backOff)
                    continue
                case .fatal:
                    throw IOError("accept", errno: code)
                }
            }
            if acceptor.isClosed { throw IOError("accept", errno: EBADF) }
            acceptor.armIfNeeded()
            acceptor.waiters.append(me)
            switch Fiber.park(me, cancellable: true, deadline: deadline, for: .accept) {
            case .cancelled: throw CancellationError()
            case .timedOut: throw TimeoutError()
            case .ready, .closing: continue
            }
        }
    }

    /// Whether other processes accept on this listening socket too (inherited across `fork`, as
    /// the pre-fork supervisor's worker processes do). On io_uring such a listener waits with a
    /// poll and drains the queue with accepts that do not wait, instead of a multishot accept
    /// whose exclusive wait could spend the wake-up another process needs. Set before the first
    /// `accept()`.
    package var sharesAcceptQueue: Bool {
        get { acceptor.sharesQueue }
        set { acceptor.sharesQueue = newValue }
    }

    /// Accept errors skipped or waited out so far (see `accept`). Worker thread.
    public private(set) var transientErrors = 0
    /// Called (on the worker, in the accepting fiber) with each resource error `accept` waits
    /// out and the back-off it chose; a server logs it here (rate-limited by the caller).
    public var onTransientError: ((IOError, Duration) -> Void)? = nil
    private var backOff: Duration = .zero

    /// Stops accepting and closes the socket; fibers parked in `accept` get an error.
    /// Queued but unaccepted connections are closed. Idempotent.
    public func close() {
        acceptor.close()
    }

    /// Stops accepting and closes the socket like `close()`, but returns the connections the
    /// backend had already accepted for this worker instead of closing them, for the caller to
    /// serve. Where several processes accept on one listening socket (the pre-fork supervisor's
    /// worker processes), those connections were taken from the shared queue and no other
    /// process would get them: closing them would fail their requests. Parks the calling fiber
    /// until the backend has stopped (epoll: at once; io_uring: the multishot accept's last
    /// completion, one loop turn or so), at most until `deadline`. Must run on the listener's
    /// worker; a fiber parked in `accept` meanwhile may still take a connection first.
    public func stopAccepting(deadline: Deadline) -> [TCPConnection] {
        acceptor.stop()
        if acceptor.isArmed {
            let me = Fiber.currentCore("TCPListener.stopAccepting")
            while acceptor.isArmed {
                acceptor.waiters.append(me)
                guard case .ready = Fiber.park(me, cancellable: true, deadline: deadline, for: .accept) else { break }
            }
        }
        var accepted: [TCPConnection] = []
        while let result = acceptor.ready.popFirst() {
            guard result >= 0 else { continue }  // a failed accept: nothing to serve
            try? Socket.setOption(result, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            accepted.append(TCPConnection(fd: result, backend: IOBackends.current("TCPListener.stopAccepting")))
        }
        close()
        return accepted
    }
}

/// How `TCPListener.accept` treats a failed accept.
enum AcceptFailure {
    /// The connection died before it was taken; take the next one.
    case connectionGone
    /// The process or system ran out of descriptors or memory; wait and try again.
    case outOfResources
    /// The listener itself is broken.
    case fatal

    init(errno code: Int32) {
        switch code {
        case EMFILE, ENFILE, ENOBUFS, ENOMEM:
            self = .outOfResources
        case ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP,
             ENETUNREACH, ETIMEDOUT, ECONNRESET, EAGAIN, EINTR:
            self = .connectionGone
        default:
            self = .fatal
        }
    }
}
