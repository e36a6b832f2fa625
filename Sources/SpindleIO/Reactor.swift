import CSpindle
import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

// THE io_uring LIFETIME RULE (every operation in SpindleIO follows it):
//
//   Memory referenced by an in-flight SQE — buffers, iovecs and the `Completion` record
//   itself — outlives its CQE. An operation's fiber does not return from `perform`, not on
//   cancellation and not on timeout, until the CQE of its operation has arrived: after a
//   cancel (or its deadline) it asks the kernel to cancel and parks again, uncancellably,
//   until the target CQE is in. So the record and buffers can live on the fiber's own stack.
//
// Deadlines are the scheduler's timers (a heap in user space), not linked timeout SQEs: an
// operation costs one SQE, and only an operation that is actually late costs a second (the
// cancel). Operations no fiber waits for (a connection's idle receive) have no deadline here;
// their owner cancels them (see `cancel(_:)`).
//
// `user_data` encoding: a pointer to the `Completion` on the waiting fiber's stack (8-aligned,
// low bits 0); `0` for CQEs nobody waits for (cancel requests); `wakerTag` for
// the scheduler's eventfd poll; a pointer to a handler's `CompletionRoute` with `multishotTag` in the low
// bits for operations no fiber waits for (multishot accept, a connection's fiber-less
// receive). A CQE therefore resumes at most the one fiber that
// waits for it, and `Scheduler.unpark` refuses any fiber that is not parked.

/// The state of one in-flight operation, on the stack of the fiber waiting for it.
struct Completion {
    let core: CorePointer
    var result: Int32 = 0
    var flags: UInt32 = 0
    var done = false
}

/// Something that keeps operations armed on a ring beyond one fiber's wait.
protocol ReactorBound: AnyObject {
    /// The ring is being torn down; drop every reference to the reactor.
    func reactorWillStop()
}

/// Receives the CQEs of an operation no fiber waits for: a multishot accept, or a connection's
/// fiber-less receive (so an idle keep-alive connection holds no fiber and no stack).
/// `complete` runs on the worker thread, in the scheduler loop (outside any fiber).
/// A handler owns one `CompletionRoute` (made with it, `route.handler = self` at the end of its
/// init) and passes that route to the operations whose CQEs it wants.
package protocol CompletionHandler: AnyObject {
    /// One CQE: `result` (bytes, fd, or -errno) and `flags` (`IORING_CQE_F_MORE` when a
    /// multishot operation stays armed, `IORING_CQE_F_BUFFER` with a provided buffer id).
    func complete(result: Int32, flags: UInt32)
}

/// The object a fiber-less operation's `user_data` points to: it holds its handler as an
/// existential (object + witness table), so a CQE reaches `complete` by a direct call. (Going
/// from a bare object pointer back to the protocol needs a dynamic cast, a conformance-cache
/// lookup per CQE: about 1 % of a keep-alive request's CPU.) One per handler, owned by it.
package final class CompletionRoute {
    /// Set once by the owning handler; `unowned(unsafe)`: the handler owns the route and is
    /// kept alive by its operation until the last CQE, so it outlives every use here.
    @exclusivity(unchecked) package unowned(unsafe) var handler: (any CompletionHandler)? = nil

    package init() {}
}

/// The io_uring event source of one worker: plugs into the worker's `Scheduler` as its driver.
/// Each loop turn submits every queued SQE with one `io_uring_enter` and reaps all CQEs; when
/// nothing is runnable the thread waits in the kernel (no spinning) until a completion, the next
/// timer, or a cross-thread wake on the scheduler's eventfd.
package final class Reactor: SchedulerDriver {
    static let wakerTag: UInt64 = 1
    static let multishotTag: UInt64 = 2

    let ring: Ring
    unowned(unsafe) let scheduler: Scheduler
    /// Provided receive buffers shared by this worker's connections (nil: feature missing).
    package let buffers: BufferRing?
    /// Operations whose CQE has not arrived yet (including armed multishots).
    @exclusivity(unchecked) var inFlight = 0
    @exclusivity(unchecked) private var wakerArmed = false
    private let batch: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
    private let batchSize = 256

    init(scheduler: Scheduler, entries: UInt32, receiveBuffers: BufferRing.Configuration?) throws {
        self.scheduler = scheduler
        self.ring = try Ring(entries: entries)
        try Ring.require(ring.features.noDrop, "IORING_FEAT_NODROP (completions are never dropped)")
        if let receiveBuffers, ring.features.providedBufferRings {
            self.buffers = try BufferRing(ring: ring, configuration: receiveBuffers)
        } else {
            self.buffers = nil
        }
        batch = .allocate(capacity: batchSize)
    }

    deinit { batch.deallocate() }

    /// Makes this reactor the driver of its scheduler and the thread's current reactor.
    func install() {
        scheduler.driver = self
        spindle_set_current_reactor(Unmanaged.passUnretained(self).toOpaque())
    }

    func uninstall() {
        for object in bound.values { object.reactorWillStop() }
        bound.removeAll()
        scheduler.driver = nil
        spindle_set_current_reactor(nil)
    }

    /// Objects with operations armed on this ring that outlive a fiber (multishot accepts):
    /// told when the ring goes away so they never touch it afterwards.
    @exclusivity(unchecked) private var bound: [ObjectIdentifier: ReactorBound] = [:]

    func track(_ object: ReactorBound) { bound[ObjectIdentifier(object)] = object }
    func untrack(_ object: ReactorBound) { bound[ObjectIdentifier(object)] = nil }

    /// The reactor of the calling thread; stops with a message naming `operation` otherwise.
    @inline(__always)
    package static func current(_ operation: @autoclosure () -> String) -> Reactor {
        guard let raw = spindle_current_reactor() else {
            misuse("\(operation()) needs an io_uring worker: run it inside Runtime.run { } (a plain Scheduler.run has no I/O reactor)")
        }
        return Unmanaged<Reactor>.fromOpaque(raw).takeUnretainedValue()
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
        while true {
            let n = Int(io_uring_peek_batch_cqe(ring.ring, batch, UInt32(batchSize)))
            if n == 0 { return }
            for i in 0..<n {
                let cqe = batch[i]!
                dispatch(userData: cqe.pointee.user_data, result: cqe.pointee.res, flags: cqe.pointee.flags)
            }
            io_uring_cq_advance(ring.ring, UInt32(n))
        }
    }

    @inline(__always)
    private func dispatch(userData: UInt64, result: Int32, flags: UInt32) {
        if userData == 0 { return }
        if userData == Self.wakerTag {
            scheduler.waker.drain()
            if flags & IORING_CQE_F_MORE == 0 { wakerArmed = false }
            return
        }
        if userData & 7 == Self.multishotTag {
            if flags & IORING_CQE_F_MORE == 0 { inFlight -= 1 }
            let route = Unmanaged<CompletionRoute>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(userData & ~7))!)
            route._withUnsafeGuaranteedRef { $0.handler!.complete(result: result, flags: flags) }
            return
        }
        let completion = UnsafeMutablePointer<Completion>(bitPattern: UInt(userData))!
        completion.pointee.result = result
        completion.pointee.flags = flags
        completion.pointee.done = true
        inFlight -= 1
        scheduler.unpark(completion.pointee.core, with: .ready)
    }

    /// Keeps a multishot poll on the scheduler's eventfd, so `Scheduler.submit` from other
    /// threads wakes a worker waiting in `io_uring_enter`.
    private func armWaker() {
        let sqe = ring.nextSQE()
        io_uring_prep_poll_multishot(sqe, scheduler.waker.fd, UInt32(POLLIN))
        spindle_sqe_set(sqe, Self.wakerTag, 0)
        wakerArmed = true
    }

    // MARK: - Operations

    /// The `user_data` that routes a CQE to the handler of `route`.
    @inline(__always)
    package static func userData(for route: CompletionRoute) -> UInt64 {
        UInt64(UInt(bitPattern: Unmanaged.passUnretained(route).toOpaque())) | multishotTag
    }

    /// Arms a receive on `fd` into the provided-buffer ring whose CQEs go to the handler of
    /// `route` (no fiber parks). Multishot where the kernel has it (6.0+): it stays armed and
    /// posts one CQE per arrival of bytes, with `IORING_CQE_F_MORE` while it stays armed; a CQE
    /// without that flag ends it (end of stream, an error, `-ENOBUFS` when the ring ran dry, or
    /// `cancel(_:)`: `-ECANCELED`). Without multishot, every CQE ends it. No deadline. The
    /// caller keeps the handler alive until the ending CQE. Requires provided buffer rings.
    /// Cost: one SQE, once per arming rather than once per arrival.
    package func receive(fd: Int32, route: CompletionRoute) {
        let buffers = buffers!
        let sqe = ring.nextSQE()
        if ring.features.multishotRecv {
            io_uring_prep_recv_multishot(sqe, fd, nil, 0, 0)
        } else {
            io_uring_prep_recv(sqe, fd, nil, buffers.configuration.size, 0)
        }
        spindle_sqe_set(sqe, Self.userData(for: route), SPINDLE_IOSQE_BUFFER_SELECT)
        spindle_sqe_set_buf_group(sqe, buffers.configuration.group)
        inFlight += 1
    }

    /// Queues a send of `count` bytes at `bytes` on `fd` whose CQE goes to the handler of `route`
    /// (no fiber parks; the result may be short). The caller keeps the bytes and the handler
    /// alive until the CQE. No deadline: end it with `cancel(_:)`. Cost: one SQE.
    package func send(fd: Int32, from bytes: UnsafeRawPointer, count: Int, route: CompletionRoute) {
        let sqe = ring.nextSQE()
        io_uring_prep_send(sqe, fd, bytes, count, Int32(MSG_NOSIGNAL))
        spindle_sqe_set(sqe, Self.userData(for: route), 0)
        inFlight += 1
    }

    /// Asks the kernel to cancel the pending operation of `route`'s handler; its CQE
    /// (`-ECANCELED`) follows.
    ///
    /// Matching is by `user_data`, i.e. the route's address, which a later object may reuse.
    /// That is safe because SQEs are issued in queue order: a cancel queued while the target
    /// was alive is issued before any operation of an object allocated after the target's
    /// last CQE freed it (at worst it finds nothing and completes with `-ENOENT`, unread).
    package func cancel(_ route: CompletionRoute) {
        let sqe = ring.nextSQE()
        io_uring_prep_cancel64(sqe, Self.userData(for: route), 0)
        spindle_sqe_set(sqe, 0, 0)
    }

    /// Queues one operation prepared by `prepare`, parks the calling fiber until its CQE, and
    /// returns the CQE's result and flags. With a `deadline` (a scheduler timer, no extra SQE),
    /// the operation is cancelled when it passes (`TimeoutError`); cancelling the fiber cancels
    /// the operation (`CancellationError`). Either way the CQE is awaited first (the lifetime
    /// rule). A successful result is returned even if a timeout or cancellation raced it, so no
    /// data is lost. Negative results become `IOError(operation, errno)`.
    @inline(__always)
    package func perform(
        _ operation: @autoclosure () -> String,
        deadline: Deadline? = nil,
        _ prepare: (UnsafeMutablePointer<io_uring_sqe>) -> Void
    ) throws -> (result: Int32, flags: UInt32) {
        let core = Fiber.currentCore(operation())
        if core.isCancelRequested { throw CancellationError() }
        var completion = Completion(core: core)
        var timedOut = false
        let (result, flags) = withUnsafeMutablePointer(to: &completion) { c -> (Int32, UInt32) in
            let userData = UInt64(UInt(bitPattern: c))
            let sqe = ring.nextSQE()
            prepare(sqe)
            spindle_sqe_set(sqe, userData, 0)
            inFlight += 1
            let reason = Fiber.park(core, cancellable: true, deadline: deadline)
            if !c.pointee.done {
                timedOut = reason == .timedOut
                let cancel = ring.nextSQE()
                io_uring_prep_cancel64(cancel, userData, 0)
                spindle_sqe_set(cancel, 0, 0)
                while !c.pointee.done { _ = Fiber.park(core, cancellable: false, deadline: nil) }
            }
            return (c.pointee.result, c.pointee.flags)
        }
        if result >= 0 { return (result, flags) }
        if result == -Int32(ECANCELED) {
            if timedOut { throw TimeoutError() }
            if core.isCancelRequested { throw CancellationError() }
        }
        throw IOError(operation(), errno: -result)
    }
}
