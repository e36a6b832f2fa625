import HTTPTypes
import Logging
import SpindleHTTP
import SpindleMemory

/// One request served without a connection, for SpindleTesting's in-memory mode: its bytes are
/// parsed by the real parser, answered by the router (middleware, route, handler, error
/// responses) and written by the real response writer into bytes, exactly as a connection
/// would send them; only the socket is missing. Its head points into `buffer` and `parser`,
/// which it keeps for the request's lifetime; its body is decoded from the bytes after the
/// head, up front (a body the bytes do not complete fails reads with 400, as a client that
/// closed early would).
package final class MemoryExchange {
    /// The limits the request is parsed and its body decoded with.
    let limits: HTTPLimits
    private let buffer: ReceiveBuffer
    /// Its parser (and, for `Request`, the paths middleware rewrote).
    let parserBox: ParserBox
    private var decodedBody: [UInt8] = []
    private var bodyOffset = 0
    private var failure: BodyFailure? = nil
    /// The body limit: `limits.maxBodyBytes`, or the route's own once routed.
    private(set) var maxBodyBytes: Int
    /// The head and where its body starts, to decode the body again under a route's limit.
    private var bodyStart: (head: HTTPRequestHead, offset: Int)? = nil
    /// How many of the request bytes the request used (head and body), once served; nil when
    /// the head was malformed or the body incomplete (nothing after it can be a request).
    package private(set) var consumedBytes: Int? = nil
    /// True once served when the response ends the connection: the writer said so (the request
    /// or the response asked to close, a close-delimited body, a stop), it switched protocols,
    /// or the request could not be read.
    private(set) var closesConnection = true
    /// The session of a `101 Switching Protocols` answer, for a connection to run once the head
    /// is sent (a TLS connection does; in memory there is none to hand over).
    private(set) var upgrade: Response.Upgrade? = nil
    /// The index of the route that answered the request (set by the router), nil when none did.
    var route: Int? = nil
    /// What a server counts of the request once served (its method, status and arena use);
    /// nil for a head that could not be parsed (the error response has no request to count).
    private(set) var answered: (method: MethodClass, status: Int, arena: RequestArena.Usage)? = nil

    /// Copies `requestBytes` (a whole request: head and body) to parse with `limits`.
    package init(requestBytes: [UInt8], limits: HTTPLimits) {
        self.limits = limits
        maxBodyBytes = limits.maxBodyBytes
        let buffer = ReceiveBuffer(capacity: max(requestBytes.count, 1))
        if !requestBytes.isEmpty {
            _ = requestBytes.withUnsafeBytes { buffer.append($0.baseAddress!, count: $0.count) }
        }
        self.buffer = buffer
        var headLimits = limits
        headLimits.maxBodyBytes = 0  // a Content-Length over the limit is answered 413 by the router (as ServerWorker does)
        parserBox = ParserBox(limits: headLimits)
    }

    /// The response bytes the server would send for the request: parses it, lets `router`
    /// answer it, writes the response (and runs its `onWritten` handlers). Must run in a fiber:
    /// the handler may park. A head that is malformed or incomplete gets the error response a
    /// connection would send. `closesAfter`, asked once the handler has answered, true makes the
    /// response say `connection: close` whatever the request asked (a server that is stopping).
    /// The request's memory is a new arena, and its context's logger `logger`. With a `sink`,
    /// a streamed body is not collected: the head and each chunk go to the sink as the handler
    /// writes them (it may park; what it throws ends the body and closes the connection), and
    /// the bytes returned are what is left to send after the body (its last chunk); a
    /// never-ending stream (Server-Sent Events) then works. Without one, everything is
    /// returned at the end.
    package func serve(router: Router<Handler>, logger: Logger, requestID: UInt64,
                       closesAfter: () -> Bool = { false }, sink: ((UnsafeRawBufferPointer) throws -> Void)? = nil) -> [UInt8] {
        serve(router: router, scope: RequestScope(logger: logger), requestID: requestID, closesAfter: closesAfter, sink: sink)
    }

    /// `serve(router:logger:requestID:closesAfter:sink:)` with the arena and the logger of
    /// `scope` (a server passes a pooled one and gives it back after).
    func serve(router: Router<Handler>, scope: RequestScope, requestID: UInt64,
               closesAfter: () -> Bool = { false }, sink: ((UnsafeRawBufferPointer) throws -> Void)? = nil) -> [UInt8] {
        var output = HTTPOutputBuffer(capacity: 4096)
        var writer = HTTPResponseWriter()
        switch parserBox.parser.parseHead(buffer.readable) {
        case .error(let error):
            writer.writeError(error, into: &output)
        case .incomplete:
            writer.writeError(HTTPParseError(.headerSectionTooLarge), into: &output)  // never completed: what a connection gives a head that cannot end
        case .complete(let head, let consumed):
            decodeBody(head, from: consumed)
            var context = Context(requestID: requestID, scope: scope)
            let response = router.respond(Request(head: head, source: .memory(.passUnretained(self)), bodyFailedBeforeRouting: failure != nil), &context)
            let bodyBytes = write(response, for: head, closing: closesAfter(), writer: &writer, into: &output, sink: sink)
            answered = (MethodClass(head), response.status.code, context.arena.usage)
            response.runWrittenHandlers(WrittenResponse(status: response.status, bodyBytes: bodyBytes))
        }
        return Array(output.readableBytes)
    }

    /// Decodes the body after the head (`Content-Length` or chunked) into `decodedBody`, or
    /// records why it cannot be read.
    private func decodeBody(_ head: HTTPRequestHead, from start: Int) {
        bodyStart = (head, start)
        var limits = self.limits
        limits.maxBodyBytes = maxBodyBytes
        if case .contentLength(let length) = head.framing, limits.bodyExceeds(length) {
            failure = .malformed(HTTPParseError(.contentTooLarge))
            return
        }
        var decoder = HTTPBodyDecoder(framing: head.framing, limits: limits)
        let bytes = buffer.readable
        var offset = start
        defer { if failure == nil { consumedBytes = offset } }
        while !decoder.isComplete {
            let input = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            switch decoder.decode(input) {
            case .data(let range):
                decodedBody.append(contentsOf: input[range])
                offset += range.upperBound
            case .needMore:
                failure = .clientClosed
                return
            case .end(let consumed):
                offset += consumed
            case .error(let error):
                failure = .malformed(error)
                return
            }
        }
    }

    /// Makes `maxBodyBytes` the body's limit (a route's own) and decodes the body again under
    /// it, unless the handler's middleware already read some; returns whether the body failed.
    func applyRouteBodyLimit(_ maxBodyBytes: Int) -> Bool {
        guard let bodyStart, bodyOffset == 0 else { return failure != nil }
        self.maxBodyBytes = maxBodyBytes
        failure = nil
        decodedBody = []
        consumedBytes = nil
        decodeBody(bodyStart.head, from: bodyStart.offset)
        return failure != nil
    }

    /// Why the body cannot be read (nil: it can).
    var bodyFailure: HTTPError? { failure?.error }

    /// Copies the next decoded body bytes into `out` (0 at the end); throws the body's failure.
    func readBody(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        if let failure { throw failure.error }
        let n = min(out.count, decodedBody.count - bodyOffset)
        guard n > 0 else { return 0 }
        decodedBody.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress! + bodyOffset, byteCount: n) }
        bodyOffset += n
        return n
    }

    /// Writes `response` as a connection would (`HTTPConnection.write`): a length-delimited
    /// body, or chunked (close-delimited for HTTP/1.0). Returns the body bytes written.
    private func write(_ response: Response, for head: HTTPRequestHead, closing: Bool, writer: inout HTTPResponseWriter,
                       into output: inout HTTPOutputBuffer, sink: ((UnsafeRawBufferPointer) throws -> Void)?) -> Int {
        let persistence = closing ? .close : head.persistence
        func whole(_ body: UnsafeRawBufferPointer, _ output: inout HTTPOutputBuffer) -> Int {
            closesConnection = writer.writeResponse(of: response, body: body,
                                                    requestIsHEAD: head.isHEAD, persistence: persistence, into: &output)
            return head.isHEAD ? 0 : body.count
        }
        if response.upgrade != nil && response.status == .switchingProtocols {
            // The head only; a connection runs the session after sending it (`upgrade`).
            writer.writeSwitchingProtocols(fields: response.headerFields, into: &output)
            upgrade = response.upgrade
            return 0
        }
        switch response.body {
        case .empty:
            return whole(UnsafeRawBufferPointer(start: nil, count: 0), &output)
        case .bytes(let bytes):
            return bytes.withUnsafeBytes { whole($0, &output) }
        case .text(var text):
            return text.withUTF8 { whole(UnsafeRawBufferPointer($0), &output) }
        case .sizedStream(let length, let produce):
            closesConnection = writer.writeHead(of: response,
                                                framing: .contentLength(length), persistence: persistence, into: &output)
            let code = response.status.code
            if head.isHEAD || code < 200 || code == 204 || code == 304 { return 0 }
            let collected = ChunkCollector(chunked: false, sink: sink)
            guard collected.flush(&output) else { closesConnection = true; return 0 }
            let bodyWriter = BodyWriter(limit: length) { try collected.add($0) }
            do { try produce(bodyWriter) } catch {
                collected.bytes.withUnsafeBytes { output.append($0) }  // cut short, as on a connection
                closesConnection = true
                return bodyWriter.bytesWritten
            }
            collected.bytes.withUnsafeBytes { output.append($0) }
            return bodyWriter.bytesWritten
        case .stream(let produce):
            let chunked = head.version.hasHTTP11Semantics
            closesConnection = writer.writeHead(of: response,
                                                framing: chunked ? .chunked : .closeDelimited,
                                                persistence: chunked ? persistence : .close, into: &output)
            if head.isHEAD { return 0 }
            let collected = ChunkCollector(chunked: chunked, sink: sink)
            guard collected.flush(&output) else { closesConnection = true; return 0 }
            let bodyWriter = BodyWriter { try collected.add($0) }
            do { try produce(bodyWriter) } catch {
                closesConnection = true
                return bodyWriter.bytesWritten  // the body ends early, as on a connection (no last chunk)
            }
            collected.bytes.withUnsafeBytes { output.append($0) }
            if chunked { HTTPChunkedEncoder.writeLastChunk(into: &output) }
            return bodyWriter.bytesWritten
        }
    }
}

/// The framed chunks of a streamed body: collected as they would have been sent, or, with a
/// sink, handed to it one by one.
private final class ChunkCollector {
    let chunked: Bool
    let sink: ((UnsafeRawBufferPointer) throws -> Void)?
    var bytes: [UInt8] = []
    init(chunked: Bool, sink: ((UnsafeRawBufferPointer) throws -> Void)?) {
        self.chunked = chunked
        self.sink = sink
    }

    /// With a sink: hands it what `output` holds (the head) and empties `output`; false when
    /// the sink failed. Without one: nothing (the head stays in `output`).
    func flush(_ output: inout HTTPOutputBuffer) -> Bool {
        guard let sink else { return true }
        do { try sink(output.readableBytes) } catch { return false }
        output.removeAll()
        return true
    }

    func add(_ chunk: UnsafeRawBufferPointer) throws {
        guard chunk.count > 0 else { return }
        if chunked {
            var framed = HTTPOutputBuffer(capacity: chunk.count + 16)
            HTTPChunkedEncoder.writeChunk(chunk, into: &framed)
            if let sink { try sink(framed.readableBytes) } else { bytes.append(contentsOf: framed.readableBytes) }
        } else if let sink {
            try sink(chunk)
        } else {
            bytes.append(contentsOf: chunk)
        }
    }
}
