import SpindleFibers
import SpindleMemory

/// The owner of an `AsyncSend`: told once, on the worker thread in the scheduler loop (outside
/// any fiber), when all the bytes were sent or the send failed. It must not park.
package protocol AsyncSendDelegate: AnyObject {
    /// `errno` is 0 when every byte was sent, else why not (`ECANCELED` after `cancel()`,
    /// `EPIPE`/`ECONNRESET` when the peer went away, ...).
    func sendCompleted(errno: Int32)
}

/// A send no fiber waits for: the bytes go out (short sends are continued by the backend) while
/// the fiber that wrote them has moved on or ended. One at a time per connection. The caller
/// keeps the bytes alive and unchanged until the delegate hears; the backend holds the send and
/// its delegate strongly until then. Worker thread only.
package final class AsyncSend {
    /// The socket (for the backend); another one's when the send is reused (`reused`).
    @exclusivity(unchecked) package private(set) var fd: Int32
    /// The worker's backend, held strongly (a plain reference is borrowed for each call, where
    /// an unowned one was retained and released around it: one atomic pair per call). An object
    /// kept after its runtime has stopped keeps the backend — its ring or epoll descriptor —
    /// until it is freed; the backends release every object they hold when they stop.
    package let backend: any IOBackend
    // `@exclusivity(unchecked)`: worker thread only, short accesses that never span a switch.
    /// The bytes being sent and how many went out so far (for the backend).
    @exclusivity(unchecked) package private(set) var bytes = UnsafeRawBufferPointer(start: nil, count: 0)
    @exclusivity(unchecked) package var sent = 0
    /// Set by the owner's `cancel()`; the backend stops continuing short sends.
    @exclusivity(unchecked) package private(set) var isCancelled = false
    @exclusivity(unchecked) private var delegate: (any AsyncSendDelegate)? = nil
    /// Backend-private state.
    @exclusivity(unchecked) package var backendState: AnyObject? = nil

    package init(fd: Int32, backend: any IOBackend) {
        self.fd = fd
        self.backend = backend
        LiveIOObjects.count(LiveIOObjects.sends, 1)
    }

    deinit { LiveIOObjects.count(LiveIOObjects.sends, -1) }

    /// A send for `fd`: a spare of this thread's (`IOThreadState.spareSends`) when it has one
    /// for `backend`, else a new one (allocates ~100 bytes). Worker thread only.
    static func reused(fd: Int32, backend: any IOBackend) -> AsyncSend {
        if let slot = IOThreadState.currentSlot, let spare = slot.spareSends.last,
           ObjectIdentifier(spare.backend) == ObjectIdentifier(backend) {
            slot.spareSends.removeLast()
            spare.fd = fd
            return spare
        }
        return AsyncSend(fd: fd, backend: backend)
    }

    /// Keeps `send` (not in flight, held by no connection any more) for `reused`, unless the
    /// thread has enough spares (then it is freed). Worker thread only.
    static func recycle(_ send: AsyncSend) {
        guard !send.isInFlight, let slot = IOThreadState.currentSlot,
              slot.spareSends.count < IOThreadState.maxSpareSends else { return }
        send.fd = -1
        slot.spareSends.append(send)
    }

    /// True from `start` until the delegate has been told.
    package var isInFlight: Bool { delegate != nil }

    /// Sends all of `bytes`; `delegate` hears when done. Misuse while another send is in flight.
    package func start(_ bytes: UnsafeRawBufferPointer, delegate: any AsyncSendDelegate) {
        misusePrecondition(self.delegate == nil, "AsyncSend.start while a send is in flight; wait for sendCompleted")
        self.bytes = bytes
        sent = 0
        isCancelled = false
        self.delegate = delegate
        backend.startSending(self)
    }

    /// Cancels the send in flight (nothing if none).
    package func cancel() {
        guard delegate != nil, !isCancelled else { return }
        isCancelled = true
        backend.cancelSending(self)
    }

    /// For backends: the send is over. Tells the delegate and drops the reference to it (which may
    /// free this object: the caller must not touch it afterwards).
    package func finish(errno: Int32) {
        guard let delegate else { return }
        self.delegate = nil
        bytes = UnsafeRawBufferPointer(start: nil, count: 0)
        delegate.sendCompleted(errno: errno)
    }
}
