import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

// THE io_uring LIFETIME RULE (every operation of this backend follows it):
//
//   Memory referenced by an in-flight SQE — buffers, iovecs and the `Completion` record
//   itself — outlives its CQE. An operation's fiber does not return from `perform`, not on
//   cancellation and not on timeout, until the CQE of its operation has arrived: after a
//   cancel (or its deadline) it asks the kernel to cancel and parks again, uncancellably,
//   until the target CQE is in. So the record and buffers can live on the fiber's own stack.
//   Fiber-less operations (accept, stream receive, async send) keep their object — and,
//   through it, their owner — alive with a strong reference taken when armed and dropped at
//   the operation's last CQE.
//
// Deadlines are the scheduler's timers (a heap in user space), not linked timeout SQEs: an
// operation costs one SQE, and only an operation that is actually late costs a second (the
// cancel). Fiber-less operations have no deadline here; their owner cancels them.
//
// `user_data` encoding, in one place (`Tag`): a pointer to the `Completion` on the waiting
// fiber's stack (8-aligned, low bits 0); `0` for CQEs nobody reads (cancel requests); `1` for
// the scheduler's eventfd poll; the address of an `Acceptor` (its accept, or its poll),
// `StreamReceiver` or `AsyncSend` (16-aligned objects) with its tag in the low bits. A CQE
// therefore resumes at most the one fiber that waits for it, and `Scheduler.unpark` refuses any
// fiber that is not parked.

/// The state of one in-flight operation, on the stack of the fiber waiting for it.
struct Completion {
    let core: CorePointer
    var result: Int32 = 0
    var flags: UInt32 = 0
    var done = false
}

/// The io_uring backend of one worker: plugs into the worker's `Scheduler` as its driver.
/// Each loop turn submits every queued SQE with one `io_uring_enter` and reaps all CQEs; when
/// nothing is runnable the thread waits in the kernel (no spinning) until a completion, the next
/// timer, or a cross-thread wake on the scheduler's eventfd.
package final class UringBackend: IOBackend {
    /// The low bits of `user_data`.
    enum Tag: UInt64 {
        case waker = 1, acceptor = 2, receiver = 3, send = 4, acceptorPoll = 5
        static let mask: UInt64 = 7
    }

    package var kind: IOBackendKind { .uring }
    let ring: Ring
    unowned(unsafe) let scheduler: Scheduler
    /// Provided receive buffers shared by this worker's stream receivers.
    let buffers: BufferRing
    /// Operations whose CQE has not arrived yet (including armed multishots).
    @exclusivity(unchecked) var inFlight = 0
    /// False once an accept that does not wait (`IORING_ACCEPT_DONTWAIT`, Linux 6.10) has been
    /// refused with `-EINVAL`: shared listeners then accept with a multishot accept too.
    @exclusivity(unchecked) var acceptsWithoutWaiting = true
    /// Receives that found the provided buffers exhausted (`-ENOBUFS`) and were re-armed.
    @exclusivity(unchecked) package private(set) var receiveBufferExhaustions = 0
    @exclusivity(unchecked) private var wakerArmed = false
    /// Set by `uninstall` while it reaps the last completions: nothing is delivered or re-armed.
    @exclusivity(unchecked) private(set) var isDraining = false
    /// Pipes kept for `sendFile`'s splices.
    var splicePipes = SplicePipes()
    private let batch: CompletionBatch
    private let batchSize = 256
    let slot: IOThreadState

    /// Sets up a ring of `entries` and its provided receive buffers; throws
    /// `IOUringUnavailableError` naming the cause when io_uring or a feature it needs is missing.
    init(scheduler: Scheduler, entries: UInt32, receiveBuffers: BufferRing.Configuration) throws {
        self.scheduler = scheduler
        self.ring = try Ring(entries: entries)
        try Ring.require(ring.features.noDrop, "IORING_FEAT_NODROP (completions are never dropped)")
        try Ring.require(ring.features.providedBufferRings, "provided buffer rings")
        self.buffers = try BufferRing(ring: ring, configuration: receiveBuffers)
        batch = .allocate(capacity: batchSize)
        slot = IOThreadState()
        slot.backend = self
    }

    deinit {
        splicePipes.closeAll()
        batch.deallocate()
    }

    package func install() {
        slot.install(driving: scheduler)
    }

    /// Reaps the last completion of every operation still in flight (see
    /// `finishOperationsInFlight`), then uninstalls. Worker thread, after the loop has ended.
    package func uninstall() {
        finishOperationsInFlight()
        slot.uninstall(from: scheduler)
    }

    /// The longest `uninstall` waits for the last completions of the operations it cancelled.
    static let drainLimit: Duration = .milliseconds(200)

    /// Cancels every operation still in flight and reaps their last completions (at most
    /// `drainLimit`; cancellation is immediate for every operation Spindle issues). The loop has
    /// ended, so no fiber waits for any of them; but a fiber-less operation — a connection's
    /// armed receive whose cancel was queued as its server drained, a send, an accept — holds its
    /// object (and a receive its delegate, the connection) until its last completion, so leaving
    /// them in the ring would leak one connection's objects per stop. While draining, receivers
    /// get no events and nothing is re-armed; an operation queued meanwhile by a delegate is
    /// cancelled by another cancel-everything queued after it.
    private func finishOperationsInFlight() {
        guard inFlight > 0 else { return }
        slot.acceptorsWillStop()  // an accept's last completion may remove it from the slot
        isDraining = true
        defer { isDraining = false }
        let end = Deadline.now + Self.drainLimit
        var cancelQueued = false
        while inFlight > 0 {
            if !cancelQueued || ring.pendingSubmissions > 0 {
                let sqe = ring.nextSQE()
                sqe.prepareCancelAll()
                sqe.setUserData(0)
                cancelQueued = true
            }
            let now = Deadline.now
            guard now < end else { return }
            ring.submitAndWait(timeoutNanoseconds: end.nanoseconds - now.nanoseconds)
            reap()
        }
    }

    // MARK: - SchedulerDriver

    package func poll(_ scheduler: Scheduler, wait: Bool, until deadline: Deadline?) {
        if !wakerArmed { armWaker() }
        if wait {
            var timeout: UInt64? = nil
            if let deadline {
                let now = Deadline.now
                timeout = deadline > now ? deadline.nanoseconds - now.nanoseconds : 0
            }
            ring.submitAndWait(timeoutNanoseconds: timeout)
        } else if inFlight > 0 || ring.pendingSubmissions > 0 {
            ring.submit()
        } else {
            return
        }
        reap()
    }

    /// Processes every available CQE.
    private func reap() {
        ring.forEachCompletion(batch: batch, batchSize: batchSize) { userData, result, flags in
            dispatch(userData: userData, result: result, flags: flags)
        }
    }

    @inline(__always)
    private func dispatch(userData: UInt64, result: Int32, flags: UInt32) {
        if userData == 0 { return }
        let tag = userData & Tag.mask
        if tag == 0 {
            let completion = UnsafeMutablePointer<Completion>(bitPattern: UInt(userData))!
            completion.pointee.result = result
            completion.pointee.flags = flags
            completion.pointee.done = true
            inFlight -= 1
            scheduler.unpark(completion.pointee.core, with: .ready)
            return
        }
        let object = UnsafeRawPointer(bitPattern: UInt(userData & ~Tag.mask))
        let ended = flags & CompletionFlags.more == 0
        switch Tag(rawValue: tag) {
        case .receiver:
            if ended { inFlight -= 1 }
            Unmanaged<StreamReceiver>.fromOpaque(object!)._withUnsafeGuaranteedRef {
                receiverCompleted($0, result: result, flags: flags, ended: ended)
            }
        case .send:
            inFlight -= 1
            Unmanaged<AsyncSend>.fromOpaque(object!)._withUnsafeGuaranteedRef { sendCompleted($0, result: result) }
        case .acceptor:
            if ended { inFlight -= 1 }
            Unmanaged<Acceptor>.fromOpaque(object!)._withUnsafeGuaranteedRef {
                acceptCompleted($0, result: result, ended: ended)
            }
        case .acceptorPoll:
            if ended { inFlight -= 1 }
            Unmanaged<Acceptor>.fromOpaque(object!)._withUnsafeGuaranteedRef {
                acceptPollCompleted($0, result: result, ended: ended)
            }
        case .waker:
            scheduler.waker.drain()
            if ended { wakerArmed = false }
        case nil:
            misuse("io_uring completion with an unknown user_data tag \(tag): a Spindle bug")
        }
    }

    /// Keeps a multishot poll on the scheduler's eventfd, so `Scheduler.submit` from other
    /// threads wakes a worker waiting in `io_uring_enter`.
    private func armWaker() {
        let sqe = ring.nextSQE()
        sqe.preparePollMultishot(scheduler.waker.fd, events: UInt32(POLLIN))
        sqe.setUserData(Tag.waker.rawValue)
        wakerArmed = true
    }

    @inline(__always)
    static func userData(_ object: AnyObject, _ tag: Tag) -> UInt64 {
        UInt64(UInt(bitPattern: Unmanaged.passUnretained(object).toOpaque())) | tag.rawValue
    }

    /// Asks the kernel to cancel the operation whose `user_data` is `userData`; its CQE
    /// (`-ECANCELED`) follows. Matching by an object's address, which a later object may reuse,
    /// is safe because SQEs are issued in queue order: a cancel queued while the target was
    /// alive is issued before any operation of an object allocated after the target's last CQE
    /// freed it (at worst it finds nothing and completes with `-ENOENT`, unread).
    func cancel(userData: UInt64) {
        let sqe = ring.nextSQE()
        sqe.prepareCancel(userData: userData)
        sqe.setUserData(0)
    }

    // MARK: - Stream receiving

    package func startReceiving(_ receiver: StreamReceiver) {
        guard !receiver.isArmed else { return }  // an armed (or cancelling) read re-arms itself
        guard !isDraining else { return }        // the worker is stopping: nothing is delivered
        armReceive(receiver)
    }

    /// Multishot where the kernel has it (6.0+): one SQE per arming rather than per arrival.
    private func armReceive(_ receiver: StreamReceiver) {
        let sqe = ring.nextSQE()
        if ring.features.multishotRecv {
            sqe.prepareMultishotReceive(receiver.fd)
        } else {
            sqe.prepareReceive(receiver.fd, into: nil, count: buffers.configuration.size)
        }
        sqe.setUserData(Self.userData(receiver, .receiver), selectingBufferFrom: buffers.configuration.group)
        inFlight += 1
        if !receiver.isArmed {
            // The kernel holds the receiver's address until the last CQE: keep it (and its
            // delegate) alive until then, whoever owns them.
            receiver.armedDelegate = receiver.currentDelegate
            _ = Unmanaged.passRetained(receiver)
        }
    }

    package func stopReceiving(_ receiver: StreamReceiver) {
        guard receiver.isArmed, !receiver.cancelling else { return }
        receiver.cancelling = true
        cancel(userData: Self.userData(receiver, .receiver))
    }

    private func receiverCompleted(_ receiver: StreamReceiver, result: Int32, flags: UInt32, ended: Bool) {
        if isDraining {
            drainedReceiverCompleted(receiver, flags: flags, ended: ended)
            return
        }
        if flags & CompletionFlags.buffer != 0 {
            let id = UInt16(truncatingIfNeeded: flags >> CompletionFlags.bufferShift)
            if result > 0 { receiver.deliver(.bytes(UnsafeRawBufferPointer(start: buffers.bytes(id), count: Int(result)))) }
            buffers.recycle(id)
        }
        if result == 0 {
            receiver.deliver(.end)
        } else if result < 0 {
            switch -result {
            case ENOBUFS: receiveBufferExhaustions += 1  // re-armed below: buffers were recycled
            case ECANCELED: break                        // paused or stopped
            default: receiver.deliver(.failed(-result))
            }
        }
        guard ended else { return }
        receiver.cancelling = false
        if receiver.mode == .receiving, receiver.currentDelegate != nil {
            armReceive(receiver)  // ended by the kernel (buffers ran dry), or resumed while cancelling
            return
        }
        disarm(receiver)
    }

    /// A receive's completion while `uninstall` drains: its buffer goes back, nothing is
    /// delivered (no fiber can run any more), and its last completion disarms it.
    private func drainedReceiverCompleted(_ receiver: StreamReceiver, flags: UInt32, ended: Bool) {
        if flags & CompletionFlags.buffer != 0 {
            buffers.recycle(UInt16(truncatingIfNeeded: flags >> CompletionFlags.bufferShift))
        }
        guard ended else { return }
        receiver.cancelling = false
        disarm(receiver)
    }

    /// Drops what arming `receiver` held: its delegate and the kernel's reference.
    private func disarm(_ receiver: StreamReceiver) {
        let delegate = receiver.armedDelegate
        receiver.armedDelegate = nil
        Unmanaged.passUnretained(receiver).release()  // the arming's reference; may free it
        _ = delegate  // released last: it may own (and free) the receiver
    }

    // MARK: - Asynchronous sends

    package func startSending(_ send: AsyncSend) {
        _ = Unmanaged.passRetained(send)  // the kernel holds its address until the last CQE
        submitSend(send)
    }

    /// Queues the send of what `send` has not sent yet (its first part, or the rest after a
    /// short send).
    private func submitSend(_ send: AsyncSend) {
        let sqe = ring.nextSQE()
        sqe.prepareSend(send.fd, send.bytes.baseAddress! + send.sent, count: send.bytes.count - send.sent)
        sqe.setUserData(Self.userData(send, .send))
        inFlight += 1
    }

    package func cancelSending(_ send: AsyncSend) {
        cancel(userData: Self.userData(send, .send))
    }

    /// Closes `fd`: an operation still in flight on it holds the socket until its CQE.
    package func closeSocket(_ fd: Int32) {
        Socket.close(fd)
    }

    private func sendCompleted(_ send: AsyncSend, result: Int32) {
        let errno: Int32
        if result > 0 {
            send.sent += Int(result)
            if send.sent < send.bytes.count && !send.isCancelled && !isDraining { submitSend(send); return }
            errno = send.sent < send.bytes.count ? ECANCELED : 0
        } else {
            errno = result == 0 ? EPIPE : -result
        }
        send.finish(errno: errno)
        Unmanaged.passUnretained(send).release()  // the reference of `startSending`; may free it: last
    }
}
