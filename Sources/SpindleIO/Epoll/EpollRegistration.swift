import SpindleFibers
import SpindleMemory

// THE epoll STALENESS RULE (what lets an event outlive its descriptor safely):
//
//   A socket is registered once (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET; a listener
//   EPOLLIN | EPOLLET) with a token `generation << 32 | fd`: the descriptor number indexes the
//   worker's table of `EpollRegistration`s, the generation says which socket of that number
//   the event is for. The generation changes when the number stops meaning that socket: when
//   it is closed on the worker (`closeSocket`), deregistered (an acceptor stops), or adopted by
//   a new socket (accept, connect, a listener starting to accept). An event whose generation
//   is not the entry's current one is dropped. So an event fetched in the same `epoll_wait`
//   batch as an earlier event whose handling closed the descriptor — or closed it and accepted
//   a new connection with the same number — never reaches the new owner of the number.
//
//   Closing detaches everything the backend acts on without being asked (the receiver is
//   stopped, the send cancelled, the acceptor stopped, parked fibers woken) before the number
//   is released, so the backend never makes a system call on a number it no longer owns;
//   entries hold no reference once closed. Entries themselves are kept per number and reused
//   (the table is as long as the highest descriptor this worker used): no allocation per
//   connection. A descriptor closed away from its worker (after the runtime ended, say) leaves
//   its entry as it was, and adoption of its number resets it: adoption is what makes an entry
//   mean a new socket, closing only makes it mean nothing.
//
// Deferred work (reads, accepts and completions the loop runs on its next turn) carries the
// entry and the generation it was queued under, and is dropped the same way.

/// What one worker's epoll backend knows about one descriptor number: whether and under which
/// generation it is registered, its readiness as far as the last events and system calls told,
/// the fibers parked on it and the fiber-less operations attached to it. Worker thread only.
final class EpollRegistration {
    /// The descriptor number this entry stands for (its index in the table).
    let fd: Int32
    // `@exclusivity(unchecked)`: worker thread only, short accesses that never span a switch.
    /// Which socket of this number the entry describes (see the staleness rule).
    @exclusivity(unchecked) private(set) var generation: UInt32 = 0
    /// In the epoll set under `generation`.
    @exclusivity(unchecked) var isRegistered = false
    /// Bytes (or end of stream, or an error) may be waiting: set by events, cleared when a
    /// read found the socket empty. While false, the next arrival is guaranteed an event.
    @exclusivity(unchecked) var readable = false
    /// Set by EPOLLOUT, cleared when a send found the socket buffer full.
    @exclusivity(unchecked) var writable = false
    /// EPOLLRDHUP, EPOLLHUP or EPOLLERR was seen: read to the end (0 or an error) rather than
    /// stopping after a short read, since no further edge will announce it.
    @exclusivity(unchecked) var hungUp = false
    /// Fibers parked in `receive` and in `send`/`connect` (created on first use, kept).
    @exclusivity(unchecked) private var readerQueue: WaitQueue? = nil
    @exclusivity(unchecked) private var writerQueue: WaitQueue? = nil
    /// The stream receiver reading this socket while it is in `.receiving` mode.
    @exclusivity(unchecked) var receiver: StreamReceiver? = nil
    /// The asynchronous send waiting for EPOLLOUT.
    @exclusivity(unchecked) var send: AsyncSend? = nil
    /// The acceptor of this listening socket while armed.
    @exclusivity(unchecked) var acceptor: Acceptor? = nil
    /// A read (for `receiver`) or an accept (for `acceptor`) is queued for the next loop turn.
    @exclusivity(unchecked) var workQueued = false

    init(fd: Int32) { self.fd = fd }

    /// The `epoll_event.data` of this socket's registration.
    @inline(__always)
    var token: UInt64 { UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd)) }

    /// The generation a token was registered under.
    @inline(__always)
    static func generation(of token: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: token >> 32) }

    /// Fibers parked reading / writing (the queue is created on first use).
    var readers: WaitQueue {
        if let readerQueue { return readerQueue }
        let queue = WaitQueue()
        readerQueue = queue
        return queue
    }

    var writers: WaitQueue {
        if let writerQueue { return writerQueue }
        let queue = WaitQueue()
        writerQueue = queue
        return queue
    }

    /// Wakes every parked reader (they try their read again).
    @inline(__always)
    func wakeReaders(_ reason: WakeReason = .ready) { readerQueue?.wakeAll(reason) }

    /// Wakes every parked writer (they try their send again).
    @inline(__always)
    func wakeWriters(_ reason: WakeReason = .ready) { writerQueue?.wakeAll(reason) }

    /// The number no longer means the socket the entry described (closed, deregistered, or
    /// adopted by a new socket): a new generation, no readiness, nothing registered or queued.
    /// Attachments and parked fibers are the caller's to detach first (`EpollBackend.forget`).
    func reset() {
        generation &+= 1
        isRegistered = false
        readable = false
        writable = false
        hungUp = false
        workQueued = false
    }
}

/// The worker's descriptor-indexed table of registrations. Growing it is the only allocation
/// (amortised, up to the highest descriptor number the worker used). Worker thread only.
struct EpollRegistrations {
    private var entries: ContiguousArray<EpollRegistration?> = []

    /// The entry for `fd`, created on first use. Cost: an index (and rarely a growth).
    @inline(__always)
    mutating func entry(for fd: Int32) -> EpollRegistration {
        let index = Int(fd)
        if index < entries.count, let entry = entries[index] { return entry }
        return makeEntry(index)
    }

    @inline(never)
    private mutating func makeEntry(_ index: Int) -> EpollRegistration {
        misusePrecondition(index >= 0, "the epoll backend was given descriptor \(index): a Spindle bug")
        if index >= entries.count {
            entries.append(contentsOf: repeatElement(nil, count: max(index + 1, entries.count * 2, 64) - entries.count))
        }
        let entry = EpollRegistration(fd: Int32(index))
        entries[index] = entry
        return entry
    }

    /// Calls `body` with every entry created so far (`uninstall` forgets them all).
    func forEachEntry(_ body: (EpollRegistration) -> Void) {
        for case let entry? in entries { body(entry) }
    }

    /// The entry an event's `token` is for, or nil when the token is stale (see the rule).
    @inline(__always)
    func entry(forToken token: UInt64) -> EpollRegistration? {
        let index = Int(UInt32(truncatingIfNeeded: token))
        guard index < entries.count, let entry = entries[index],
              entry.generation == EpollRegistration.generation(of: token), entry.isRegistered else { return nil }
        return entry
    }
}
