import SpindleFibers

/// The deadlines of one worker's fiber-less connections: an idle keep-alive connection waiting
/// for its next request (or sending its last response), one whose request head is still
/// arriving, or one closing lingeringly after an error response. Their receives carry no
/// kernel timeout (a linked timeout SQE per receive cost more than the receive's bookkeeping);
/// instead each waiting connection sits in one list per kind of timeout, and one sweeper fiber
/// per worker sleeps until the earliest deadline of any list and cancels the receives that are
/// late.
///
/// Cost: arming is O(1) whatever the number of connections: it appends at the tail of its
/// kind's list (see the invariant) and walks back at most `maxWalk` links in the rare case of
/// a deadline earlier than the tail's. Disarming unlinks in O(1). Neither allocates: the links
/// live in the entry (`TimeoutLinks`). An empty set of lists leaves the sweeper parked without
/// a timer, so an idle worker does not wake up. Worker thread only.
///
/// Invariant: each list is sorted by deadline, earliest first, so the sweeper only ever looks
/// at the heads. Appending keeps it sorted because every entry of a kind has the same timeout
/// and is armed with a deadline taken from the monotonic (coarse) clock: idle deadlines are
/// "now + idle timeout", linger deadlines "now + lingering-close timeout"; head deadlines are
/// "first byte of the head + head timeout", and a head
/// is armed as its first byte arrives, except after a pipelined request, where it is armed
/// when the serving fiber ends. Such a late arm is what can fall behind the tail; see
/// `placeEarly` for why clamping it there is safe. An entry is in a list only while it is open:
/// `HTTPConnection.close()` disarms before the worker drops its reference, so the links never
/// dangle. They are `Unmanaged` (no reference counting): following one is a plain load, which
/// matters because every keep-alive request arms and disarms once.
package final class ConnectionTimeouts<Entry: TimeoutEntry> {
    typealias Link = Unmanaged<Entry>

    /// One kind's entries, sorted by deadline.
    struct List {
        var first: Link? = nil
        var last: Link? = nil
    }

    // `@exclusivity(unchecked)`: worker thread only, short accesses (see HTTPConnection).
    @exclusivity(unchecked) private var idle = List()
    @exclusivity(unchecked) private var head = List()
    @exclusivity(unchecked) private var linger = List()
    /// Set when the sweeper must recompute its sleep (an earlier deadline, or stop).
    private let changed = Event()
    /// When the sweeper wakes next on its own (`.max`: not before `changed`).
    @exclusivity(unchecked) private var sweeperWakesAt = UInt64.max
    @exclusivity(unchecked) private var stopped = false

    /// Links `arm` has followed back from a tail, in all (at most `maxWalk` per call). For the
    /// test of arming's cost; one increment per link, on the rare walk only.
    @exclusivity(unchecked) package private(set) var linksWalked = 0

    /// How many links an arm earlier than its list's tail walks back at most before clamping.
    package static var maxWalk: Int { 4 }

    package init() {}

    /// The list of `kind` (a switch rather than an array: no bounds or uniqueness checks).
    @inline(__always)
    private func withList<R>(_ kind: TimeoutKind, _ body: (inout List) -> R) -> R {
        switch kind {
        case .idle: body(&idle)
        case .head: body(&head)
        case .linger: body(&linger)
        }
    }

    /// Puts `entry` in the list of `kind` with `deadline` (moving it if it was armed already).
    /// The deadline it gets may be later than asked for in a rare case (see `placeEarly`).
    package func arm(_ entry: Entry, _ kind: TimeoutKind, deadline: Deadline) {
        if entry.timeoutLinks.kind != nil { disarm(entry) }
        let link = Link.passUnretained(entry)
        let armed = withList(kind) { list -> UInt64 in
            var deadline = deadline.nanoseconds
            var after = list.last
            if let tail = after, tail._withUnsafeGuaranteedRef({ $0.timeoutLinks.deadline > deadline }) {
                (after, deadline) = placeEarly(deadline, in: list)
            }
            entry.timeoutLinks.deadline = deadline
            entry.timeoutLinks.previous = after
            if let after {
                after._withUnsafeGuaranteedRef {
                    entry.timeoutLinks.next = $0.timeoutLinks.next
                    $0.timeoutLinks.next = link
                }
            } else {
                entry.timeoutLinks.next = list.first
                list.first = link
            }
            if let next = entry.timeoutLinks.next {
                next._withUnsafeGuaranteedRef { $0.timeoutLinks.previous = link }
            } else {
                list.last = link
            }
            return deadline
        }
        entry.timeoutLinks.kind = kind
        if armed < sweeperWakesAt { changed.set() }
    }

    /// Where a deadline earlier than its list's tail goes: the link to insert after (nil: at the
    /// front) and the deadline to store.
    ///
    /// Walks back at most `maxWalk` links, so a deadline slightly out of order (a few heads armed
    /// late) gets its exact place. Past that, a deadline earlier than the whole list goes first
    /// (exact, O(1): one that has already passed fires at the next sweep); otherwise it is
    /// clamped to the deadline of the link it stopped at, and inserted after it, which keeps the
    /// list sorted. Clamping fires it late, but by a bounded amount: every deadline of a kind is
    /// at most one timeout past the moment it was armed (a start taken from the clock, never
    /// ahead of it, plus the kind's timeout; a clamped deadline is one of those), so a clamped
    /// entry times out at most one timeout after it was armed. That is the case of a head armed
    /// when a pipelined request's fiber ends: it gets the head timeout from then, not from its
    /// first byte, rather than making arming walk past every connection armed meanwhile.
    private func placeEarly(_ deadline: UInt64, in list: List) -> (after: Link?, deadline: UInt64) {
        var after = list.last
        for _ in 0..<Self.maxWalk {
            guard let candidate = after, candidate._withUnsafeGuaranteedRef({ $0.timeoutLinks.deadline > deadline }) else {
                return (after, deadline)
            }
            linksWalked &+= 1
            after = candidate._withUnsafeGuaranteedRef { $0.timeoutLinks.previous }
        }
        guard let stop = after else { return (nil, deadline) }
        let stopDeadline = stop._withUnsafeGuaranteedRef { $0.timeoutLinks.deadline }
        if stopDeadline <= deadline { return (stop, deadline) }
        if list.first.unsafelyUnwrapped._withUnsafeGuaranteedRef({ $0.timeoutLinks.deadline >= deadline }) {  // not empty: `stop` is in it
            return (nil, deadline)
        }
        return (stop, stopDeadline)
    }

    /// Takes `entry` out of its list (nothing if it is in none).
    package func disarm(_ entry: Entry) {
        guard let kind = entry.timeoutLinks.kind else { return }
        entry.timeoutLinks.kind = nil
        let next = entry.timeoutLinks.next, previous = entry.timeoutLinks.previous
        withList(kind) { list in
            if let previous { previous._withUnsafeGuaranteedRef { $0.timeoutLinks.next = next } } else { list.first = next }
            if let next { next._withUnsafeGuaranteedRef { $0.timeoutLinks.previous = previous } } else { list.last = previous }
        }
        entry.timeoutLinks.next = nil
        entry.timeoutLinks.previous = nil
    }

    /// The earliest deadline of any list (`.max` when all are empty).
    package var earliestDeadline: UInt64 {
        min(idle.first?._withUnsafeGuaranteedRef { $0.timeoutLinks.deadline } ?? .max,
            head.first?._withUnsafeGuaranteedRef { $0.timeoutLinks.deadline } ?? .max,
            linger.first?._withUnsafeGuaranteedRef { $0.timeoutLinks.deadline } ?? .max)
    }

    /// Disarms and tells (`timedOut()`) every entry whose deadline is at or before `now`, each
    /// list in deadline order. Returns how many it told.
    @discardableResult
    package func expire(now: UInt64) -> Int {
        expire(.idle, now: now) + expire(.head, now: now) + expire(.linger, now: now)
    }

    private func expire(_ kind: TimeoutKind, now: UInt64) -> Int {
        var told = 0
        while let link = withList(kind, { $0.first }), link._withUnsafeGuaranteedRef({ $0.timeoutLinks.deadline <= now }) {
            let entry = link.takeUnretainedValue()  // strong while it is told
            disarm(entry)
            entry.timedOut()
            told += 1
        }
        return told
    }

    /// The sweeper: until `stop()`, sleeps until the earliest deadline (or a change) and tells
    /// every entry whose deadline has passed; with a `period`, also runs `housekeeping` about
    /// that often (the worker's memory trim). Runs in its own fiber.
    func sweep(housekeepingEvery period: Duration? = nil, _ housekeeping: () -> Void = {}) {
        var nextHousekeeping = period.map { Deadline.now + $0 }
        while !stopped {
            changed.reset()
            sweeperWakesAt = earliestDeadline
            var wake: Deadline? = sweeperWakesAt == .max ? nil : Deadline(nanoseconds: sweeperWakesAt)
            if let next = nextHousekeeping { wake = wake.map { min($0, next) } ?? next }
            do {
                try changed.wait(deadline: wake)
            } catch is CancellationError {
                return
            } catch {
                // TimeoutError: the earliest deadline (or the housekeeping time) has come.
            }
            sweeperWakesAt = 0  // awake: arming needs no wake-up
            let now = Deadline.now
            expire(now: now.nanoseconds)
            if let next = nextHousekeeping, let period, now >= next {
                housekeeping()
                nextHousekeeping = now + period
            }
        }
    }

    /// Ends the sweeper (at worker shutdown).
    func stop() {
        stopped = true
        changed.set()
    }
}

/// The kinds of connection timeout, one list each: every entry of a list has the same timeout.
package enum TimeoutKind: UInt8 {
    /// Between requests on a keep-alive connection (`idleTimeout`, from when it went idle), and
    /// while the last response of a closing connection is being sent (from when it began).
    case idle
    /// While a request head is arriving (`headTimeout`, from the head's first byte).
    case head
    /// A lingering close after an error response (`lingeringCloseTimeout`, from the FIN).
    case linger
}

/// What `ConnectionTimeouts` keeps: an object (a final class) holding its own links, so arming
/// allocates nothing, and told when its deadline has passed.
package protocol TimeoutEntry: AnyObject {
    /// Owned by `ConnectionTimeouts`; a stored property (read on every step of the list).
    var timeoutLinks: TimeoutLinks<Self> { get set }
    /// The deadline passed; the entry has already been disarmed. Called by the sweeper.
    func timedOut()
}

/// An entry's place in a `ConnectionTimeouts` list.
package struct TimeoutLinks<Entry: AnyObject> {
    /// The list it is in (nil: not armed).
    package internal(set) var kind: TimeoutKind? = nil
    /// Its deadline (monotonic nanoseconds), when armed.
    package internal(set) var deadline: UInt64 = 0
    var next: Unmanaged<Entry>? = nil
    var previous: Unmanaged<Entry>? = nil

    package init() {}
}

extension HTTPConnection: TimeoutEntry {}
