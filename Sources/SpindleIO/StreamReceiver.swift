import SpindleFibers
import SpindleMemory

/// What a stream receiver reports to its delegate.
package enum StreamEvent {
    /// Bytes read from the socket; valid only during the call (the memory is the backend's).
    case bytes(UnsafeRawBufferPointer)
    /// The peer closed its side (end of stream). The receiver is no longer armed.
    case end
    /// The receive failed with this errno (e.g. `ECONNRESET`). The receiver is no longer armed.
    case failed(Int32)
}

/// The owner of a `StreamReceiver`: hears its events on the worker thread, in the scheduler
/// loop (outside any fiber). It must not park; it may call `pause()`, `resume()` or `stop()`.
package protocol StreamReceiverDelegate: AnyObject {
    /// One event. `.bytes` may still come after `pause()` (bytes already taken from the socket),
    /// never after `stop()`.
    func received(_ event: StreamEvent)
}

/// A fiber-less receive on one connection: while receiving, every arrival of bytes is handed to
/// the delegate without any fiber parked, so an idle connection holds no fiber and no stack.
/// The backend keeps its receive armed (io_uring: one multishot receive into provided buffers;
/// epoll: reads on readiness) and re-arms it when the kernel ends it for a reason that is not
/// the connection's (io_uring's provided buffers ran dry). While armed, the backend holds the
/// receiver and its delegate strongly, so neither goes away under a read the kernel still has.
///
///     stopped ──resume()──▶ receiving ──pause()──▶ paused ──resume()──▶ receiving
///        ▲                     │ .end / .failed           │
///        └──────── stop() ─────┴──────────────────────────┘
///
/// Worker thread only. Cost: arming is one submission (io_uring) or nothing (epoll, where the
/// socket is registered once); pausing and stopping are one cancellation on io_uring.
package final class StreamReceiver {
    /// What the owner wants.
    package enum Mode: Equatable {
        /// Not started, stopped by the owner, or ended by `.end`/`.failed`.
        case stopped
        /// Bytes are delivered as they arrive.
        case receiving
        /// No new reads; bytes already read are still delivered.
        case paused
    }

    /// The socket (for the backend).
    package let fd: Int32
    /// The worker's backend, held strongly (a plain reference is borrowed for each call, where
    /// an unowned one was retained and released around it: one atomic pair per call). An object
    /// kept after its runtime has stopped keeps the backend — its ring or epoll descriptor —
    /// until it is freed; the backends release every object they hold when they stop.
    package let backend: any IOBackend
    // `@exclusivity(unchecked)`: worker thread only, short accesses that never span a switch.
    /// What the owner asked for; the backend reads it when the kernel reports.
    @exclusivity(unchecked) package private(set) var mode: Mode = .stopped
    /// Set by the backend while it has a read armed for this receiver (holds the delegate).
    @exclusivity(unchecked) package var armedDelegate: (any StreamReceiverDelegate)? = nil
    /// Set by the backend while a cancellation of the armed read is on its way.
    @exclusivity(unchecked) package var cancelling = false
    @exclusivity(unchecked) private unowned(unsafe) var delegate: (any StreamReceiverDelegate)? = nil
    /// Backend-private state (the epoll backend keeps its registration here).
    @exclusivity(unchecked) package var backendState: AnyObject? = nil

    package init(fd: Int32, backend: any IOBackend) {
        self.fd = fd
        self.backend = backend
        LiveIOObjects.count(LiveIOObjects.receivers, 1)
    }

    deinit { LiveIOObjects.count(LiveIOObjects.receivers, -1) }

    /// True while the backend has a read armed (the kernel may still report).
    package var isArmed: Bool { armedDelegate != nil }

    /// Starts (or restarts) delivering to `delegate`.
    package func start(_ delegate: any StreamReceiverDelegate) {
        self.delegate = delegate
        // Not `resume()`: its nil check reads the unowned delegate back, which retained and
        // released it.
        beginReceiving()
    }

    /// Delivers bytes again after `pause()`; does nothing once stopped by `stop()` or an end.
    package func resume() {
        guard delegate != nil else { return }
        beginReceiving()
    }

    /// Asks the backend for bytes unless it is delivering them already.
    private func beginReceiving() {
        guard mode != .receiving else { return }
        mode = .receiving
        backend.startReceiving(self)
    }

    /// Stops reading the socket until `resume()`; bytes already read are still delivered.
    package func pause() {
        guard mode == .receiving else { return }
        mode = .paused
        backend.stopReceiving(self)
    }

    /// Stops for good: no event is delivered after this call.
    package func stop() {
        guard mode != .stopped || delegate != nil else { return }
        mode = .stopped
        delegate = nil
        backend.stopReceiving(self)
    }

    /// For backends: hands `event` to the delegate unless stopped. `.end` and `.failed` end
    /// receiving (the mode becomes `.stopped`, the delegate is kept for a later `start`).
    @inline(__always)
    package func deliver(_ event: StreamEvent) {
        guard mode != .stopped, let delegate else { return }
        switch event {
        case .bytes: break
        case .end, .failed: mode = .stopped
        }
        delegate.received(event)
    }

    /// For backends: the delegate to hold while a read is armed.
    package var currentDelegate: (any StreamReceiverDelegate)? { delegate }
}
