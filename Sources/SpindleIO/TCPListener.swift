import CSpindle
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
    private let acceptor = Acceptor()

    /// Binds and listens on `address`. `sendBufferSize` fixes accepted connections' `SO_SNDBUF`
    /// (nil: the kernel sizes it and grows it with the connection). Cost: four or five system
    /// calls.
    public init(address: SocketAddress, reusePort: Bool = true, backlog: Int32 = 4096,
                sendBufferSize: Int? = nil) throws(IOError) {
        let fd = try Socket.tcp(family: address.family)
        do {
            try Socket.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if reusePort { try Socket.setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            if let sendBufferSize { try Socket.setOption(fd, SOL_SOCKET, SO_SNDBUF, Int32(clamping: sendBufferSize)) }
            try Socket.bind(fd, address)
            try Socket.listen(fd, backlog: backlog)
            self.address = try Socket.localAddress(fd)
        } catch {
            Socket.close(fd)
            throw error
        }
        self.fd = fd
    }

    /// Binds `host:port` (numeric host; port 0 picks a free port).
    public convenience init(host: String, port: Int, reusePort: Bool = true, backlog: Int32 = 4096,
                            sendBufferSize: Int? = nil) throws(IOError) {
        try self.init(address: SocketAddress(host: host, port: port), reusePort: reusePort, backlog: backlog,
                      sendBufferSize: sendBufferSize)
    }

    deinit { close() }

    /// Waits for the next connection. Parks the fiber while none is queued. Throws
    /// `CancellationError` when the fiber is cancelled, `TimeoutError` after `deadline`,
    /// `IOError` when the listener fails or was closed. Must run on one worker's fibers.
    public func accept(deadline: Deadline? = nil) throws -> TCPConnection {
        let reactor = Reactor.current("TCPListener.accept")
        let me = Fiber.currentCore("TCPListener.accept")
        if me.isCancelRequested { throw CancellationError() }
        acceptor.bind(to: reactor, fd: fd)
        while true {
            if let result = acceptor.ready.popFirst() {
                if result < 0 { throw IOError("accept", errno: -result) }
                // Small responses go out at once (HTTP and echo traffic); one setsockopt per connection.
                try? Socket.setOption(result, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
                return TCPConnection(fd: result, reactor: reactor)
            }
            if acceptor.closed { throw IOError("accept", errno: EBADF) }
            acceptor.rearmIfNeeded()
            acceptor.waiters.append(me)
            switch Fiber.park(me, cancellable: true, deadline: deadline) {
            case .cancelled: throw CancellationError()
            case .timedOut: throw TimeoutError()
            case .ready, .closing: continue
            }
        }
    }

    /// Stops accepting and closes the socket; fibers parked in `accept` get an error.
    /// Queued but unaccepted connections are closed. Idempotent.
    public func close() {
        acceptor.close(fd: fd)
    }
}

/// The multishot accept of one listener on one worker.
final class Acceptor: CompletionHandler, ReactorBound {
    @exclusivity(unchecked) var ready = RingQueue<Int32>()
    let waiters = WaitQueue()
    @exclusivity(unchecked) var closed = false
    @exclusivity(unchecked) private var armed = false
    @exclusivity(unchecked) private unowned(unsafe) var reactor: Reactor? = nil
    @exclusivity(unchecked) private var owner: UnsafeMutableRawPointer? = nil
    @exclusivity(unchecked) private var fd: Int32 = -1
    private var closeOnce = false
    let completionRoute = CompletionRoute()

    init() { completionRoute.handler = self }

    func bind(to reactor: Reactor, fd: Int32) {
        let me = Unmanaged.passUnretained(reactor).toOpaque()
        if owner == me { return }
        misusePrecondition(owner == nil, "TCPListener used from a second worker; create one listener per worker (SO_REUSEPORT spreads connections)")
        owner = me
        self.reactor = reactor
        self.fd = fd
    }

    func rearmIfNeeded() {
        guard !armed, !closed, let reactor else { return }
        let sqe = reactor.ring.nextSQE()
        io_uring_prep_multishot_accept(sqe, fd, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        spindle_sqe_set(sqe, Reactor.userData(for: completionRoute), 0)
        reactor.inFlight += 1
        armed = true
        _ = Unmanaged.passRetained(self)  // kept alive while the kernel may still post CQEs
        reactor.track(self)
    }

    /// The worker's ring is going away (its operations die with it): forget it, so a later
    /// `close()` only closes descriptors.
    func reactorWillStop() {
        guard reactor != nil else { return }
        reactor = nil
        if armed {
            armed = false
            Unmanaged.passUnretained(self).release()
        }
    }

    func complete(result: Int32, flags: UInt32) {
        if flags & IORING_CQE_F_MORE == 0 {
            armed = false
            reactor?.untrack(self)
            Unmanaged.passUnretained(self).release()
        }
        if closed {
            if result >= 0 { Socket.close(result) }
            return
        }
        if result != -Int32(ECANCELED) {
            ready.append(result)
            waiters.wakeOne()
        }
    }

    func close(fd: Int32) {
        guard !closeOnce else { return }
        closeOnce = true
        closed = true
        if armed, let reactor {
            let sqe = reactor.ring.nextSQE()
            io_uring_prep_cancel_fd(sqe, fd, 0)
            spindle_sqe_set(sqe, 0, 0)
            reactor.ring.submit()
        }
        while let pending = ready.popFirst() { if pending >= 0 { Socket.close(pending) } }
        Socket.close(fd)
        waiters.wakeAll(.closing)
    }
}

/// A small growable FIFO of trivial values.
struct RingQueue<Element> {
    private var items: [Element] = []
    private var head = 0
    var isEmpty: Bool { head == items.count }

    mutating func append(_ value: Element) { items.append(value) }

    mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        let value = items[head]
        head += 1
        if head == items.count { items.removeAll(keepingCapacity: true); head = 0 }
        return value
    }
}
