import SpindleFibers
import SpindleMemory

/// The accepting side of one listener on one worker, shared by both backends: the backend
/// delivers accepted descriptors (or `-errno`) into `ready` from the scheduler loop, and
/// fibers parked in `TCPListener.accept` take them. Worker thread only.
package final class Acceptor {
    /// The listening socket (for the backend).
    package let fd: Int32
    // `@exclusivity(unchecked)`: worker thread only, short accesses that never span a switch.
    /// Accepted descriptors, or `-errno` of a failed accept, in arrival order.
    @exclusivity(unchecked) var ready = RingQueue<Int32>()
    let waiters = WaitQueue()
    /// Set by the backend while it accepts for this listener (it holds the acceptor then).
    /// Its end, once stopping, wakes the fiber waiting in `TCPListener.stopAccepting`.
    @exclusivity(unchecked) package var isArmed = false {
        didSet { if oldValue && !isArmed && isStopping { waiters.wakeAll(.ready) } }
    }
    /// Backend-private state (io_uring keeps its `UringAcceptState` here).
    @exclusivity(unchecked) package var backendState: AnyObject? = nil
    @exclusivity(unchecked) package private(set) var isClosed = false
    /// `stop()` was called: not armed again; what the backend still delivers is kept.
    @exclusivity(unchecked) package private(set) var isStopping = false
    /// Other processes accept on this listening socket too (the pre-fork supervisor's worker
    /// processes): the io_uring backend then waits for connections in a way that never spends
    /// another process's wake-up (see UringBackend+Accepting.swift).
    @exclusivity(unchecked) package var sharesQueue = false
    @exclusivity(unchecked) private(set) unowned(unsafe) var backend: (any IOBackend)? = nil
    @exclusivity(unchecked) private var owner: ObjectIdentifier? = nil

    init(fd: Int32) { self.fd = fd }

    /// Binds the acceptor to the calling worker's `backend` on first use; misuse from another.
    func bind(to backend: any IOBackend) {
        let id = ObjectIdentifier(backend)
        if owner == id { return }
        misusePrecondition(owner == nil, "TCPListener used from a second worker; create one listener per worker (SO_REUSEPORT spreads connections)")
        owner = id
        self.backend = backend
    }

    /// Asks the backend to accept unless it already does (or the listener is closed).
    func armIfNeeded() {
        guard !isArmed, !isClosed, !isStopping, let backend else { return }
        backend.startAccepting(self)
    }

    /// For backends: one accepted descriptor, or `-errno`. Scheduler loop.
    package func deliver(_ result: Int32) {
        if isClosed {
            if result >= 0 { Socket.close(result) }
            return
        }
        ready.append(result)
        waiters.wakeOne()
    }

    /// For backends: the worker's backend is going away; forget it.
    package func backendWillStop() {
        isArmed = false
        backend = nil
    }

    /// Asks the backend to stop accepting, keeping the connections it has accepted and still
    /// delivers (`isArmed` turns false once it has stopped: at once on epoll, at the multishot
    /// accept's last completion on io_uring).
    func stop() {
        guard !isClosed, !isStopping else { return }
        isStopping = true
        if isArmed, let backend { backend.stopAccepting(self) }
    }

    /// Stops accepting, closes queued connections and the listening socket, wakes the waiters.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        if isArmed, let backend { backend.stopAccepting(self) }
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
