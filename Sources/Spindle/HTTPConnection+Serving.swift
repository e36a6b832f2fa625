import HTTPTypes
import Logging
import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleMemory

/// The request a fiber is serving: its head (views into the connection's receive buffer and
/// parser) and the state of its body. One per request, in the connection's pooled parser box
/// (`ParserBox.exchange`) while a fiber serves it; no allocation. Every request rewrites it field
/// by field (`restart`), in place; before a box's first request it holds a placeholder head.
struct Exchange {
    var head: HTTPRequestHead
    var decoder: HTTPBodyDecoder
    /// Where the body starts in the receive buffer (the head before it stays valid).
    var bodyBase: Int
    /// Decoded body bytes already consumed from the decoder but not yet handed out.
    var decodedPending: Range<Int> = 0..<0
    /// The client asked for `100 Continue` and has not been sent it.
    var continueOwed: Bool
    /// What the connection does after the response (raised by body failures).
    var after: HTTPConnection.AfterResponse = .keepAlive
    /// Why the body could not be read; later reads fail the same way.
    var bodyFailure: BodyFailure? = nil
    /// The body limit: the server's, or the route's own once routed (`applyRouteBodyLimit`).
    var maxBodyBytes: Int
    /// `bodyFailure` is only that the announced `Content-Length` is over `maxBodyBytes`.
    var announcedLengthRefused = false
    /// Nanoseconds body reads have spent waiting for the client (`bodyTimeout` bounds them), and
    /// the body bytes that arrived meanwhile (for `minimumBodyRate`).
    var bodyWaitNanoseconds: UInt64 = 0
    var bodyBytesWaitedFor = 0
    /// The index of the route that answered it (`Router.routeNames`), set by `dispatch`; nil
    /// while none has (no route, or a middleware answered before routing).
    var route: Int? = nil

    init(head: HTTPRequestHead, limits: HTTPLimits, bodyBase: Int) {
        self.head = head
        decoder = HTTPBodyDecoder(framing: head.framing, limits: limits)
        self.bodyBase = bodyBase
        continueOwed = head.expectsContinue
        maxBodyBytes = limits.maxBodyBytes
        checkAnnouncedLength()
    }

    /// A `Content-Length` over the body limit fails the body before anything reads it (the
    /// head parser does not check it: see `ServerWorker.init`): 413, and the connection closes
    /// lingeringly after the response, without `100 Continue`.
    private mutating func checkAnnouncedLength() {
        guard case .contentLength(let length) = head.framing, maxBodyBytes != 0, length > maxBodyBytes else { return }
        bodyFailure = .malformed(HTTPParseError(.contentTooLarge))
        announcedLengthRefused = true
        after = .closeLingering
        continueOwed = false
    }

    /// Makes `maxBodyBytes` the body's limit (a route's own: `Router.on(_:_:maxBodyBytes:_:)`),
    /// undoing a refusal of the announced length under the old one, and checking the announced
    /// length and the chunked body against the new one. Returns whether the body has failed.
    mutating func applyRouteBodyLimit(_ maxBodyBytes: Int) -> Bool {
        self.maxBodyBytes = maxBodyBytes
        decoder.changeBodyLimit(maxBodyBytes)
        if announcedLengthRefused {
            // Nothing was read (reads threw), no 100 was sent, nothing else raised `after`.
            announcedLengthRefused = false
            bodyFailure = nil
            after = .keepAlive
            continueOwed = head.expectsContinue
        }
        if bodyFailure == nil { checkAnnouncedLength() }
        return bodyFailure != nil
    }

    /// Makes this the exchange of the next request, as `init` would, by assigning each field in
    /// place. (Assigning a new `Exchange` builds it on the stack and copies it twice, a quarter of
    /// a kilobyte each time: 1–2 % of the CPU of a pipelined request.) Inlined into
    /// `beginExchange`, which copied the head and the limits to call it.
    @inline(__always)
    mutating func restart(head: HTTPRequestHead, limits: HTTPLimits, bodyBase: Int) {
        self.head = head
        decoder = HTTPBodyDecoder(framing: head.framing, limits: limits)
        self.bodyBase = bodyBase
        decodedPending = 0..<0
        continueOwed = head.expectsContinue
        after = .keepAlive
        bodyFailure = nil
        maxBodyBytes = limits.maxBodyBytes
        announcedLengthRefused = false
        bodyWaitNanoseconds = 0
        bodyBytesWaitedFor = 0
        route = nil
        checkAnnouncedLength()
    }
}

/// Why a request body could not be read: each ends the connection after the response.
enum BodyFailure {
    /// `bodyTimeout` of waiting passed (`rateTooLow`: the body came slower than `minimumBodyRate`).
    case timedOut(rateTooLow: Bool)
    /// The framing is invalid or over a limit (its status: 400, 413, 431).
    case malformed(HTTPParseError)
    /// A chunk line or trailer larger than the receive buffer.
    case framingTooLarge
    /// The client closed its side before the end of the body.
    case clientClosed

    /// The error body reads throw (and the response when the handler does not answer it itself).
    var error: HTTPError {
        switch self {
        case .timedOut(let rateTooLow):
            HTTPError(.requestTimeout, rateTooLow ? "the request body arrives too slowly" : "the request body did not arrive in time")
        case .malformed(let error):
            HTTPError(error.status, error.reason.explanation)
        case .framingTooLarge:
            HTTPError(.contentTooLarge, "request body framing larger than the receive buffer")
        case .clientClosed:
            HTTPError(.badRequest, "the client closed the connection before the end of the body")
        }
    }
}

// The serving fiber: one per complete head; it answers that request and the complete requests
// buffered behind it, in order, then ends (`servingEnded`).
extension HTTPConnection {
    /// The request whose head `parseHead` just completed (`consumed` bytes of `buffer`) becomes
    /// the one being served. Inlined into its two callers (the head of a fiber's first request
    /// and of each pipelined one): the call copied the head once more.
    @inline(__always)
    func beginExchange(_ head: HTTPRequestHead, consumed: Int) {
        if case .none = head.framing {} else if buffer.unsafelyUnwrapped.isSmall {
            beginExchangeWithBody(head, consumed: consumed)
            return
        }
        beginExchange(head, consumed: consumed, in: buffer.unsafelyUnwrapped)
    }

    /// `beginExchange` for a request with a body whose head came in a small buffer: when the
    /// body is still to come, the exchange moves to a large buffer (the head rebased there),
    /// since the body is received into it.
    @inline(never)
    private func beginExchangeWithBody(_ head: HTTPRequestHead, consumed: Int) {
        let small = buffer.unsafelyUnwrapped
        if bodyNeedsRoom(head, buffered: small.end - small.start - consumed), let large = useLargeBuffer() {
            beginExchange(head.rebased(to: large.memory), consumed: consumed, in: large)
        } else {
            beginExchange(head, consumed: consumed, in: small)
        }
    }

    /// Makes the exchange of `head` (in `buffer`, which is `self.buffer`) the one being served.
    @inline(__always)
    private func beginExchange(_ head: HTTPRequestHead, consumed: Int, in buffer: ReceiveBuffer) {
        buffer.start += consumed
        hasBegunARequest = true
        parserBox!.exchange.restart(head: head, limits: worker.configuration.limits, bodyBase: buffer.start)
        parserBox!.hasExchange = true
    }

    /// True when a body (chunked, or longer than the `buffered` bytes behind its head) will be
    /// received into the buffer: a small one would not do.
    private func bodyNeedsRoom(_ head: HTTPRequestHead, buffered: Int) -> Bool {
        switch head.framing {
        case .none: false
        case .contentLength(let length): length > buffered
        case .chunked: true
        }
    }

    /// The serving fiber's body. It looks up its fiber's core once, for the diagnostics of the
    /// requests it serves (`recordServing` before each, `checkStackDepth` once after them: the
    /// probe loads a line of the stack that is rarely in the cache), and takes one request scope
    /// for them all: pipelined requests reuse it, its arena reset between them (what giving it
    /// back and taking it again did, without the two trips through the pool).
    func serve() {
        let core = Fiber.currentCore("HTTPConnection.serve")
        worker.servingStarted()
        var after = AfterResponse.keepAlive
        var halfHeadSince: Deadline? = nil
        var clock = RequestClock(recording: worker.metrics.recordsRequests)
        let scope = worker.takeScope()
        var served = 0
        serving: while true {
            recordServing(in: core)
            after = respond(clock: &clock, scope: scope)
            served &+= 1
            parserBox!.parser.reset()
            guard after == .keepAlive else { break }
            guard case .serving = state, !worker.stopping else { after = .close; break }
            switch parseNextHead() {
            case .complete:
                scope.arena.reset()
                continue serving
            case .nothing:
                break
            case .partial(let since):
                halfHeadSince = since
            case .malformed(let error):
                worker.metrics.parseError(error)
                let output = batchForWriting()
                output.writer.writeError(error, into: &output.buffer)
                after = .closeLingering
            }
            break
        }
        checkStackDepth(in: core, requestsServed: served)  // before servingEnded gives the head's buffer back
        worker.giveBack(scope: consume scope)  // (a copy retained it, and the local was released at the end)
        forgetServing(in: core)
        servingEnded(after, halfHeadSince: halfHeadSince)
        worker.servingFinished(&clock)  // the requests' count, then their clock settled
    }

    /// What the receive buffer holds after a response.
    enum NextHead {
        /// A complete head: `exchange` is the next request.
        case complete
        /// Nothing.
        case nothing
        /// The first bytes of a head (found now, `since`).
        case partial(since: Deadline)
        /// Bytes that cannot become a head: answer this error and close.
        case malformed(HTTPParseError)
    }

    /// Parses the next pipelined head from the buffered bytes (overflow absorbed first; the
    /// previous request's views are gone, so the buffer may be compacted); a complete one becomes
    /// `exchange`.
    private func parseNextHead() -> NextHead {
        absorbOverflow(compacting: true)
        // The bytes, not the buffer: binding the buffer retained and released it. The
        // connection's `buffer` keeps them (the lifetime rule).
        guard let readable = buffer?.readable, !readable.isEmpty else { return .nothing }
        switch parserBox!.parser.parseHead(readable) {
        case .complete(let head, let consumed):
            beginExchange(head, consumed: consumed)
            return .complete
        case .incomplete:
            // A full buffer of head with more bytes behind it cannot become a head.
            return hasOverflow ? .malformed(HTTPParseError(.headerSectionTooLarge)) : .partial(since: .runNow)
        case .error(let error):
            return .malformed(error)
        }
    }

    /// Serves `exchange`: the router's answer (middleware, route, handler: `Router.respond`),
    /// the body left behind, the response written, its `onWritten` handlers run. Returns what the
    /// connection does next. `clock` times it (see `RequestClock`); `scope` is the request's
    /// (its arena fresh).
    private func respond(clock: inout RequestClock, scope: RequestScope) -> AfterResponse {
        let head = parserBox!.exchange.head
        parserBox!.forgetRewrittenPaths()  // the previous request's
        worker.nextRequestID &+= 1
        let requestID = (UInt64(worker.index) << 48) | worker.nextRequestID
        var context = Context(requestID: requestID, scope: scope)
        let request = Request(head: head, source: .connection(.passUnretained(self)), bodyFailedBeforeRouting: parserBox!.exchange.bodyFailure != nil)
        let response = worker.respond(request, &context)
        guard case .serving = state else {  // closed under the handler: nobody to answer
            worker.metrics.requestsCancelled &+= 1
            countBodyFailure()
            return .close
        }
        // Leave the body behind us: small rests are read and dropped (their framing checked),
        // large or slow ones end the connection; an invalid rest is answered instead of the
        // handler's response (which never saw the body), its `onWritten` handlers kept.
        if parserBox!.exchange.bodyFailure == nil && !parserBox!.exchange.decoder.isComplete,
           let replacement = leaveBodyBehind(answering: response) {
            return send(replacement, for: head, clock: &clock, scope: scope)
        }
        return send(response, for: head, clock: &clock, scope: scope)
    }

    /// Reads and drops the rest of the request's body (up to 64 KiB), or marks the connection
    /// to close after the response when it is larger, slower, or a `100 Continue` was never
    /// sent. Returns the response to send instead of `response` when the rest is invalid: the
    /// body's error, with `response`'s `onWritten` handlers. Out of line: most requests have no
    /// body left (`respond` asks first).
    @inline(never)
    private func leaveBodyBehind(answering response: Response) -> Response? {
        if parserBox!.exchange.continueOwed {
            parserBox!.exchange.after = .closeLingering  // 100 was never sent: do not ask for the body now
            return nil
        }
        switch skipBody(upTo: 64 << 10) {
        case .skipped:
            return nil
        case .unfinished:
            parserBox!.exchange.after = .closeLingering
            return nil
        case .invalid(let failure):
            let error = failure.error
            var replacement = Response.text(error.message + "\n", status: error.status)
            replacement.writtenHandlers = response.writtenHandlers
            return replacement
        }
    }

    /// `respond`'s second half: `response` written for `head` (or the connection upgraded), the
    /// request counted, the `onWritten` handlers run. Returns what the connection does next.
    /// Inlined into both of `respond`'s calls: the handler's response is passed where it lies,
    /// where a `var` holding either it or a replacement was copied once more for `write`.
    @inline(__always)
    private func send(_ response: Response, for head: HTTPRequestHead, clock: inout RequestClock, scope: RequestScope) -> AfterResponse {
        if let upgrade = response.upgrade, response.status == .switchingProtocols, parserBox!.exchange.after == .keepAlive {
            countAnswered(head, status: response.status.code, clock: &clock, scope: scope)
            clock.settle(&worker.metrics)  // before the session, which may last hours
            performUpgrade(response, upgrade, written: { response.runWrittenHandlers(WrittenResponse(status: response.status, bodyBytes: 0)) })
            return .close
        }
        var after = parserBox!.exchange.after
        let keepAlive = head.keepAlive && after == .keepAlive && !worker.stopping  // stopping: say so
        let mustClose: Bool
        var bodyBytes = 0
        do {
            mustClose = try write(response, for: head, keepAlive: keepAlive, bodyBytes: &bodyBytes)
        } catch {
            countAnswered(head, status: response.status.code, clock: &clock, scope: scope)
            return .close  // the connection failed (and is closing)
        }
        countAnswered(head, status: response.status.code, clock: &clock, scope: scope)
        if response.hasWrittenHandlers {
            response.runWrittenHandlers(WrittenResponse(status: response.status, bodyBytes: bodyBytes))
        }
        if mustClose || !keepAlive {
            after = max(after, response.status.code >= 400 ? .closeLingering : .close)
        }
        return after
    }

    /// Counts the request in the worker's metrics: method, status, the arena's use (when
    /// requests are counted), and how its body failed, if it did; `clock` times it, for its
    /// route's row too.
    @inline(__always)
    private func countAnswered(_ head: HTTPRequestHead, status: Int, clock: inout RequestClock, scope: RequestScope) {
        countBodyFailure()
        guard worker.metrics.recordsRequests else { return }
        worker.requestAnswered(head, status: status, route: parserBox!.exchange.route, clock: &clock, arena: scope.arena)
    }

    /// The route with index `route` answers the request being served (`dispatch` calls it).
    @inline(__always)
    func routed(to route: Int) {
        parserBox?.exchange.route = route
    }

    /// Counts how the request's body failed (a timeout, a parse error), if it did.
    @inline(__always)
    private func countBodyFailure() {
        if let failure = parserBox!.exchange.bodyFailure { worker.metrics.bodyFailed(failure) }
    }

    /// The error body reads throw once the body failed (nil while it has not; nil without a
    /// fiber, when nothing may read it).
    var bodyFailureError: HTTPError? {
        guard hasFiber else { return nil }
        return parserBox?.exchange.bodyFailure?.error
    }

    /// The routed request's own body limit (`Exchange.applyRouteBodyLimit`); returns whether
    /// the body has failed. Without a fiber nothing may read the body: false.
    func applyRouteBodyLimit(_ maxBodyBytes: Int) -> Bool {
        guard hasFiber, hasExchange else { return false }
        return parserBox!.exchange.applyRouteBodyLimit(maxBodyBytes)
    }

    /// True when the connection was closed under the serving fiber (it is being cancelled).
    var isCancelling: Bool {
        if case .cancelling = state { return true }
        return false
    }

    // MARK: - Parking the serving fiber

    /// Parks the serving fiber until `wakeWaiter` (bytes, end of input, a send's completion, a
    /// close), `deadline`, or its cancellation; a fiber dump shows it waiting for `waiting`.
    func park(deadline: Deadline?, waiting: FiberWaitReason) -> WakeReason {
        let core = Fiber.currentCore("HTTPConnection.park")
        waiter = core
        let reason = Fiber.park(core, cancellable: true, deadline: deadline, for: waiting)
        waiter = nil
        return reason
    }

    /// Wakes the serving fiber if it is parked in `park(deadline:)` (it re-checks what it waits for).
    func wakeWaiter() {
        guard let waiter else { return }
        self.waiter = nil
        waiter.scheduler._withUnsafeGuaranteedRef { _ = $0.unpark(waiter, with: .ready) }
    }
}
