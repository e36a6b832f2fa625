import CSpindle
import HTTPTypes
import Logging
import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleMemory

/// One client connection and its state machine:
///
///     idle ──bytes──▶ head incomplete ──bytes──▶ head complete ──▶ serving (a fiber)
///       ▲                                                             │
///       └───────────── keep-alive, nothing buffered ◀─────────────────┘
///
/// While idle or waiting for the rest of a head, no fiber and no stack is involved: a receive
/// into the worker's provided-buffer ring is armed and its completion comes back here
/// (`CompletionHandler`), in the scheduler loop. Only a complete head takes a fiber, which
/// serves that request and any pipelined ones after it, in order, then re-arms the receive and
/// ends. An idle connection holds this object, its socket object and a 16-byte deadline, and no
/// receive buffer, parser or stack.
final class HTTPConnection: CompletionHandler {
    unowned(unsafe) let worker: ServerWorker
    let socket: TCPConnection
    /// The linked-timeout deadline of the armed receive (kept valid until its CQE).
    private let receiveDeadline = UnsafeMutablePointer<__kernel_timespec>.allocate(capacity: 1)
    private var buffer: ReceiveBuffer? = nil
    private var parserBox: ParserBox? = nil
    private var headStartedAt: Deadline? = nil
    private var receiving = false
    private var closed = false
    private var serving: Fiber? = nil
    // The request being served.
    private var pendingHead: HTTPRequestHead? = nil
    private var headLength = 0
    private var bodyDecoder: HTTPBodyDecoder? = nil
    private var expectsContinue = false
    private var closeAfterResponse = false
    /// Where the body starts in the receive buffer (the head before it stays valid).
    private var bodyBase = 0
    /// Decoded body bytes already consumed from the decoder but not yet handed out.
    private var decodedPending: Range<Int> = 0..<0

    init(worker: ServerWorker, socket: TCPConnection) {
        self.worker = worker
        self.socket = socket
    }

    deinit { receiveDeadline.deallocate() }

    // MARK: - Fiber-less receiving

    /// Arms a receive whose completion calls `complete`: idle timeout between requests, head
    /// timeout (from the head's first byte) while a head is incomplete.
    func startReceiving() {
        guard !closed else { return }
        let timeout = headStartedAt.map { $0 + worker.configuration.headTimeout } ?? .now + worker.configuration.idleTimeout
        receiveDeadline.pointee = __kernel_timespec(tv_sec: Int64(timeout.nanoseconds / 1_000_000_000),
                                                    tv_nsec: Int64(timeout.nanoseconds % 1_000_000_000))
        receiving = true
        _ = Unmanaged.passRetained(self)  // until the CQE
        socket.reactor.receive(fd: socket.fd, handler: self, deadline: receiveDeadline)
    }

    func complete(result: Int32, flags: UInt32) {
        let this = Unmanaged.passUnretained(self)
        defer { this.release() }
        receiving = false
        let ring = socket.reactor.buffers!
        let id: UInt16? = flags & IORING_CQE_F_BUFFER != 0 ? UInt16(flags >> IORING_CQE_BUFFER_SHIFT) : nil
        guard result > 0, let id else {
            if let id { ring.recycle(id) }
            if result == -Int32(ENOBUFS) && !closed { startReceiving(); return }  // ring empty: retry
            // 0: the peer closed; -ECANCELED: idle/head timeout or shutdown; else an error.
            close()
            return
        }
        if buffer == nil { buffer = worker.receiveBuffers.take() }
        guard let buffer else { ring.recycle(id); close(); return }
        let fits = buffer.append(ring.bytes(id), count: Int(result))
        ring.recycle(id)
        if headStartedAt == nil { headStartedAt = .now }
        guard fits else { failInFiber(HTTPParseError(.headerSectionTooLarge)); return }
        parseHead()
    }

    /// Parses the buffered bytes: serve a complete head in a fiber, or wait for more.
    private func parseHead() {
        if parserBox == nil { parserBox = worker.parsers.take() }
        guard let parserBox, let buffer else { close(); return }
        switch parserBox.parser.parseHead(buffer.readable) {
        case .incomplete:
            startReceiving()
        case .complete(let head, let consumed):
            pendingHead = head
            headLength = consumed
            serving = Fiber.spawn(name: nil) { [self] in serve() }.fiber
        case .error(let error):
            failInFiber(error)
        }
    }

    /// Answers a malformed request with its status and closes (in a short fiber, for the send).
    private func failInFiber(_ error: HTTPParseError) {
        Fiber.spawn { [self] in
            writeError(error)
            close()
        }
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
            guard keepAlive, !worker.stopping, !closed else { close(); return }
            guard let buffer, !buffer.isEmpty else { break }
            headStartedAt = .now
            switch parserBox!.parser.parseHead(buffer.readable) {
            case .complete(let next, let consumed):
                pendingHead = next
                headLength = consumed
            case .incomplete:
                startReceiving()  // keep buffer and parser: half a pipelined head is here
                return
            case .error(let error):
                writeError(error)
                close()
                return
            }
        }
        releaseBuffers()
        startReceiving()
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
            var logger = worker.logger
            logger[metadataKey: "request"] = "\(requestID)"
            let context = Context(parameters: parameters, requestID: requestID, logger: logger, arena: arena)
            do {
                response = try handler(Request(head: head, connection: self), context)
            } catch let error as HTTPError {
                response = .text(error.message + "\n", status: error.status)
            } catch {
                logger.error("handler failed: \(error)", metadata: ["method": "\(head.methodString)", "target": "\(head.targetString)"])
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
        } else if bodyDecoder?.isComplete == false && !skipBody(upTo: 64 << 10) { closeAfterResponse = true }
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
            if expectsContinue {
                expectsContinue = false
                var output = HTTPOutputBuffer(capacity: 64)
                HTTPResponseWriter.writeContinue(into: &output)
                try socket.write(output.readableBytes, deadline: deadline)
            }
            // Read into the receive buffer's free space (never moving the head the handler may
            // still look at); a buffer without room means a huge chunked body: read in slices.
            if buffer.start == buffer.end { buffer.start = bodyBase; buffer.end = bodyBase }
            let room = buffer.freeSpace
            guard room > 0 else {
                closeAfterResponse = true
                throw HTTPError(.contentTooLarge, "request body framing larger than the receive buffer")
            }
            let n = try socket.read(into: UnsafeMutableRawBufferPointer(start: buffer.memory + buffer.end, count: room), deadline: deadline)
            if n == 0 {
                closeAfterResponse = true
                throw HTTPError(.badRequest, "the client closed the connection before the end of the body")
            }
            buffer.end += n
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

    /// Writes `response`; returns true when the connection must close afterwards.
    private func write(_ response: Response, for head: HTTPRequestHead, keepAlive: Bool) throws -> Bool {
        let output = worker.outputs.take() ?? OutputBox()
        defer { worker.outputs.giveBack(output) }
        let persistence: HTTPConnectionPersistence = keepAlive ? head.persistence : .close
        let deadline = Deadline.now + worker.configuration.writeTimeout
        let httpResponse = HTTPResponse(status: response.status, headerFields: response.headerFields)
        switch response.body {
        case .empty:
            let close = output.writer.writeResponse(httpResponse, body: UnsafeRawBufferPointer(start: nil, count: 0),
                                                    requestIsHEAD: head.isHEAD, persistence: persistence, into: &output.buffer)
            try socket.write(output.buffer.readableBytes, deadline: deadline)
            return close
        case .bytes(let bytes):
            let close = bytes.withUnsafeBytes {
                output.writer.writeResponse(httpResponse, body: $0, requestIsHEAD: head.isHEAD, persistence: persistence, into: &output.buffer)
            }
            try socket.write(output.buffer.readableBytes, deadline: deadline)
            return close
        case .stream(let produce) where !head.version.hasHTTP11Semantics:
            // HTTP/1.0 clients do not know chunked: the body ends with the connection.
            _ = output.writer.writeHead(httpResponse, framing: .closeDelimited, persistence: .close, into: &output.buffer)
            try socket.write(output.buffer.readableBytes, deadline: deadline)
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
            let close = output.writer.writeHead(httpResponse, framing: .chunked, persistence: persistence, into: &output.buffer)
            try socket.write(output.buffer.readableBytes, deadline: deadline)
            if head.isHEAD { return close }
            let socket = self.socket
            let timeout = worker.configuration.writeTimeout
            let writer = BodyWriter { chunk in
                guard chunk.count > 0 else { return }
                output.buffer.removeAll()
                HTTPChunkedEncoder.writeChunk(chunk, into: &output.buffer)
                try socket.write(output.buffer.readableBytes, deadline: .now + timeout)
            }
            do {
                try produce(writer)
            } catch {
                // Headers are gone: the only honest signal left is an aborted body.
                worker.logger.error("streaming handler failed: \(error)")
                return true
            }
            output.buffer.removeAll()
            HTTPChunkedEncoder.writeLastChunk(into: &output.buffer)
            try socket.write(output.buffer.readableBytes, deadline: deadline)
            return close
        }
    }

    private func writeError(_ error: HTTPParseError) {
        var output = HTTPOutputBuffer(capacity: 256)
        var writer = HTTPResponseWriter()
        writer.writeError(error, into: &output)
        try? socket.write(output.readableBytes, deadline: .now + .seconds(1))
    }

    // MARK: - Closing

    private func releaseBuffers() {
        if let buffer { worker.receiveBuffers.giveBack(buffer) }
        if let parserBox { worker.parsers.giveBack(parserBox) }
        buffer = nil
        parserBox = nil
    }

    func close() {
        guard !closed else { return }
        closed = true
        if receiving { socket.reactor.cancel(self) }
        releaseBuffers()
        socket.close()
        worker.connectionClosed(self)
    }

    /// At shutdown: close now unless a request is being served.
    func closeIfIdle() {
        if serving == nil { close() }
    }

    /// At the end of the grace period: cancel whatever is still running, then close.
    func forceClose() {
        serving?.cancel()
        if serving == nil { close() }
    }
}
