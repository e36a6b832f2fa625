import HTTPTypes
import SpindleFibers
import SpindleHTTP
import SpindleIO
#if canImport(Glibc)
import Glibc
#endif

/// A response: status, fields, and the body, which is read from the connection as the caller
/// asks for it (`body.read`, `body.next`, `body.collect`), or was collected already (`get`).
///
/// The body holds its connection until it has been read to its end; then the connection goes
/// back to the pool for reuse (if the server keeps it alive). A response dropped before its
/// body ended closes its connection instead: a connection with unread bytes is never reused.
/// Worker-thread only, like the client that made it.
public final class HTTPClientResponse {
    /// The final status (after any redirects followed), with its reason phrase as received.
    public let status: HTTPResponse.Status
    /// The response's header fields, in received order and case.
    public let headerFields: HTTPFields
    /// The version of the status line.
    public let version: HTTPVersion
    /// The body: read it, iterate it, or collect it.
    public let body: HTTPClientResponseBody
    /// Redirects the client followed to get this response (0 without any).
    public internal(set) var redirectCount = 0

    init(head: HTTPResponseHead, body: HTTPClientResponseBody) {
        self.status = head.status
        self.headerFields = head.headerFields
        self.version = head.version
        self.body = body
    }
}

/// A response body: streamed from the connection, or collected in memory.
///
///     while let chunk = try response.body.next() { consume(chunk) }     // streamed
///     let bytes = try response.body.collect(maxBytes: 1 << 20)          // collected
///
/// Reads park the fiber (never the thread) while bytes are in flight, each wait bounded by
/// `bodyReadTimeout` and the exchange's total deadline. A body that ends early (the server
/// closed before its Content-Length or last chunk) throws `.closedBeforeBodyEnd`: it is never
/// returned as if complete. A close-delimited body ends at the close. Worker-thread only.
public final class HTTPClientResponseBody {
    enum Framing {
        case length(remaining: Int)
        case chunked(HTTPChunkedDecoder)
        case untilClose
    }

    enum State {
        /// Bytes still to come from `connection`, which this body holds leased.
        case streaming(ClientConnection, Framing)
        /// The end was read (the connection went back to its pool, or was closed).
        case finished
        /// Reading failed with this error (the connection was closed).
        case failed(any Error)
    }

    private var state: State
    private let pool: ConnectionPool?
    private let reusable: Bool
    private let deadlines: ExchangeDeadlines?
    /// Bytes collected before the caller read them (`get`), served first.
    private var buffered: [UInt8] = []
    private var bufferedOffset = 0
    /// Body bytes received so far (decoded, without chunk framing).
    public private(set) var bytesReceived = 0

    init(connection: ClientConnection, framing: HTTPResponseBodyFraming, reusable: Bool, pool: ConnectionPool, deadlines: ExchangeDeadlines) {
        self.pool = pool
        self.reusable = reusable
        self.deadlines = deadlines
        switch framing {
        case .none: declaredLength = 0
        case .contentLength(let n): declaredLength = n
        case .chunked, .untilClose: declaredLength = nil
        }
        switch framing {
        case .none, .contentLength(0):
            state = .finished
            pool.release(connection, reusable: reusable)
        case .contentLength(let n):
            state = .streaming(connection, .length(remaining: n))
        case .chunked:
            // The chunk-size lines and trailers take the head limits; the size is the caller's.
            var limits = deadlines.configuration.limits
            limits.maxBodyBytes = 0
            state = .streaming(connection, .chunked(HTTPChunkedDecoder(limits: limits)))
        case .untilClose:
            state = .streaming(connection, .untilClose)
        }
    }

    deinit {
        // Dropped before the end: the unread bytes make the connection unusable.
        if case .streaming(let connection, _) = state { pool?.release(connection, reusable: false) }
    }

    /// True once the whole body was read (or collected).
    public var isComplete: Bool {
        if case .finished = state { return bufferedOffset == buffered.count }
        return false
    }

    /// The body's declared length: the server's `Content-Length`, 0 for a response without a
    /// body, nil for chunked and close-delimited bodies.
    public let declaredLength: Int?

    /// Appends up to `maxBytes` of the body to `bytes`, parking until some arrive; returns how
    /// many (0 at the end). Throws `HTTPClientError` (`.closedBeforeBodyEnd`, `.timedOut`,
    /// `.invalidResponseBody`, `.io`) or `CancellationError`; after an error, every read throws
    /// it again. Cost: one copy of the bytes; a receive when none are buffered.
    public func read(into bytes: inout [UInt8], maxBytes: Int = 64 << 10) throws -> Int {
        precondition(maxBytes > 0, "HTTPClientResponseBody.read: maxBytes must be positive")
        if bufferedOffset < buffered.count {
            let n = min(maxBytes, buffered.count - bufferedOffset)
            bytes.append(contentsOf: buffered[bufferedOffset..<(bufferedOffset + n)])
            bufferedOffset += n
            if bufferedOffset == buffered.count {
                buffered = []
                bufferedOffset = 0
            }
            return n
        }
        switch state {
        case .finished:
            return 0
        case .failed(let error):
            throw error
        case .streaming(let connection, let framing):
            do {
                return try readStreaming(connection, framing, into: &bytes, maxBytes: maxBytes)
            } catch {
                let reported = Self.clientError(error, deadlines)
                state = .failed(reported)
                pool?.release(connection, reusable: false)
                throw reported
            }
        }
    }

    /// The next part of the body (at most `maxBytes`), or nil at the end: iteration is
    /// `while let chunk = try body.next() { … }`. Errors as `read`. Allocates the array.
    public func next(maxBytes: Int = 64 << 10) throws -> [UInt8]? {
        var chunk: [UInt8] = []
        let n = try read(into: &chunk, maxBytes: maxBytes)
        return n == 0 ? nil : chunk
    }

    /// Reads the rest of the body into one array. Throws `.bodyTooLarge` (and closes the
    /// connection) as soon as it is known to exceed `maxBytes` (default: the client's
    /// `maxCollectedBodyBytes`): at once for a larger `Content-Length`. Errors as `read`.
    public func collect(maxBytes: Int? = nil) throws -> [UInt8] {
        let limit = maxBytes ?? deadlines?.configuration.maxCollectedBodyBytes ?? Int.max
        if case .streaming(let connection, .length(let remaining)) = state,
           remaining > limit - (buffered.count - bufferedOffset) {
            try failCollecting(connection, limit)
        }
        var all: [UInt8] = []
        while true {
            let room = limit - all.count
            let n = try read(into: &all, maxBytes: max(1, min(room + 1, 256 << 10)))
            if n == 0 { return all }
            if all.count > limit {
                guard case .streaming(let connection, _) = state else { break }
                try failCollecting(connection, limit)
            }
        }
        throw HTTPClientError(.bodyTooLarge(limit: limit))
    }

    private func failCollecting(_ connection: ClientConnection, _ limit: Int) throws -> Never {
        let error = HTTPClientError(.bodyTooLarge(limit: limit))
        state = .failed(error)
        pool?.release(connection, reusable: false)
        throw error
    }

    /// Reads the rest of the body and keeps it, so that later reads need no I/O and the
    /// connection goes back to the pool now (what `get` does).
    func buffer(maxBytes: Int) throws {
        let bytes = try collect(maxBytes: maxBytes)
        buffered = bytes
        bufferedOffset = 0
    }

    /// Reads and drops the rest of the body when it is at most `maxBytes` (so the connection
    /// can be reused); a larger or unbounded one is abandoned (the connection closes).
    func discard(maxBytes: Int) {
        buffered = []
        bufferedOffset = 0
        guard case .streaming(let connection, let framing) = state else { return }
        if case .length(let remaining) = framing, remaining <= maxBytes {
            var sink: [UInt8] = []
            while (try? read(into: &sink, maxBytes: 64 << 10)) ?? 0 > 0 { sink.removeAll(keepingCapacity: true) }
            return
        }
        if case .chunked = framing {
            var sink: [UInt8] = []
            var total = 0
            while total <= maxBytes, let n = try? read(into: &sink, maxBytes: 64 << 10), n > 0 {
                total += n
                sink.removeAll(keepingCapacity: true)
            }
            if case .streaming = state { abandon(connection) }
            return
        }
        abandon(connection)
    }

    private func abandon(_ connection: ClientConnection) {
        state = .failed(HTTPClientError(.io(IOError("read the response body (abandoned)", errno: ECANCELED))))
        pool?.release(connection, reusable: false)
    }

    // MARK: - Reading from the connection

    private func readStreaming(_ connection: ClientConnection, _ framing: Framing, into bytes: inout [UInt8], maxBytes: Int) throws -> Int {
        var framing = framing
        while true {
            switch framing {
            case .length(let remaining):
                if connection.pendingCount == 0 {
                    guard try receive(connection) > 0 else { throw HTTPClientError(.closedBeforeBodyEnd(bytesReceived: bytesReceived)) }
                }
                let n = min(remaining, connection.pendingCount, maxBytes)
                bytes.append(contentsOf: connection.pending.prefix(n))
                connection.consume(n)
                bytesReceived += n
                if n == remaining { finish(connection) } else { state = .streaming(connection, .length(remaining: remaining - n)) }
                return n

            case .chunked(var decoder):
                if connection.pendingCount == 0 {
                    guard try receive(connection) > 0 else { throw HTTPClientError(.closedBeforeBodyEnd(bytesReceived: bytesReceived)) }
                }
                let input = connection.pending.prefix(maxBytes)
                let event = decoder.decode(input)
                framing = .chunked(decoder)
                state = .streaming(connection, framing)
                switch event {
                case .data(let range):
                    bytes.append(contentsOf: input[(input.startIndex + range.lowerBound)..<(input.startIndex + range.upperBound)])
                    connection.consume(range.upperBound)
                    bytesReceived += range.count
                    if range.count > 0 { return range.count }
                case .needMore:
                    connection.consume(input.count)
                case .end(let consumed):
                    connection.consume(consumed)
                    finish(connection)
                    return 0
                case .error(let error):
                    throw HTTPClientError(.invalidResponseBody(error))
                }

            case .untilClose:
                if connection.pendingCount == 0 {
                    guard try receive(connection) > 0 else {
                        finish(connection)
                        return 0
                    }
                }
                let n = min(connection.pendingCount, maxBytes)
                bytes.append(contentsOf: connection.pending.prefix(n))
                connection.consume(n)
                bytesReceived += n
                return n
            }
        }
    }

    /// One receive under the body deadline; 0 at the end of the stream.
    private func receive(_ connection: ClientConnection) throws -> Int {
        guard let deadlines else { return 0 }
        let deadline = deadlines.phase(deadlines.configuration.bodyReadTimeout)
        return try deadlines.run(.body, deadline) { deadline in
            try connection.receive(deadline: deadline, maxBuffer: ClientConnection.initialBufferSize)
        }
    }

    /// The body ended: the connection goes back to its pool (idle when it may be reused: the
    /// server keeps it alive and the body was not delimited by the close).
    private func finish(_ connection: ClientConnection) {
        state = .finished
        pool?.release(connection, reusable: reusable)
    }

    /// `error` as the client reports it: timeouts name the body phase, I/O errors are wrapped.
    static func clientError(_ error: any Error, _ deadlines: ExchangeDeadlines?) -> any Error {
        if let error = error as? IOError { return HTTPClientError(.io(error)) }
        return error
    }
}
