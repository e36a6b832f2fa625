import SpindleFibers

/// The deadlines of one worker's fiber-less connections: an idle keep-alive connection waiting
/// for its next request, or one whose request head is still arriving. Their receives carry no
/// kernel timeout (a linked timeout SQE per receive cost more than the receive's bookkeeping);
/// instead each waiting connection sits in this list, sorted by deadline, and one sweeper fiber
/// per worker sleeps until the earliest deadline and cancels the receives that are late.
///
/// Cost: arming appends at the tail (deadlines are mostly armed in order, since every entry of
/// a kind has the same timeout; a rare earlier one walks back a few links), disarming unlinks
/// in O(1), and neither allocates: the links live in the connection. An empty list leaves the
/// sweeper parked without a timer, so an idle worker does not wake up. Worker thread only.
///
/// Invariant: a connection is in the list only while it is open; `HTTPConnection.close()`
/// disarms before the worker drops its reference, so the links never dangle. They are
/// `Unmanaged` (no reference counting): following one is a plain load, which matters because
/// every keep-alive request arms and disarms once.
final class ConnectionTimeouts {
    typealias Link = Unmanaged<HTTPConnection>
    // `@exclusivity(unchecked)`: worker thread only, short accesses (see HTTPConnection).
    @exclusivity(unchecked) private var first: Link? = nil
    @exclusivity(unchecked) private var last: Link? = nil
    /// Set when the sweeper must recompute its sleep (an earlier deadline, or stop).
    private let changed = Event()
    /// When the sweeper wakes next on its own (`.max`: not before `changed`).
    @exclusivity(unchecked) private var sweeperWakesAt = UInt64.max
    @exclusivity(unchecked) private var stopped = false

    /// Puts `connection` in the list with `deadline` (moving it if it was there already).
    func arm(_ connection: HTTPConnection, deadline: Deadline) {
        if connection.timeoutArmed { disarm(connection) }
        connection.timeoutArmed = true
        connection.timeoutDeadline = deadline.nanoseconds
        let link = Link.passUnretained(connection)
        var after = last
        while let candidate = after, candidate._withUnsafeGuaranteedRef({ $0.timeoutDeadline > deadline.nanoseconds }) {
            after = candidate._withUnsafeGuaranteedRef { $0.timeoutPrevious }
        }
        connection.timeoutPrevious = after
        if let after {
            after._withUnsafeGuaranteedRef {
                connection.timeoutNext = $0.timeoutNext
                $0.timeoutNext = link
            }
        } else {
            connection.timeoutNext = first
            first = link
        }
        if let next = connection.timeoutNext { next._withUnsafeGuaranteedRef { $0.timeoutPrevious = link } } else { last = link }
        if deadline.nanoseconds < sweeperWakesAt { changed.set() }
    }

    /// Takes `connection` out of the list (nothing if it is not in it).
    func disarm(_ connection: HTTPConnection) {
        guard connection.timeoutArmed else { return }
        connection.timeoutArmed = false
        let next = connection.timeoutNext, previous = connection.timeoutPrevious
        if let previous { previous._withUnsafeGuaranteedRef { $0.timeoutNext = next } } else { first = next }
        if let next { next._withUnsafeGuaranteedRef { $0.timeoutPrevious = previous } } else { last = previous }
        connection.timeoutNext = nil
        connection.timeoutPrevious = nil
    }

    /// The sweeper: until `stop()`, sleeps until the earliest deadline (or a change) and tells
    /// every connection whose deadline has passed. Runs in its own fiber.
    func sweep() {
        while !stopped {
            changed.reset()
            sweeperWakesAt = first?._withUnsafeGuaranteedRef { $0.timeoutDeadline } ?? .max
            do {
                try changed.wait(deadline: sweeperWakesAt == .max ? nil : Deadline(nanoseconds: sweeperWakesAt))
            } catch is CancellationError {
                return
            } catch {
                // TimeoutError: the earliest deadline has come.
            }
            sweeperWakesAt = 0  // awake: arming needs no wake-up
            let now = Deadline.now.nanoseconds
            while let link = first, link._withUnsafeGuaranteedRef({ $0.timeoutDeadline <= now }) {
                let connection = link.takeUnretainedValue()  // strong while it is told
                disarm(connection)
                connection.timedOut()
            }
        }
    }

    /// Ends the sweeper (at worker shutdown).
    func stop() {
        stopped = true
        changed.set()
    }
}
