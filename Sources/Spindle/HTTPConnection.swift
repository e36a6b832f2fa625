import HTTPTypes
import Logging
import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleMemory

// THE LIFETIME RULE (every path of a connection keeps it):
//
//   The receive buffer, the parser and the request being served (`exchange`, whose head views
//   point into both) belong to the serving fiber from the moment its head is complete until the
//   fiber has ended, whatever the socket does meanwhile. Closing a connection that has a fiber
//   on it — a reset, a failed send, shutdown's force close — only cancels the fiber
//   (`State.cancelling`): its parked waits and I/O end with `CancellationError` and its later
//   I/O fails at once, but the socket stays open and the buffers stay put. The fiber's end
//   (`servingEnded`) is the one place that then gives them back to their pools and closes the
//   socket. So a `Request` is valid for its whole handler, and no write ever meets a closed
//   socket. Without a fiber (idle, reading a head, sending the last response, lingering), the
//   scheduler loop owns everything and closes at once. An asynchronous send owns its output
//   buffer until its completion, in every state (closed included).
//
// The state is one enum, `State`, assigned only by the transitions in this file (its setter is
// private to it); the other files of `HTTPConnection` read it and call these transitions:
// +Receiving (the fiber-less receive and head parsing), +Serving (the serving fiber),
// +Body (request bodies and their deadlines), +Output (batching, sends, streamed bodies).

/// One client connection: a state machine driven by its fiber-less receive, its asynchronous
/// sends, its timeouts and its serving fiber (`State`; the transitions are below).
///
///               bytes                 head complete
///      idle ──────────▶ readingHead ───────────────▶ serving ──── close() ────▶ cancelling
///       │ ▲                 │   ▲                     │ │ │     (reset, failed      │
///       │ │                 │   └─ fiber ends, half ──┘ │ │      send, shutdown's   │ fiber
///       │ │                 │      a head buffered      │ │      force close)       │ ends
///       │ └─ fiber ends, keep-alive, nothing buffered ──┘ │                         ▼
///       │                   │ malformed head:             │ fiber ends: must      closed
///       │ FIN, shutdown     │ its 4xx, no fiber           │ close (or FIN came)     ▲
///       └────────────────▶ sendingLast ◀──────────────────┘                         │
///                           │       │ sent, after an error response: FIN            │
///                           │       ▼                                               │
///                           │     lingering ── client's FIN, byte budget, timeout ──┤
///                           └── sent, no lingering ─────────────────────────────────┤
///      idle, readingHead, sendingLast, lingering ── timeout, reset, close() ────────┘
///
/// While idle or reading a head, no fiber and no stack is involved, and the deadline is an
/// entry in the worker's `ConnectionTimeouts`. A complete head takes a fiber, which serves that
/// request and the pipelined ones after it, in order, then ends. The multishot receive stays
/// armed the whole time: bytes that arrive while the fiber serves (a body, the next requests)
/// are appended to the receive buffer, or to an overflow array when they do not fit behind the
/// bytes in use; past `overflowLimit` the receive is paused until the fiber has caught up.
/// An idle connection holds this object and its socket object, and no receive buffer, parser
/// or stack.
///
/// Responses to pipelined requests are gathered in one output batch and sent together when no
/// further complete request is buffered (or before anything that waits on the client: reading
/// a body, a streamed response), so a batch of N pipelined requests costs one `send`, not N.
/// The batch a fiber leaves behind goes out in an asynchronous send that needs no fiber.
final class HTTPConnection: StreamReceiverDelegate, AsyncSendDelegate {
    /// What the connection is doing; see the diagram above. Data valid in one state only is its
    /// associated value; the buffers of the lifetime rule are held in `readingHead`, `serving`
    /// and `cancelling`.
    enum State {
        /// Between requests: no fiber, no receive buffer, no parser. The receive is armed and the
        /// idle timeout runs. (The previous response may still be sending: `sending`.)
        case idle
        /// Part of a head is buffered (receive buffer and parser held); the head timeout runs
        /// from `since`, the arrival of its first byte.
        case readingHead(since: Deadline)
        /// `fiber` serves the buffered request(s) and owns the buffers. `inputEnded`: the client
        /// has closed its side (FIN); what it sent is still answered (a half-close never cuts a
        /// response), then the connection closes.
        case serving(Fiber, inputEnded: Bool)
        /// Closed while a fiber served: the fiber is cancelled; the connection closes when it ends.
        case cancelling
        /// The last response is being sent (a batch may wait behind the send in flight); then
        /// the connection closes, lingeringly if `linger`. Input is read and dropped. Bounded by
        /// the idle timeout, like an idle connection whose response the client does not read.
        case sendingLast(linger: Bool)
        /// Lingering close: FIN sent after an error response; input is read and dropped until the
        /// client closes, `remaining` more bytes have come, or `lingeringCloseTimeout` passes.
        case lingering(remaining: Int)
        /// Socket closed, buffers given back.
        case closed
    }

    /// What the connection does after a response (only ever raised during a request).
    enum AfterResponse: Comparable {
        /// Wait for the next request.
        case keepAlive
        /// Close once the response is sent.
        case close
        /// Close once it is sent, lingeringly (the client may still be sending).
        case closeLingering
    }

    /// Strong, and `let`: a method called on `worker` borrows it from the connection, with no
    /// reference count (an `unowned(unsafe)` one was retained and released around each call
    /// that used it). The worker's `connections` holds the connection until `finishClose`, so
    /// each open connection is a cycle that its closing breaks.
    let worker: ServerWorker
    let socket: TCPConnection
    // `@exclusivity(unchecked)` on the fields below: they are touched only on the worker's
    // thread, in short statements that never span a fiber switch, so the dynamic checks (about
    // 2 % of the CPU per request) could never fire.
    /// The one state; assigned only by the transitions below.
    @exclusivity(unchecked) private(set) var state: State = .idle
    /// Links and deadline in the worker's `ConnectionTimeouts` (owned by it).
    @exclusivity(unchecked) var timeoutLinks = TimeoutLinks<HTTPConnection>()
    // Input (the lifetime rule): held in readingHead, serving and cancelling.
    @exclusivity(unchecked) var buffer: ReceiveBuffer? = nil
    @exclusivity(unchecked) var parserBox: ParserBox? = nil
    /// Bytes received while serving that did not fit in `buffer` behind the bytes in use, from
    /// `overflowStart` on (allocated only then; freed once absorbed).
    @exclusivity(unchecked) var overflow: [UInt8] = []
    @exclusivity(unchecked) var overflowStart = 0
    /// The request being served is `parserBox!.exchange` (`ParserBox.exchange`): meaningful
    /// only while a fiber serves (serving, cancelling), when the connection holds the box; it
    /// may hold an earlier request's values, or the placeholder head of a box that served none
    /// (`hasExchange` false), otherwise, which nothing reads. Its fields are read
    /// and written through the box (`parserBox!.exchange.field`), never as a copy of the whole
    /// quarter-kilobyte value (a computed `exchange` property copied it on every read).
    @inline(__always)
    var hasExchange: Bool {
        guard let parserBox else { return false }
        return parserBox.hasExchange
    }
    /// True once a request of this connection began to be served (for the stop's grace).
    @exclusivity(unchecked) var hasBegunARequest = false
    /// The serving fiber while it is parked in `park(deadline:)`, for `wakeWaiter`.
    @exclusivity(unchecked) var waiter: CorePointer? = nil
    // Output, in any state: responses written and not sent yet, and the send in flight.
    @exclusivity(unchecked) var batch: OutputBox? = nil
    @exclusivity(unchecked) var sending: OutputBox? = nil

    /// The body of every serving fiber of this connection, made once (a closure written at the
    /// spawn would allocate its context per request). It captures the connection strongly: a
    /// closure whose only capture is one object uses that object as its context, so it
    /// allocates nothing (an unowned capture needs a 32-byte box, which every idle connection
    /// kept). The cycle this makes (the connection holds the closure, the closure the
    /// connection) is broken in `finishClose`, which every connection goes through.
    @exclusivity(unchecked) private var serveEntry: () -> Void = {}

    init(worker: ServerWorker, socket: TCPConnection) {
        self.worker = worker
        self.socket = socket
        serveEntry = { [self] in serve() }
    }

    /// True while a fiber serves (or was serving when closed): it owns the buffers.
    var hasFiber: Bool {
        switch state {
        case .serving, .cancelling: true
        default: false
        }
    }

    // MARK: - Transitions (the only assignments of `state`)

    /// A new connection (from the accept loop): wait for its first request.
    func startReceiving() {
        guard case .idle = state else { return }
        armTimeout()
        socket.startReceiving(self)
    }

    /// The first bytes of a head arrived while idle (idle → readingHead).
    func headStarted() {
        guard case .idle = state else { return }
        state = .readingHead(since: .runNow)
    }

    /// `exchange` holds a complete head (readingHead → serving): a fiber serves it.
    func startServing() {
        guard case .readingHead = state else { return }
        worker.disarmTimeout(of: self)
        state = .serving(Fiber.spawn(name: nil, serveEntry).fiber, inputEnded: false)
    }

    /// The serving fiber is done with the buffers (it is ending): what the connection does next.
    /// `halfHeadSince`: the first bytes of the next head are buffered, since then.
    func servingEnded(_ after: AfterResponse, halfHeadSince: Deadline?) {
        switch state {
        case .serving(_, let inputEnded):
            if after != .keepAlive || inputEnded {
                closeAfterSending(linger: after == .closeLingering && !inputEnded)
            } else if let since = halfHeadSince {
                state = .readingHead(since: since)
                sendBatch()
                armTimeout()
                socket.startReceiving(self)  // if paused (overflow)
            } else {
                state = .idle
                releaseBuffers()
                sendBatch()
                armTimeout()
                socket.startReceiving(self)
            }
        case .cancelling:
            finishClose()
        case .idle, .readingHead, .sendingLast, .lingering, .closed:
            assertionFailure("HTTPConnection.servingEnded in \(state)")
        }
    }

    /// No fiber (any more): send what is batched, then close, lingeringly if `linger`
    /// (→ sendingLast). A batch may wait behind a send in flight; `sendCompleted` goes on.
    func closeAfterSending(linger: Bool) {
        let linger = linger && !worker.stopping && worker.configuration.lingeringCloseTimeout > .zero
        state = .sendingLast(linger: linger)
        releaseBuffers()
        sendBatch()
        guard sending != nil else { lastResponseSent(); return }
        armTimeout()
        if linger { socket.startReceiving(self) }  // keep reading (and dropping) meanwhile
    }

    /// Everything is sent (sendingLast → lingering, or closed): half-close and linger, or close.
    func lastResponseSent() {
        guard case .sendingLast(let linger) = state else { return }
        guard linger, (try? socket.shutdown(.write)) != nil else { finishClose(); return }
        state = .lingering(remaining: worker.configuration.lingeringCloseMaxBytes)
        armTimeout()
        socket.startReceiving(self)
    }

    /// The client closed its side (FIN).
    func inputEnded() {
        switch state {
        case .idle, .readingHead:
            closeAfterSending(linger: false)  // a response still being sent finishes first
        case .serving(let fiber, _):
            state = .serving(fiber, inputEnded: true)
        case .sendingLast:
            state = .sendingLast(linger: false)
        case .lingering:
            finishClose()
        case .cancelling, .closed:
            break
        }
    }

    /// `count` bytes were read and dropped while closing: a lingering close ends past its budget.
    func dropped(_ count: Int) {
        guard case .lingering(let remaining) = state else { return }
        if count >= remaining { finishClose() } else { state = .lingering(remaining: remaining - count) }
    }

    /// Closes now: at once without a fiber; with one, cancels it and closes when it has ended
    /// (the lifetime rule). The send in flight, if any, is cancelled by the socket's close.
    func close() {
        switch state {
        case .serving(let fiber, _):
            state = .cancelling
            socket.stopReceiving()
            fiber.cancel()
            wakeWaiter()
        case .idle, .readingHead, .sendingLast, .lingering:
            finishClose()
        case .cancelling, .closed:
            break
        }
    }

    /// Closes with no fiber on the connection: gives everything back, closes the socket.
    private func finishClose() {
        state = .closed
        worker.disarmTimeout(of: self)
        releaseBuffers()
        if let batch = batch.take() { worker.giveBack(output: batch) }
        socket.close()  // stops the receive, cancels a send in flight (its buffer comes back in sendCompleted)
        serveEntry = {}  // breaks the cycle through the closure (a fiber still running it holds its own)
        worker.connectionClosed(self)
    }

    /// Gives the receive buffer, the parser and the request back. Only without a fiber, or from
    /// the serving fiber as it ends (the lifetime rule).
    private func releaseBuffers() {
        if !overflow.isEmpty { overflow = [] }
        overflowStart = 0
        // Moved out of the fields (`take()`), so no reference count changes hands.
        if let buffer = buffer.take() {
            worker.giveBack(buffer: buffer)
        }
        if let parserBox = parserBox.take() { worker.giveBack(parser: parserBox) }
    }

    // MARK: - Timeouts and shutdown

    /// Arms the deadline of the current state (or none while a fiber serves).
    func armTimeout() {
        switch state {
        case .idle, .sendingLast:
            worker.armTimeout(of: self, .idle, deadline: worker.idleDeadline)
        case .readingHead(let since):
            if timeoutLinks.kind != .head {  // kept across receives
                worker.armTimeout(of: self, .head, deadline: since + worker.configuration.headTimeout)
            }
        case .lingering:
            worker.armTimeout(of: self, .linger, deadline: .runNow + worker.configuration.lingeringCloseTimeout)
        case .serving, .cancelling, .closed:
            worker.disarmTimeout(of: self)
        }
    }

    /// The deadline of the current state passed (idle, head, last send, lingering): close.
    func timedOut() {
        guard !hasFiber else { return }  // never armed while a fiber serves
        switch state {
        case .idle, .sendingLast: worker.metrics.timedOut(.idle)
        case .readingHead: worker.metrics.timedOut(.head)
        case .lingering: worker.metrics.timedOut(.linger)
        case .serving, .cancelling, .closed: break
        }
        close()
    }

    /// At shutdown: close now, unless a request is being served (it closes after its
    /// response) or a response is still being sent (it closes once sent, without lingering).
    func closeIfIdle() {
        switch state {
        case .idle, .readingHead:
            closeAfterSending(linger: false)
        case .sendingLast:
            state = .sendingLast(linger: false)
        case .lingering:
            finishClose()
        case .serving, .cancelling, .closed:
            break
        }
    }

    /// True while the connection waits for a request (idle, or reading a head): a stop gives it
    /// a moment for one (`ServerWorker.drain`).
    var awaitsRequest: Bool {
        switch state {
        case .idle, .readingHead: true
        default: false
        }
    }

    /// True until the connection has had a complete request head (idle or reading its first).
    var awaitsFirstRequest: Bool { awaitsRequest && !hasBegunARequest }

    /// At the end of the grace period: close whatever is left (a fiber still serving is
    /// cancelled, and the connection closes when it has ended).
    func forceClose() {
        close()
    }
}
