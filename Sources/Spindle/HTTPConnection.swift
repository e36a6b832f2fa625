import HTTPTypes
import Logging
import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// One client connection and its state machine:
///
///     idle ──bytes──▶ head incomplete ──bytes──▶ head complete ──▶ serving (a fiber)
///       ▲                                                             │
///       └───────────── keep-alive, nothing buffered ◀─────────────────┘
///
/// One multishot receive into the worker's provided-buffer ring stays armed for the life of the
/// connection (re-armed only when the kernel ends it); its CQEs come back here
/// (`CompletionHandler`), in the scheduler loop. While idle or waiting for the rest of a head,
/// no fiber and no stack is involved, and the deadline is an entry in the worker's
/// `ConnectionTimeouts`. Only a complete head takes a fiber, which serves that request and any
/// pipelined ones after it, in order, then ends. Bytes that arrive while it serves (a body, the
/// next requests) are appended to the receive buffer, or to an `overflow` array when they do
/// not fit behind the bytes in use (provided buffers always go straight back to the ring);
/// past `overflowLimit` the receive is cancelled until the fiber has caught up.
/// An idle connection holds this object and its socket object, and no receive buffer, parser
/// or stack.
///
/// Responses to pipelined requests are gathered in one output buffer and sent together when no
/// further complete request is buffered (or before anything that waits on the client: reading
/// a body, a streamed response), so a batch of N pipelined requests costs one `send`, not N.
final class HTTPConnection: StreamReceiverDelegate, AsyncSendDelegate {
    unowned(unsafe) let worker: ServerWorker
    let socket: TCPConnection
    // `@exclusivity(unchecked)` on the fields below: they are touched only on the worker's
    // thread, in short statements that never span a fiber switch, so the dynamic checks (about
    // 2 % of the CPU per request) could never fire.
    // Links and deadline in the worker's `ConnectionTimeouts` (owned by it).
    @exclusivity(unchecked) var timeoutLinks = TimeoutLinks<HTTPConnection>()
    @exclusivity(unchecked) private var buffer: ReceiveBuffer? = nil
    @exclusivity(unchecked) private var parserBox: ParserBox? = nil
    @exclusivity(unchecked) private var headStartedAt: Deadline? = nil
    /// Bytes received while serving that did not fit in `buffer` behind the bytes in use, from
    /// `overflowStart` on (allocated only then; freed once absorbed).
    @exclusivity(unchecked) private var overflow: [UInt8] = []
    @exclusivity(unchecked) private var overflowStart = 0
    /// The client closed its side (a receive returned 0) while a request was being served.
    @exclusivity(unchecked) private var peerClosed = false
    /// The errno of a receive that failed while a request was being served.
    @exclusivity(unchecked) private var receiveError: Int32 = 0
    /// The serving fiber, parked in `readBody` until bytes arrive.
    @exclusivity(unchecked) private var bytesWaiter: CorePointer? = nil
    @exclusivity(unchecked) private var closed = false
    @exclusivity(unchecked) private var serving: Fiber? = nil
    /// Responses written but not sent yet (pipelined batch).
    @exclusivity(unchecked) private var pendingOutput: OutputBox? = nil
    /// The batch being sent after its fiber ended (owned by the send until its CQE).
    @exclusivity(unchecked) private var asyncSend: OutputBox? = nil
    @exclusivity(unchecked) private var asyncSendFailed = false
    /// A fiber waiting for `asyncSend` before it writes.
    @exclusivity(unchecked) private var asyncSendWaiter: CorePointer? = nil
    /// Close once `asyncSend` is done (shutdown reached an otherwise idle connection).
    @exclusivity(unchecked) private var closeAfterAsyncSend = false
    // The request being served.
    @exclusivity(unchecked) private var pendingHead: HTTPRequestHead? = nil
    @exclusivity(unchecked) private var headLength = 0
    @exclusivity(unchecked) private var bodyDecoder: HTTPBodyDecoder? = nil
    @exclusivity(unchecked) private var expectsContinue = false
    @exclusivity(unchecked) private var closeAfterResponse = false
    /// Where the body starts in the receive buffer (the head before it stays valid).
    @exclusivity(unchecked) private var bodyBase = 0
    /// Decoded body bytes already consumed from the decoder but not yet handed out.
    @exclusivity(unchecked) private var decodedPending: Range<Int> = 0..<0

    /// The body of every serving fiber of this connection, made once (a closure written at the
    /// spawn would allocate its context per request). It captures the connection unowned, so
    /// it keeps nothing alive by itself; the strong reference it takes on entry keeps the
    /// connection alive while the fiber serves (until then the worker's table holds it).
    @exclusivity(unchecked) private var serveEntry: () -> Void = {}

    init(worker: ServerWorker, socket: TCPConnection) {
        self.worker = worker
        self.socket = socket
        serveEntry = { [unowned(unsafe) self] in
            let connection = self
            connection.serve()
        }
    }

    // MARK: - Fiber-less receiving

    /// Overflow bytes past which the receive is paused (bytes already in flight still arrive,
    /// up to what the socket had buffered).
    static let overflowLimit = 64 << 10

    /// Waits for bytes with a deadline: the idle timeout between requests, the head timeout
    /// (from the head's first byte) while a head is incomplete. Arms the receive if it is not.
    func startReceiving() {
        guard !closed else { return }
        if let headStartedAt {
            if timeoutLinks.kind != .head {  // kept across receives
                worker.timeouts.arm(self, .head, deadline: headStartedAt + worker.configuration.headTimeout)
            }
        } else {
            worker.timeouts.arm(self, .idle, deadline: worker.idleDeadline)
        }
        socket.startReceiving(self)
    }

    /// The deadline passed while idle or in a head: close.
    func timedOut() {
        close()
    }

    /// Bytes, end of stream or an error from the fiber-less receive (scheduler loop).
    func received(_ event: StreamEvent) {
        if closed { return }
        if serving != nil {
            receivedWhileServing(event)
            return
        }
        guard case .bytes(let bytes) = event else {
            close()  // the peer closed, or the receive failed, while idle or in a head
            return
        }
        if buffer == nil { buffer = worker.receiveBuffers.take() }
        guard let buffer else { close(); return }
        let fits = buffer.append(bytes.baseAddress!, count: bytes.count)
        if headStartedAt == nil { headStartedAt = .coarseNow }
        guard fits else { failInFiber(HTTPParseError(.headerSectionTooLarge)); return }
        parseHead()  // every outcome re-arms (startReceiving), serves, or closes
    }

    /// An event while the fiber serves: keep the bytes (in `buffer` behind the bytes in use, else
    /// in `overflow`, pausing the receive past `overflowLimit`) and wake the fiber if it waits.
    private func receivedWhileServing(_ event: StreamEvent) {
        switch event {
        case .bytes(let bytes):
            if overflow.isEmpty, let buffer, bytes.count <= buffer.freeSpace {
                (buffer.memory + buffer.end).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                buffer.end += bytes.count
            } else {
                overflow.append(contentsOf: bytes)
                if overflow.count - overflowStart > Self.overflowLimit { socket.pauseReceiving() }
            }
        case .end:
            peerClosed = true
        case .failed(let code):
            receiveError = code
        }
        if let waiter = bytesWaiter {
            bytesWaiter = nil
            waiter.scheduler._withUnsafeGuaranteedRef { _ = $0.unpark(waiter, with: .ready) }
        }
    }

    /// Moves overflow bytes into `buffer`: behind the bytes in use, or (`compacting`, between
    /// requests, when no view into the buffer is alive) after moving the unread bytes to the front.
    private func absorbOverflow(compacting: Bool) {
        guard overflowStart < overflow.count, let buffer else { return }
        let remaining = overflow.count - overflowStart
        if compacting && remaining > buffer.freeSpace { buffer.compact() }
        let n = min(remaining, buffer.freeSpace)
        overflow.withUnsafeBytes { (buffer.memory + buffer.end).copyMemory(from: $0.baseAddress! + overflowStart, byteCount: n) }
        buffer.end += n
        overflowStart += n
        if overflowStart == overflow.count {
            overflow = []
            overflowStart = 0
        } else if overflowStart >= Self.overflowLimit {
            overflow.removeFirst(overflowStart)  // keep the array to the bytes still pending
            overflowStart = 0
        }
    }

    /// Parses the buffered bytes: serve a complete head in a fiber, or wait for more.
    private func parseHead() {
        if parserBox == nil { parserBox = worker.parsers.take() }
        guard let parserBox, let buffer else { close(); return }
        switch parserBox.parser.parseHead(buffer.readable) {
        case .incomplete:
            startReceiving()
        case .complete(let head, let consumed):
            worker.timeouts.disarm(self)
            pendingHead = head
            headLength = consumed
            serving = Fiber.spawn(name: nil, serveEntry).fiber
        case .error(let error):
            worker.timeouts.disarm(self)
            failInFiber(error)
        }
    }

    /// Answers a malformed request with its status and closes (in a short fiber, for the send;
    /// as `serving`, so bytes that still arrive are only kept until the close).
    private func failInFiber(_ error: HTTPParseError) {
        serving = Fiber.spawn { [self] in
            writeError(error)
            close()
            serving = nil
        }.fiber
    }

    // MARK: - Serving (in a fiber)

    private func serve() {
        worker.activeRequests += 1
        defer {
            serving = nil
            worker.requestFinished()
        }
        while let head = pendingHead {
            pendingHead = nil
            headStartedAt = nil
            let keepAlive = handle(head)
            parserBox?.parser.reset()
            guard keepAlive, !worker.stopping, !closed else { flushThenClose(); return }
            guard parseNextHead() else { return }
            if pendingHead == nil {
                // No complete request is buffered: send the batch (this parks only behind an
                // earlier send, and bytes may arrive meanwhile), then look once more.
                sendOutputAndEnd()
                guard !closed, parseNextHead() else { return }
            }
        }
        // Idle, or half a head buffered.
        if peerClosed || receiveError != 0 {
            if asyncSend != nil { closeAfterAsyncSend = true } else { close() }
            return
        }
        if !overflow.isEmpty {
            // The buffer is full of an incomplete head and more bytes wait behind it.
            writeError(HTTPParseError(.headerSectionTooLarge))
            close()
            return
        }
        if buffer?.isEmpty ?? true { releaseBuffers() }
        startReceiving()
    }

    /// Parses the next pipelined head from the buffered bytes (overflow absorbed first; the
    /// previous request's views are gone, so the buffer may be compacted) and sets
    /// `pendingHead` when one is complete. False when the bytes are malformed (answered, closed).
    private func parseNextHead() -> Bool {
        absorbOverflow(compacting: true)
        guard let buffer, !buffer.isEmpty else { return true }
        if headStartedAt == nil { headStartedAt = .coarseNow }
        switch parserBox!.parser.parseHead(buffer.readable) {
        case .complete(let next, let consumed):
            pendingHead = next
            headLength = consumed
            return true
        case .incomplete:
            return true  // keep buffer and parser: half a pipelined head is here
        case .error(let error):
            appendError(error)
            flushThenClose()
            return false
        }
    }

    /// Serves one request; returns whether the connection stays open.
    private func handle(_ head: HTTPRequestHead) -> Bool {
        buffer!.start += headLength
        bodyBase = buffer!.start
        decodedPending = 0..<0
        bodyDecoder = HTTPBodyDecoder(framing: head.framing, limits: worker.configuration.limits)
        expectsContinue = head.expectsContinue
        closeAfterResponse = false
        let arena = worker.arenas.take() ?? RequestArena()
        defer { worker.arenas.giveBack(arena) }
        worker.nextRequestID &+= 1
        let requestID = (UInt64(worker.index) << 48) | worker.nextRequestID
        var response: Response
        switch worker.router.match(method: head.methodBytes, path: head.routingPath) {
        case .found(let handler, let parameters):
            let context = Context(parameters: parameters, requestID: requestID, serverLogger: worker.logger, arena: arena)
            do {
                response = try handler(Request(head: head, connection: self), context)
            } catch let error as HTTPError {
                response = .text(error.message + "\n", status: error.status)
            } catch {
                context.logger.error("handler failed: \(error)", metadata: ["method": "\(head.methodString)", "target": "\(head.targetString)"])
                response = .text("Internal Server Error (request \(requestID))\n", status: .internalServerError)
            }
        case .notFound:
            response = .text("Not Found\n", status: .notFound)
        case .methodNotAllowed(let allowed):
            response = .text("Method Not Allowed\n", status: .methodNotAllowed)
            let names = allowed.map(\.rawValue) + (allowed.contains(.get) && !allowed.contains(.head) ? ["HEAD"] : [])
            response.headerFields[.allow] = names.joined(separator: ", ")
        }
        // Leave the body behind us: small rests are drained, large ones end the connection.
        if expectsContinue && bodyDecoder?.isComplete == false {
            closeAfterResponse = true  // 100 was never sent: do not ask for the body now
        } else if !closeAfterResponse && bodyDecoder?.isComplete == false && !skipBody(upTo: 64 << 10) {
            closeAfterResponse = true
        }
        let keepAlive = head.keepAlive && !closeAfterResponse
        let mustClose: Bool
        do {
            mustClose = try write(response, for: head, keepAlive: keepAlive)
        } catch {
            return false
        }
        return keepAlive && !mustClose
    }

    // MARK: - Request body

    /// Reads decoded body bytes (0 at the end). Buffered bytes first, then the socket.
    func readBody(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard out.count > 0, let buffer else { return 0 }
        if !decodedPending.isEmpty {
            let n = min(out.count, decodedPending.count)
            out.baseAddress!.copyMemory(from: buffer.memory + decodedPending.lowerBound, byteCount: n)
            decodedPending = (decodedPending.lowerBound + n)..<decodedPending.upperBound
            return n
        }
        guard var decoder = bodyDecoder, !decoder.isComplete else { return 0 }
        defer { bodyDecoder = decoder }
        let deadline = Deadline.now + worker.configuration.bodyTimeout
        while true {
            if !buffer.isEmpty {
                let input = UnsafeRawBufferPointer(rebasing: buffer.readable.prefix(max(out.count, 64)))
                switch decoder.decode(input) {
                case .data(let range):
                    let n = min(range.count, out.count)
                    out.baseAddress!.copyMemory(from: input.baseAddress! + range.lowerBound, byteCount: n)
                    let base = buffer.start
                    buffer.start += range.lowerBound + range.count
                    if n < range.count { decodedPending = (base + range.lowerBound + n)..<(base + range.upperBound) }
                    return n
                case .needMore:
                    buffer.start += input.count
                    if !buffer.isEmpty { continue }
                case .end(let consumed):
                    buffer.start += consumed
                    return 0
                case .error(let error):
                    closeAfterResponse = true
                    throw HTTPError(error.status, error.reason.explanation)
                }
            }
            // Earlier pipelined responses go out before we wait on the client.
            if expectsContinue {
                expectsContinue = false
                HTTPResponseWriter.writeContinue(into: &takeOutput().buffer)
            }
            try flushOutput(deadline: deadline)
            // Receive into the buffer's free space (never moving the head the handler may still
            // look at); a buffer without room means a huge chunked body: read in slices.
            if buffer.start == buffer.end { buffer.start = bodyBase; buffer.end = bodyBase }
            guard buffer.freeSpace > 0 else {
                closeAfterResponse = true
                throw HTTPError(.contentTooLarge, "request body framing larger than the receive buffer")
            }
            try waitForBytes(deadline: deadline)
        }
    }

    /// Parks the serving fiber until more received bytes are in `buffer` (overflow first),
    /// re-arming the receive if the kernel ended it. Errors end the connection after the response.
    private func waitForBytes(deadline: Deadline) throws {
        let before = buffer!.end
        absorbOverflow(compacting: false)
        while buffer!.end == before {
            if peerClosed {
                closeAfterResponse = true
                throw HTTPError(.badRequest, "the client closed the connection before the end of the body")
            }
            if receiveError != 0 {
                closeAfterResponse = true
                throw IOError("recv", errno: receiveError)
            }
            if socket.receiveMode != .receiving { socket.startReceiving(self) }
            let core = Fiber.currentCore("RequestBody.read")
            bytesWaiter = core
            let reason = Fiber.park(core, cancellable: true, deadline: deadline)
            bytesWaiter = nil
            switch reason {
            case .ready:
                absorbOverflow(compacting: false)
            case .timedOut:
                closeAfterResponse = true
                throw TimeoutError()
            default:
                closeAfterResponse = true
                throw CancellationError()
            }
        }
    }

    /// Reads and drops the rest of the body, up to `limit` bytes; false if more remained.
    private func skipBody(upTo limit: Int) -> Bool {
        var skipped = 0
        var scratch = [UInt8](repeating: 0, count: 4096)
        while skipped < limit {
            guard let n = try? scratch.withUnsafeMutableBytes({ try readBody(into: $0) }) else { return false }
            if n == 0 { return true }
            skipped += n
        }
        return bodyDecoder?.isComplete == true
    }

    // MARK: - Responses

    /// The output buffer of the batch being answered (taken from the pool on first use).
    private func takeOutput() -> OutputBox {
        if let pendingOutput { return pendingOutput }
        let output = worker.outputs.take() ?? OutputBox()
        pendingOutput = output
        return output
    }

    /// Sends the batched responses (if any) and gives the buffer back. Parks until sent.
    private func flushOutput(deadline: Deadline? = nil) throws {
        try waitForAsyncSend()
        guard let output = pendingOutput else { return }
        pendingOutput = nil
        defer { worker.outputs.giveBack(output) }
        guard output.buffer.count > 0 else { return }
        try socket.write(output.buffer.readableBytes, deadline: deadline ?? .coarseNow + worker.configuration.writeTimeout)
    }

    /// The serving fiber is about to end: hand the batch to a send that completes without it
    /// (`sendCompleted`), so the fiber need not park and the next receive is armed in the
    /// same submission. Writes that follow wait for it (`waitForAsyncSend`), so responses never
    /// interleave; a send the client does not drain is bounded by the idle timeout (its receive
    /// is armed) or by the write timeout of the next response.
    private func sendOutputAndEnd() {
        if asyncSend != nil {
            // Rare (the previous batch is still in flight): send this one in order, now.
            if !flushOutput() { close() }
            return
        }
        guard let output = pendingOutput else { return }
        pendingOutput = nil
        guard output.buffer.count > 0 else { worker.outputs.giveBack(output); return }
        asyncSend = output
        worker.asyncSends += 1
        socket.sendAsync(output.buffer.readableBytes, delegate: self)  // holds self until done
    }

    /// `asyncSend` is done (scheduler loop): give its buffer back, wake a waiting writer.
    func sendCompleted(errno: Int32) {
        if errno != 0 { asyncSendFailed = true }
        if let output = asyncSend { worker.outputs.giveBack(output) }
        asyncSend = nil
        worker.asyncSends -= 1
        if let waiter = asyncSendWaiter {
            asyncSendWaiter = nil
            waiter.scheduler._withUnsafeGuaranteedRef { _ = $0.unpark(waiter, with: .ready) }
        }
        if asyncSendFailed || closeAfterAsyncSend { close() }
        if worker.stopping { worker.drained.set() }
    }

    /// Parks until the previous batch's send is done (bounded by the write timeout: then it is
    /// cancelled). Throws when that send failed: the connection is unusable.
    private func waitForAsyncSend() throws {
        if asyncSend != nil {
            let core = Fiber.currentCore("HTTPConnection.waitForAsyncSend")
            let deadline = Deadline.coarseNow + worker.configuration.writeTimeout
            asyncSendWaiter = core
            if Fiber.park(core, cancellable: false, deadline: deadline) == .timedOut && asyncSend != nil {
                socket.cancelAsyncSend()
                while asyncSend != nil {
                    asyncSendWaiter = core
                    _ = Fiber.park(core, cancellable: false, deadline: nil)
                }
            }
            asyncSendWaiter = nil
        }
        if asyncSendFailed { throw IOError("send", errno: EPIPE) }
    }

    /// `flushOutput`, returning whether it succeeded (a failed send means the peer is gone).
    private func flushOutput() -> Bool {
        do { try flushOutput(deadline: nil); return true } catch { return false }
    }

    private func flushThenClose() {
        _ = flushOutput()
        close()
    }

    /// Batched responses are sent once they reach this size, even if more requests are buffered.
    private static let flushThreshold = 64 << 10

    /// Writes `response` (into the batch for content-length bodies, straight out for streamed
    /// ones); returns true when the connection must close afterwards.
    private func write(_ response: Response, for head: HTTPRequestHead, keepAlive: Bool) throws -> Bool {
        let persistence: HTTPConnectionPersistence = keepAlive ? head.persistence : .close
        let output = takeOutput()
        /// Appends a `Content-Length` response to the batch; sends the batch once it is large.
        func appendToBatch(_ body: UnsafeRawBufferPointer) throws -> Bool {
            let close = output.writer.writeResponse(status: response.status, fields: response.headerFields, body: body,
                                                    requestIsHEAD: head.isHEAD, persistence: persistence, into: &output.buffer)
            if output.buffer.count >= Self.flushThreshold { try flushOutput(deadline: nil) }
            return close
        }
        switch response.body {
        case .empty:
            return try appendToBatch(UnsafeRawBufferPointer(start: nil, count: 0))
        case .bytes(let bytes):
            return try bytes.withUnsafeBytes { try appendToBatch($0) }
        case .text(var text):
            return try text.withUTF8 { try appendToBatch(UnsafeRawBufferPointer($0)) }
        case .stream(let produce) where !head.version.hasHTTP11Semantics:
            // HTTP/1.0 clients do not know chunked: the body ends with the connection.
            _ = output.writer.writeHead(status: response.status, fields: response.headerFields, framing: .closeDelimited,
                                        persistence: .close, into: &output.buffer)
            try flushOutput(deadline: nil)
            if head.isHEAD { return true }
            let socket = self.socket
            let timeout = worker.configuration.writeTimeout
            do {
                try produce(BodyWriter { chunk in
                    guard chunk.count > 0 else { return }
                    try socket.write(chunk, deadline: .now + timeout)
                })
            } catch {
                worker.logger.error("streaming handler failed: \(error)")
            }
            return true
        case .stream(let produce):
            let close = output.writer.writeHead(status: response.status, fields: response.headerFields, framing: .chunked,
                                                persistence: persistence, into: &output.buffer)
            try flushOutput(deadline: nil)
            if head.isHEAD { return close }
            let socket = self.socket
            let timeout = worker.configuration.writeTimeout
            let chunkOutput = worker.outputs.take() ?? OutputBox()
            defer { worker.outputs.giveBack(chunkOutput) }
            let writer = BodyWriter { chunk in
                guard chunk.count > 0 else { return }
                chunkOutput.buffer.removeAll()
                HTTPChunkedEncoder.writeChunk(chunk, into: &chunkOutput.buffer)
                try socket.write(chunkOutput.buffer.readableBytes, deadline: .now + timeout)
            }
            do {
                try produce(writer)
            } catch {
                // Headers are gone: the only honest signal left is an aborted body.
                worker.logger.error("streaming handler failed: \(error)")
                return true
            }
            HTTPChunkedEncoder.writeLastChunk(into: &takeOutput().buffer)
            return close
        }
    }

    /// Appends the response for a malformed request to the batch (the caller closes after it).
    private func appendError(_ error: HTTPParseError) {
        let output = takeOutput()
        output.writer.writeError(error, into: &output.buffer)
    }

    private func writeError(_ error: HTTPParseError) {
        appendError(error)
        _ = flushOutput()
    }

    // MARK: - Closing

    private func releaseBuffers() {
        if let pendingOutput { worker.outputs.giveBack(pendingOutput) }
        pendingOutput = nil
        if let buffer { worker.receiveBuffers.giveBack(buffer) }
        if let parserBox { worker.parsers.giveBack(parserBox) }
        buffer = nil
        parserBox = nil
    }

    func close() {
        guard !closed else { return }
        closed = true
        worker.timeouts.disarm(self)
        overflow = []
        releaseBuffers()
        socket.close()
        worker.connectionClosed(self)
    }

    /// At shutdown: close now unless a request is being served or its response is still
    /// being sent (then close when that is done).
    func closeIfIdle() {
        guard serving == nil else { return }
        if asyncSend != nil {
            closeAfterAsyncSend = true
            socket.stopReceiving()
        } else {
            close()
        }
    }

    /// At the end of the grace period: cancel whatever is still running, then close.
    func forceClose() {
        serving?.cancel()
        if serving == nil { close() }
    }
}
