import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleTLS

/// A connection served over TLS: one fiber for its whole life (the handshake, then each
/// request read whole, answered, written), through the same parser, router and response writer
/// as plain HTTP (`MemoryExchange`), but not through the plain path's fiber-less receive and
/// batched sends: TLS records are decrypted and encrypted by `TLSStream`, whose reads and
/// writes park this fiber. Simpler and slower than the plain path, which it leaves untouched.
///
/// A streamed response body is sent as the handler writes it (Server-Sent Events work), and a
/// response answered while the server stops says `connection: close`, the connection closing
/// after it. An upgrade (`101`, WebSocket) hands the connection to its session, which reads and
/// writes plaintext through the stream. It counts in the server's metrics (open and idle
/// connections, timeouts by kind, `spindle_tls_*`). What it does not do yet (Docs/tls.md):
/// stream request bodies (a request is buffered whole, up to the body limit). Touched only on
/// its worker's thread.
final class TLSConnection {
    /// Where the connection is, for the worker's drain: a connection that is not `serving`
    /// holds no request and is closed at once by a stop.
    enum State { case handshaking, idle, reading, serving, closed }

    unowned let worker: ServerWorker
    let stream: TLSStream
    // `@exclusivity(unchecked)`: worker thread only, short accesses that never span a park.
    @exclusivity(unchecked) private(set) var state = State.handshaking
    @exclusivity(unchecked) var fiber: FiberHandle<Void>? = nil

    /// Bytes read per receive.
    private static let readSize = 16 << 10

    init(worker: ServerWorker, stream: TLSStream) {
        self.worker = worker
        self.stream = stream
    }

    /// True while no request is being handled (handshaking, idle, or a request still arriving).
    var holdsNoRequest: Bool { state != .serving }

    /// True between requests (for the idle-connections gauge).
    var isIdle: Bool { state == .idle }

    /// Stops the connection's fiber where it is parked (a read, a write, or the handler's own
    /// wait); the fiber then closes the connection.
    func cancel() { fiber?.cancel() }

    /// The connection's fiber: handshake within the handshake timeout, then requests until the
    /// client closes, asks to close, times out, errs, or the worker stops.
    func run(handshakeTimeout: Duration) {
        defer {
            state = .closed
            stream.close(deadline: .now + .milliseconds(200))
            worker.tlsConnectionClosed(self)
        }
        do {
            try stream.handshake(deadline: .now + handshakeTimeout)
        } catch {
            worker.metrics.tlsHandshakeFailures &+= 1
            if error is TimeoutError { worker.metrics.timedOut(.handshake) }
            worker.logger.debug("TLS handshake failed: \(error)")
            return
        }
        worker.metrics.tlsHandshakes &+= 1
        let records = stream.transmitRecords
        if records == .kernel { worker.metrics.tlsKernelTransmits &+= 1 }
        worker.logger.debug("TLS connection (\(stream.protocolVersion)): records sent are built by \(records)")
        state = .idle
        let configuration = worker.configuration
        var scanner = RequestScanner(limits: configuration.limits)
        var pending: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readSize, alignment: 16)
        defer { chunk.deallocate() }
        while !worker.stopping {
            // Read until `pending` starts with a whole request (or one that cannot be read).
            var requestDeadline: Deadline? = nil
            var length: Int
            reading: while true {
                switch pending.withUnsafeBytes({ scanner.scan($0) }) {
                case .complete(let n):
                    length = n
                    break reading
                case .unreadable:
                    length = pending.count
                    break reading
                case .needMore(let headComplete):
                    let deadline: Deadline
                    if pending.isEmpty {
                        state = .idle
                        deadline = worker.idleDeadline
                    } else {
                        state = .reading
                        let start = requestDeadline ?? (.now + configuration.headTimeout)
                        requestDeadline = start
                        deadline = headComplete ? start + configuration.bodyTimeout : start
                    }
                    let n: Int
                    do { n = try stream.read(into: chunk, deadline: deadline) } catch {
                        if error is TimeoutError { worker.metrics.timedOut(pending.isEmpty ? .idle : headComplete ? .body : .head) }
                        return
                    }
                    if n == 0 { return }  // the client closed (a partial request goes unanswered)
                    pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[..<n]))
                }
            }
            state = .serving
            worker.activeRequests += 1
            defer { worker.requestFinished() }
            let exchange = MemoryExchange(requestBytes: Array(pending[..<length]), limits: configuration.limits)
            worker.nextRequestID &+= 1
            var clock = RequestClock(recording: worker.metrics.recordsRequests)
            let scope = worker.takeScope()
            let output = exchange.serve(router: worker.router, scope: scope,
                                        requestID: (UInt64(worker.index) << 48) | worker.nextRequestID,
                                        closesAfter: { [worker] in worker.stopping },  // stopping: say so
                                        sink: { [stream, configuration] bytes in
                                            try stream.write(bytes, deadline: .now + configuration.writeTimeout)
                                        })
            if worker.metrics.recordsRequests { worker.requestAnswered(exchange, clock: &clock) }
            worker.giveBack(scope: scope)
            do {
                try output.withUnsafeBytes { try stream.write($0, deadline: .now + configuration.writeTimeout) }
            } catch {
                if error is TimeoutError { worker.metrics.timedOut(.write) }
                return
            }
            if let upgrade = exchange.upgrade, exchange.consumedBytes == length {
                // `101` sent: the connection is the session's (WebSocket) until it ends; the
                // bytes behind the request are its first.
                let early = Array(pending[length...])
                upgrade.session(UpgradedConnection(tls: UpgradedTLSStream(stream: stream, early: early), worker: worker))
                return
            }
            guard let used = exchange.consumedBytes, used == length, !scanner.requestCloses,
                  !exchange.closesConnection else { return }
            pending.removeFirst(length)
            scanner.reset()
        }
    }

    /// How much of the received bytes a request takes.
    enum RequestLength: Equatable {
        /// The first `n` bytes are a whole request (head and body).
        case complete(Int)
        /// More bytes are needed (`headComplete`: the head is whole, its body is not).
        case needMore(headComplete: Bool)
        /// The bytes cannot become a request the server reads (a malformed head, a head or a
        /// body over its limit): serve them as they are, for the error response, then close.
        case unreadable
    }

    /// The body a request may have on this path when the configuration sets no limit.
    static let unlimitedBodyCap = 64 << 20

    /// Finds where the first request of the received bytes ends, incrementally: called again
    /// with the same bytes and more appended, it resumes where it stopped (the head parser and
    /// the body decoder keep their state), so a request arriving in many small reads is
    /// scanned once, not once per read. `reset()` after each request.
    struct RequestScanner: ~Copyable {
        private var parser: HTTPRequestParser
        private let limits: HTTPLimits
        private let bodyLimits: HTTPLimits
        /// After the head: the body's decoder and how far into the bytes it has decoded.
        private var body: (decoder: HTTPBodyDecoder, offset: Int)? = nil
        /// True once the head scanned asks to close the connection after its response (or is
        /// HTTP/1.0 without keep-alive).
        private(set) var requestCloses = false

        init(limits: HTTPLimits) {
            var headLimits = limits
            headLimits.maxBodyBytes = 0  // a body over the limit is answered 413 by the router, as on the plain path
            parser = HTTPRequestParser(limits: headLimits)
            self.limits = limits
            var bodyLimits = limits
            bodyLimits.maxBodyBytes = limits.maxBodyBytes == 0 ? TLSConnection.unlimitedBodyCap : limits.maxBodyBytes
            self.bodyLimits = bodyLimits
        }

        /// Forgets the request scanned, for the next one (whose bytes now start the buffer).
        mutating func reset() {
            parser.reset()
            body = nil
            requestCloses = false
        }

        /// Scans `raw` (the bytes received, starting with the request's first byte).
        mutating func scan(_ raw: UnsafeRawBufferPointer) -> RequestLength {
            if body == nil {
                if raw.isEmpty { return .needMore(headComplete: false) }
                switch parser.parseHead(raw) {
                case .error:
                    return .unreadable
                case .incomplete:
                    return raw.count > limits.maxHeadLength ? .unreadable : .needMore(headComplete: false)
                case .complete(let head, let consumed):
                    requestCloses = head.persistence == .close
                    if case .contentLength(let length) = head.framing, length > bodyLimits.maxBodyBytes { return .unreadable }
                    body = (HTTPBodyDecoder(framing: head.framing, limits: bodyLimits), consumed)
                }
            }
            guard var (decoder, offset) = body, offset <= raw.count else { return .unreadable }
            defer { body = (decoder, offset) }
            while true {
                switch decoder.decode(UnsafeRawBufferPointer(rebasing: raw[offset...])) {
                case .data(let range):
                    offset += range.upperBound
                case .needMore:
                    offset = raw.count
                    return .needMore(headComplete: true)
                case .end(let used):
                    return .complete(offset + used)
                case .error:
                    return .unreadable
                }
            }
        }
    }
}
