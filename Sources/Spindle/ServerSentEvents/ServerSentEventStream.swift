import HTTPTypes
import SpindleFibers

/// The sending side of a Server-Sent Events response (`Response.serverSentEvents`): events,
/// the reconnection delay, comments; and whether the client is still there.
///
/// Every call runs on the request's fiber (or the stream's heartbeat fiber); a send parks it
/// until the kernel took the bytes, at most the server's `writeTimeout`. Writes are serialised
/// with the heartbeat's, so events are never interleaved. Valid only inside the `produce`
/// closure.
public final class ServerSentEventStream {
    /// Where the stream stands; one state, changed only by the methods below.
    private enum State {
        /// Open: sends go out.
        case open
        /// The client closed the connection (or the server is closing it) and no write has
        /// failed: the body can still end cleanly.
        case clientLeft
        /// A write failed (the error): the body is cut wherever that write stopped.
        case writeFailed(any Error)
        /// `produce` has returned: nothing more is written (the heartbeat stops).
        case finished
    }

    static let headerFields: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]

    private let writer: BodyWriter
    private let request: Request?
    private let writeLock = FiberMutex()
    private var state = State.open
    private var lastWrite = Deadline.now
    /// The fiber running `produce`, cancelled when the client is found gone.
    private var producer: Fiber? = nil
    /// `produce` has returned (or thrown): a heartbeat waiting for the write lock then writes
    /// nothing, so no comment follows the producer's last event.
    private var producerReturned = false

    init(writer: BodyWriter, request: Request?) {
        self.writer = writer
        self.request = request
    }

    /// True while the client is connected, as far as the server knows: no write has failed
    /// and (with the request given to `serverSentEvents`) the connection has not seen the
    /// client close. A client that vanished without a word is known once a write to it fails
    /// (within two heartbeats). Cost: a few loads.
    public var isConnected: Bool {
        refreshClientState()
        if case .open = state { return true }
        return false
    }

    /// Sends one event: `id` and `event` lines when given, then `data` (split at CR, LF and
    /// CRLF into one `data:` line each), then the blank line that dispatches it. Throws
    /// `ServerSentEventError.invalidField` when `event` or `id` holds CR or LF (or `id` NUL)
    /// before sending anything, `ServerSentEventError.disconnected` once the client is gone,
    /// and the write's own error when this write fails (then the client is taken as gone).
    /// Parks until sent. Allocates the event's text.
    public func send(event: String? = nil, id: String? = nil, data: String) throws {
        if let event { try Self.checkField("event", event) }
        if let id {
            try Self.checkField("id", id)
            if id.utf8.contains(0) { throw ServerSentEventError.invalidField(name: "id", value: id) }
        }
        var text = ""
        if let id { text += "id: " + id + "\n" }
        if let event { text += "event: " + event + "\n" }
        for line in Self.lines(of: data) { text += "data: " + line + "\n" }
        try write(text + "\n")
    }

    /// Tells the client how long to wait before reconnecting once the stream ends (`retry:`,
    /// in whole milliseconds; negative counts as zero). Throws and parks as `send` does.
    public func retry(_ delay: Duration) throws {
        let (seconds, attoseconds) = delay.components
        let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        let total = overflow ? Int64.max : milliseconds.addingReportingOverflow(attoseconds / 1_000_000_000_000_000).partialValue
        try write("retry: \(max(0, total))\n\n")
    }

    /// Sends a comment (`: text`, one line per line of `text`), which clients ignore: for
    /// keeping intermediaries from timing out, or padding. Throws and parks as `send` does.
    public func comment(_ text: String) throws {
        var block = ""
        for line in Self.lines(of: text) { block += ": " + line + "\n" }
        try write(block + "\n")
    }

    // MARK: - Running

    /// Runs `produce` with this stream and, when `heartbeat` is set, a heartbeat fiber beside
    /// it; stops the heartbeat before returning. A producer that ends because the client left
    /// (it threw, or returned) ends the body cleanly when no write was cut; a body whose write
    /// failed (the producer's or the heartbeat's) is aborted (rethrows), so no last chunk
    /// follows a partial one.
    func run(heartbeat: Duration?, _ produce: (ServerSentEventStream) throws -> Void) throws {
        producer = Fiber.current
        var heartbeatFiber: FiberHandle<Void>? = nil
        if let heartbeat, heartbeat > .zero {
            heartbeatFiber = Fiber.spawn(name: "sse-heartbeat") { [self] in beat(every: heartbeat) }
        }
        var failure: (any Error)? = nil
        do { try produce(self) } catch { failure = error }
        producerReturned = true
        // Once the lock is ours no heartbeat is being written; `finished` keeps it from writing.
        let outcome = writeLock.withLock {
            refreshClientState()
            let outcome = state
            if case .writeFailed = state {} else { state = .finished }
            return outcome
        }
        heartbeatFiber?.cancel()
        _ = try? heartbeatFiber?.join()  // returns at once if this fiber was cancelled: the heartbeat writes nothing more
        producer = nil
        switch outcome {
        case .writeFailed(let error):
            throw error
        case .clientLeft:
            return  // whatever the producer made of it: the body is whole up to here
        case .open, .finished:
            if let failure { throw failure }
        }
    }

    /// The heartbeat fiber: after `interval` without a write, a `: keep-alive` comment; at each
    /// beat, whether the client left (then it cancels the producer and ends).
    private func beat(every interval: Duration) {
        while true {
            do { try Fiber.sleep(until: lastWrite + interval) } catch { return }
            refreshClientState()
            guard case .open = state else {
                if case .finished = state { return }
                producer?.cancel()
                return
            }
            guard Deadline.now >= lastWrite + interval else { continue }  // written meanwhile
            do {
                try write(": keep-alive\n\n", isHeartbeat: true)
            } catch {
                if case .finished = state { return }
                producer?.cancel()
                return
            }
        }
    }

    /// Writes `text` as one chunk, after any write in progress; records a failure. A heartbeat
    /// (`isHeartbeat`) that got the lock after the producer returned writes nothing.
    private func write(_ text: String, isHeartbeat: Bool = false) throws {
        try writeLock.withLock {
            if isHeartbeat && producerReturned { return }
            refreshClientState()
            switch state {
            case .open: break
            case .clientLeft, .writeFailed, .finished: throw ServerSentEventError.disconnected
            }
            do {
                try writer.write(text)
                lastWrite = .now
            } catch {
                state = .writeFailed(error)
                throw error
            }
        }
    }

    /// Moves an open stream to `clientLeft` when the connection has seen the client close.
    private func refreshClientState() {
        if case .open = state, request?.clientHasLeft == true { state = .clientLeft }
    }

    private static func checkField(_ name: String, _ value: String) throws {
        if value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            throw ServerSentEventError.invalidField(name: name, value: value)
        }
    }

    /// `text` split at CR, LF and CRLF (the line ends of the event stream format); one empty
    /// line for empty text.
    private static func lines(of text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
    }
}

/// Why a `ServerSentEventStream` call failed.
public enum ServerSentEventError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The client is gone (a write failed before, or the connection saw it close): nothing is
    /// sent any more.
    case disconnected
    /// `name` (`event` or `id`) holds a line break (or `id` a NUL), which would break the
    /// event's framing; nothing was sent.
    case invalidField(name: String, value: String)

    public var description: String {
        switch self {
        case .disconnected: "the Server-Sent Events client is gone"
        case .invalidField(let name, let value): "Server-Sent Events field \(name) may not contain CR, LF or NUL: \(value.debugDescription)"
        }
    }
}

extension Request {
    /// True when the connection this request came on has seen the client close its side (FIN),
    /// or is closing under it (reset, shutdown). Always false in memory (SpindleTesting).
    /// A client that half-closes and still reads counts as gone: fine for event streams.
    var clientHasLeft: Bool {
        switch source {
        case .connection(let connection):
            connection._withUnsafeGuaranteedRef { connection in
                switch connection.state {
                case .serving(_, let inputEnded): inputEnded
                default: true
                }
            }
        case .memory:
            false
        }
    }
}
