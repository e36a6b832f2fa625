import SpindleFibers
import SpindleMemory

/// Which pool a connection belongs to: the host as written (lowercased), the port, and whether
/// the connection speaks TLS (`https`).
struct PoolKey: Hashable, CustomStringConvertible {
    let host: String
    let port: Int
    let secure: Bool
    var description: String {
        (secure ? "https://" : "") + (host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
    }
}

/// The connections to one (host, port): idle ones ready for reuse (the most recently used is
/// taken first: its socket is the least likely to have been closed by the server), a count of
/// those leased (carrying an exchange, or being opened), and the fibers waiting because the
/// cap is reached, in arrival order.
///
/// Fairness: a released slot is granted to the first waiter (its wake reason is `.ready`); a
/// newcomer may take a slot only when nobody waits and no grant is outstanding, so waiters are
/// served first come, first served. Worker-thread only.
final class ConnectionPool {
    let key: PoolKey
    private var idle: [ClientConnection] = []
    /// Connections out of the pool: carrying an exchange or being connected.
    private(set) var leased = 0
    /// Slots handed to woken waiters that have not run yet.
    private var grants = 0
    private let waiters = WaitQueue()

    init(key: PoolKey) { self.key = key }

    /// Connections open or being opened (the number the cap bounds).
    var openCount: Int { idle.count + leased }
    /// Idle connections.
    var idleCount: Int { idle.count }

    /// What `acquire` gives.
    enum Lease {
        /// An idle connection, now leased.
        case reuse(ClientConnection)
        /// A slot for a new connection: connect one, then `opened` (or `release(nil)` on failure).
        case open
    }

    /// Takes an idle connection or a slot for a new one, parking (FIFO) while `cap` connections
    /// are out, until `deadline` (`TimeoutError`) or cancellation (`CancellationError`).
    /// Idle connections older than `idleTimeout` are closed on the way.
    func acquire(cap: Int, idleTimeout: Duration, deadline: Deadline?) throws -> Lease {
        closeExpired(idleTimeout: idleTimeout)
        if waiters.isEmpty && grants == 0, let lease = take(cap: cap) { return lease }
        let me = Fiber.currentCore("HTTPClient (waiting for a pooled connection)")
        while true {
            waiters.append(me)
            switch Fiber.park(me, cancellable: true, deadline: deadline) {
            case .ready:
                grants -= 1
                closeExpired(idleTimeout: idleTimeout)
                if let lease = take(cap: cap) { return lease }
                // The freed slot went to another pool's use meanwhile (the cap was lowered?): wait again.
            case .timedOut, .closing:
                throw TimeoutError()
            case .cancelled:
                throw CancellationError()
            }
        }
    }

    private func take(cap: Int) -> Lease? {
        if let connection = idle.popLast() {
            leased += 1
            connection.lease()
            return .reuse(connection)
        }
        if openCount < cap {
            leased += 1
            return .open
        }
        return nil
    }

    /// Gives a leased slot back: `connection` goes idle when `reusable`, else it is closed
    /// (nil: the slot of a connection that failed to open). Wakes the first waiter.
    func release(_ connection: ClientConnection?, reusable: Bool) {
        precondition(leased > 0, "ConnectionPool.release without a lease")
        leased -= 1
        if let connection {
            if reusable && connection.pendingCount == 0 {
                connection.parkIdle(now: .now)
                idle.append(connection)
            } else {
                connection.close()
            }
        }
        if waiters.wakeOne(.ready) { grants += 1 }
    }

    /// Closes the idle connections idle for longer than `idleTimeout`.
    func closeExpired(idleTimeout: Duration) {
        guard !idle.isEmpty else { return }
        let oldest = Deadline.now + (Duration.zero - idleTimeout)
        idle.removeAll { connection in
            guard case .idle(let since) = connection.state, since >= oldest else {
                connection.close()
                return true
            }
            return false
        }
    }

    /// Closes every idle connection (leased ones close when their exchanges end).
    func closeIdle() {
        for connection in idle { connection.close() }
        idle.removeAll()
    }
}
