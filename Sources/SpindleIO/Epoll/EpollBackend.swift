import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

// How the epoll backend keeps the I/O contract (IOBackend.swift):
//
// - Parking operations try their non-blocking system call first and park only on EAGAIN, in
//   the descriptor's reader or writer queue, until an event says the socket changed (then they
//   try again), the deadline passes (`TimeoutError`) or the fiber is cancelled
//   (`CancellationError`). Nothing is in flight while a fiber waits — the kernel moves no byte
//   until the retried call — so no memory outlives the call and a cancelled or timed-out
//   operation has consumed nothing: the bytes are there for the next call.
// - Fiber-less operations run in the loop: on readiness (edge-triggered: an event announces a
//   change, so a socket is read or accepted from until it says EAGAIN, or the turn's share is
//   used and the rest is queued for the next turn), or as deferred work queued by a call that
//   must not report inside itself (`startSending` finishing at once, a resumed receiver with
//   bytes already waiting). A turn with deferred work never blocks in `epoll_wait`.
// - Descriptors are registered once per socket; events and deferred work name a descriptor
//   number and a generation (the staleness rule, EpollRegistration.swift).
// - Files go to the offload pool (`Fiber.offload`): regular files are always "ready" to epoll.

/// Work the loop does on its next turn: what a call must not do inside itself (report an event
/// to a delegate, release an armed delegate) and what a turn left for the next (the rest of a
/// fast socket's bytes or of a listener's queue).
enum EpollDeferredWork {
    /// Continue reading a receiver's socket (entry, generation).
    case read(EpollRegistration, UInt32)
    /// Continue accepting on a listener (entry, generation).
    case accept(EpollRegistration, UInt32)
    /// Tell a send's delegate it is over.
    case finishSend(AsyncSend, Int32)
    /// Tell a receiver's delegate it failed (its socket could not be registered).
    case failReceive(StreamReceiver, Int32)
    /// Drop the delegate held for a receiver that was paused or stopped, unless it is
    /// receiving again by then.
    case release(StreamReceiver)
    /// Tell an acceptor that arming failed.
    case failAccept(Acceptor, Int32)
}

/// The epoll backend of one worker: plugs into the worker's `Scheduler` as its driver. Each
/// loop turn fetches up to 256 events with one `epoll_wait` (not blocking when fibers are
/// runnable or deferred work is queued), handles them, then runs the deferred work; when
/// nothing is runnable the thread sleeps in `epoll_wait` until an event, the next timer
/// (`epoll_pwait2`, nanoseconds; `epoll_wait` rounded up to the next millisecond where the
/// kernel or a seccomp filter refuses it) or a cross-thread wake on the scheduler's eventfd.
package final class EpollBackend: IOBackend {
    /// `.epoll`.
    package var kind: IOBackendKind { .epoll }
    /// The epoll instance.
    let epfd: Int32
    unowned(unsafe) let scheduler: Scheduler
    // `@exclusivity(unchecked)`: worker thread only, short accesses that never span a switch.
    /// What is known about each descriptor number this worker used.
    @exclusivity(unchecked) var registrations = EpollRegistrations()
    /// Work for the next turn, and the turn's work being run (two arrays swapped, so queueing
    /// allocates only when a turn queues more than any before).
    @exclusivity(unchecked) private var deferred: [EpollDeferredWork] = []
    @exclusivity(unchecked) private var running: [EpollDeferredWork] = []
    /// False once `epoll_pwait2` was refused: waits use `epoll_wait` (milliseconds) from then on.
    @exclusivity(unchecked) private var waitsPrecisely = true
    /// Set by `uninstall` while it releases what fiber-less operations held: nothing is read,
    /// accepted or delivered any more.
    @exclusivity(unchecked) private(set) var isDraining = false
    /// Where stream receivers read into (bytes are handed to the delegate during the call only).
    let scratch: UnsafeMutableRawPointer
    private let events: EpollEvents
    let slot: IOThreadState

    /// Events fetched per `epoll_wait`.
    static let batchSize: Int32 = 256
    /// Size of the receive scratch buffer: one `recv` per 16 KiB, as io_uring's provided buffers.
    static let scratchSize = 16 << 10
    /// Bytes one receiver may read per loop turn before the rest waits for the next turn, so a
    /// fast sender cannot starve the worker's other connections.
    static let readShare = 64 << 10
    /// Connections one listener may accept per loop turn.
    static let acceptShare = 64
    /// The token of the scheduler's eventfd (never a descriptor's: no generation reaches 2³²-1
    /// together with descriptor number 2³²-1).
    static let wakerToken = UInt64.max

    /// Creates the epoll instance and registers the scheduler's eventfd. Cost: two system calls
    /// and the event and scratch buffers (20 KiB). Throws `IOError` when epoll cannot be set up.
    init(scheduler: Scheduler) throws {
        self.scheduler = scheduler
        epfd = try Epoll.create()
        do {
            try Epoll.add(epfd, scheduler.waker.fd, events: Epoll.input | Epoll.edgeTriggered, token: Self.wakerToken)
        } catch {
            Glibc.close(epfd)
            throw error
        }
        events = EpollEvents(capacity: Self.batchSize)
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 64)
        slot = IOThreadState()
        slot.backend = self
    }

    deinit {
        Glibc.close(epfd)
        events.deallocate()
        scratch.deallocate()
    }

    /// Makes this backend its scheduler's driver and the thread's backend. Worker thread.
    package func install() {
        slot.install(driving: scheduler)
    }

    /// Releases what fiber-less operations still hold (`finishFiberlessOperations`), tells
    /// armed acceptors the backend is going away, then uninstalls. Worker thread, after the loop
    /// has ended.
    package func uninstall() {
        finishFiberlessOperations()
        slot.uninstall(from: scheduler)
    }

    /// The most turns of deferred work `uninstall` runs (each may queue the next: a send's
    /// delegate that stops its receiver queues the receiver's release).
    static let drainTurns = 8

    /// Detaches every receiver, send and acceptor still attached to a descriptor and runs the
    /// deferred work left, without reading, accepting or delivering: the loop has ended, but a
    /// receiver whose release was queued as its server drained still holds its delegate (the
    /// connection, which owns the receiver: a cycle), and a send its delegate, until that work
    /// runs. Skipping it would leak one connection's objects per stop.
    private func finishFiberlessOperations() {
        isDraining = true
        defer { isDraining = false }
        slot.acceptorsWillStop()  // forgetting an entry removes its acceptor from the slot
        registrations.forEachEntry { forget($0) }
        for _ in 0..<Self.drainTurns where !deferred.isEmpty {
            swap(&deferred, &running)
            runDeferredWork()
        }
    }

    // MARK: - SchedulerDriver

    /// One loop turn (see the type's comment): one `epoll_wait`, blocking only when `wait` and
    /// no deferred work is queued. Worker thread, outside any fiber.
    package func poll(_ scheduler: Scheduler, wait: Bool, until deadline: Deadline?) {
        swap(&deferred, &running)  // this turn's work; what it queues is the next turn's
        let count: Int
        if wait && running.isEmpty {
            count = waitForEvents(until: deadline)
        } else {
            count = Epoll.wait(epfd, events, milliseconds: 0)
        }
        for index in 0..<count {
            dispatch(token: events.token(index), flags: events.flags(index))
        }
        if !running.isEmpty { runDeferredWork() }
    }

    /// Sleeps in the kernel until an event or `deadline`.
    private func waitForEvents(until deadline: Deadline?) -> Int {
        guard let deadline else { return Epoll.wait(epfd, events, milliseconds: -1) }
        let now = Deadline.now
        let nanoseconds = deadline > now ? deadline.nanoseconds - now.nanoseconds : 0
        if waitsPrecisely {
            if let count = Epoll.waitPrecisely(epfd, events, nanoseconds: nanoseconds) { return count }
            waitsPrecisely = false
        }
        // Rounded up: waking before the timer is due would only loop back here (a busy wait).
        let milliseconds = min((nanoseconds + 999_999) / 1_000_000, UInt64(Int32.max))
        return Epoll.wait(epfd, events, milliseconds: Int32(milliseconds))
    }

    /// Handles one event: wakes the fibers parked on the socket and drives its fiber-less
    /// operation. Drops the event when its token is stale.
    @inline(__always)
    private func dispatch(token: UInt64, flags: UInt32) {
        if token == Self.wakerToken {
            scheduler.waker.drain()
            return
        }
        guard let entry = registrations.entry(forToken: token) else { return }
        if flags & (Epoll.readHangup | Epoll.hangup | Epoll.error) != 0 { entry.hungUp = true }
        if flags & (Epoll.input | Epoll.readHangup | Epoll.hangup | Epoll.error) != 0 {
            entry.readable = true
            entry.wakeReaders()
            if !entry.workQueued {
                if let acceptor = entry.acceptor {
                    if acceptor.isArmed { acceptConnections(entry, acceptor) }
                } else if let receiver = entry.receiver {
                    readStream(entry, receiver)
                }
            }
            // A delegate may have closed the socket (and its number been reused) meanwhile.
            guard registrations.entry(forToken: token) != nil else { return }
        }
        if flags & (Epoll.output | Epoll.hangup | Epoll.error) != 0 {
            if flags & Epoll.output != 0 { entry.writable = true }
            entry.wakeWriters()
            if let send = entry.send { continueSending(send, entry, inLoop: true) }
        }
    }

    // MARK: - Deferred work

    /// Queues `work` for the next loop turn.
    @inline(__always)
    func queue(_ work: EpollDeferredWork) { deferred.append(work) }

    private func runDeferredWork() {
        for work in running {
            switch work {
            case .read(let entry, let generation):
                guard entry.generation == generation, entry.workQueued, !isDraining else { continue }
                entry.workQueued = false
                if let receiver = entry.receiver { readStream(entry, receiver) }
            case .accept(let entry, let generation):
                guard entry.generation == generation, entry.workQueued, !isDraining else { continue }
                entry.workQueued = false
                if let acceptor = entry.acceptor, acceptor.isArmed { acceptConnections(entry, acceptor) }
            case .finishSend(let send, let code):
                send.finish(errno: code)
            case .failReceive(let receiver, let code):
                if !isDraining { receiver.deliver(.failed(code)) }
                release(receiver)
            case .release(let receiver):
                release(receiver)
            case .failAccept(let acceptor, let code):
                acceptor.deliver(-code)
            }
        }
        running.removeAll(keepingCapacity: true)
    }

    // MARK: - Registration

    /// Adds `entry`'s socket to the epoll set under its current generation: a connection for
    /// reading, end of stream and writing, a listener (`listening`) for incoming connections.
    /// Edge-triggered; the kernel reports at once whatever is already pending. One system call.
    func register(_ entry: EpollRegistration, listening: Bool = false) throws(IOError) {
        let events = listening
            ? Epoll.input | Epoll.edgeTriggered
            : Epoll.input | Epoll.output | Epoll.readHangup | Epoll.edgeTriggered
        try Epoll.add(epfd, entry.fd, events: events, token: entry.token)
        entry.isRegistered = true
    }

    /// `fd` is a new socket (accepted, connecting, or a listener about to accept): whatever the
    /// table knew about its number is for an earlier descriptor and is forgotten.
    @discardableResult
    func adopt(_ fd: Int32) -> EpollRegistration {
        let entry = registrations.entry(for: fd)
        forget(entry)
        return entry
    }

    /// Starts a new generation of `entry` with nothing attached. Closing detaches everything
    /// first, so what is found here is only what a misuse left (a fiber parked on a socket
    /// another fiber closed): parked fibers are woken with `.closing` (their call throws
    /// EBADF); a receiver's held delegate is released next turn; a send hears `ECANCELED`.
    func forget(_ entry: EpollRegistration) {
        entry.reset()
        entry.wakeReaders(.closing)
        entry.wakeWriters(.closing)
        if let receiver = entry.receiver {
            entry.receiver = nil
            queue(.release(receiver))
        }
        if let send = entry.send {
            entry.send = nil
            queue(.finishSend(send, ECANCELED))
        }
        if let acceptor = entry.acceptor {
            entry.acceptor = nil
            acceptor.isArmed = false
            slot.acceptors[ObjectIdentifier(acceptor)] = nil
        }
    }

    /// Closes a connection's socket after forgetting its registration (closing also takes it
    /// out of the epoll set). Worker thread; one system call.
    package func closeSocket(_ fd: Int32) {
        forget(registrations.entry(for: fd))
        Socket.close(fd)
    }
}
