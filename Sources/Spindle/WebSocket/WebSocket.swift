import HTTPTypes
import SpindleFibers
import SpindleHTTP

/// Limits and timers of a WebSocket session.
public struct WebSocketConfiguration: Sendable {
    /// The largest message (all its fragments) accepted; beyond, the session closes with 1009.
    public var maxMessageBytes: Int
    /// After this long without a frame from the client, the server pings it; nil: never.
    public var pingInterval: Duration?
    /// How long a ping may go unanswered (by any frame) before the session closes with 1001.
    public var pongTimeout: Duration
    /// How long the server waits for the client's close frame after sending its own.
    public var closeTimeout: Duration

    /// Defaults: 1 MiB messages, a ping after 30 s of silence, 10 s for the answer, 5 s for the
    /// closing handshake.
    public init(maxMessageBytes: Int = 1 << 20, pingInterval: Duration? = .seconds(30),
                pongTimeout: Duration = .seconds(10), closeTimeout: Duration = .seconds(5)) {
        self.maxMessageBytes = maxMessageBytes
        self.pingInterval = pingInterval
        self.pongTimeout = pongTimeout
        self.closeTimeout = closeTimeout
    }
}

/// A message received on a `WebSocket`.
public enum WebSocketMessage: Equatable, Sendable {
    /// A text message (valid UTF-8, checked).
    case text(String)
    /// A binary message.
    case binary([UInt8])
}

/// Why `WebSocket.send` failed: the session is over (closed, or the connection failed).
public struct WebSocketClosedError: Error, CustomStringConvertible, Sendable {
    /// The close code that ended the session, when there was one.
    public let code: WebSocketCloseCode?
    public var description: String { "the WebSocket is closed" + (code.map { " (\($0))" } ?? "") }
}

/// One WebSocket connection (RFC 6455), server side, in blocking style: `receive()` parks the
/// fiber until a message arrives, `send` parks only while the kernel's send buffer is full
/// (backpressure). Pings are answered, fragmented messages reassembled, text checked as UTF-8,
/// limits enforced, the closing handshake done, all inside `receive()`. A protocol violation by
/// the client closes the session with the right code (1002, 1007, 1009). An idle client is
/// pinged (`WebSocketConfiguration.pingInterval`) and dropped if it does not answer.
///
/// Used by the fiber running the session and, for sends, by other fibers of the same worker
/// thread (a fan-out); sends are serialised. Not for other threads: hand messages to the
/// session's thread with `Scheduler.submit`. When the session function returns, the socket
/// is closed (with 1000 if nobody closed it before); later sends throw `WebSocketClosedError`.
public final class WebSocket {
    private let connection: UpgradedConnection
    /// Its limits and timers.
    public let configuration: WebSocketConfiguration
    private let sendLock = FiberMutex()
    private var input: [UInt8] = []
    private var inputStart = 0
    private var scratch = [UInt8](repeating: 0, count: 16 << 10)
    private var state = State.open
    private var pingOutstanding = false

    /// Where the session is in the closing handshake.
    enum State: Equatable {
        /// Messages flow both ways.
        case open
        /// The server sent its close frame and waits for the client's.
        case closeSent(WebSocketCloseCode)
        /// Closed (the code that ended it, if any): nothing more is read or sent.
        case closed(WebSocketCloseCode?)
    }

    init(connection: UpgradedConnection, configuration: WebSocketConfiguration) {
        self.connection = connection
        self.configuration = configuration
    }

    /// True until the closing handshake has started.
    public var isOpen: Bool { state == .open }

    /// The code that closed the session (nil while open, or when the connection just failed).
    public var closeCode: WebSocketCloseCode? {
        switch state {
        case .open: nil
        case .closeSent(let code): code
        case .closed(let code): code
        }
    }

    /// Runs `session`, then closes: 1000 after a normal return, 1011 after an error (logged by
    /// no one: the session's own business), 1001 when the server is stopping.
    func run(_ session: (WebSocket) throws -> Void) {
        do {
            try session(self)
            if isOpen { try? close(connection.serverIsStopping ? .goingAway : .normal) }
        } catch {
            if isOpen { try? close(.internalError) }
        }
        sendLock.lock()  // no send of another fiber still in flight when the connection closes
        state = .closed(closeCode)
        sendLock.unlock()
    }

    // MARK: - Receiving

    /// The next message, parking until it has arrived; nil once the session is closed (the
    /// client closed it, it broke the protocol, it stopped answering, or the server is
    /// stopping). Answers pings and handles the closing handshake on the way.
    public func receive() throws -> WebSocketMessage? {
        var fragments: [UInt8] = []
        var messageOpcode: WebSocketOpcode? = nil
        var validator = UTF8Validator()
        while true {
            if case .closed = state { return nil }
            guard let (header, payload) = try nextFrame() else { return nil }
            switch header.opcode {
            case .ping:
                try sendFrame(.pong, payload)
            case .pong:
                pingOutstanding = false
            case .close:
                handleClose(payload)
                return nil
            case .text, .binary, .continuation:
                if header.opcode == .continuation {
                    guard messageOpcode != nil else { fail(.protocolError); return nil }
                } else {
                    guard messageOpcode == nil else { fail(.protocolError); return nil }  // a new message inside a fragmented one
                    messageOpcode = header.opcode
                }
                guard fragments.count + payload.count <= configuration.maxMessageBytes else { fail(.messageTooBig); return nil }
                if messageOpcode == .text {
                    let valid = payload.withUnsafeBytes { validator.consume($0) }
                    guard valid else { fail(.invalidPayload); return nil }
                }
                fragments += payload
                guard header.isFinal else { continue }
                if messageOpcode == .text {
                    guard validator.isComplete else { fail(.invalidPayload); return nil }
                    return .text(String(decoding: fragments, as: UTF8.self))
                }
                return .binary(fragments)
            }
        }
    }

    /// The next frame and its unmasked payload; nil when the session ended meanwhile.
    private func nextFrame() throws -> (WebSocketFrameHeader, [UInt8])? {
        while true {
            let parsed = input.withUnsafeBytes {
                WebSocketFrameHeader.parse(UnsafeRawBufferPointer(rebasing: $0[inputStart...]), maxPayload: configuration.maxMessageBytes)
            }
            switch parsed {
            case .violation(let code, _):
                fail(code)
                return nil
            case .header(let header):
                let end = inputStart + header.headerLength + header.payloadLength
                if input.count >= end {
                    var payload = Array(input[(inputStart + header.headerLength)..<end])
                    if let key = header.maskingKey { payload.withUnsafeMutableBytes { WebSocketFrameHeader.unmask($0, key: key) } }
                    inputStart = end
                    if inputStart == input.count { input.removeAll(keepingCapacity: true); inputStart = 0 }
                    return (header, payload)
                }
            case .incomplete:
                break
            }
            guard try readMore() else { return nil }
        }
    }

    /// Appends received bytes to `input`; false when the session ended (client gone, silent
    /// after a ping, or the close handshake timed out).
    private func readMore() throws -> Bool {
        if inputStart > 0 && inputStart >= input.count / 2 {
            input.removeFirst(inputStart)
            inputStart = 0
        }
        while true {
            let deadline: Deadline?
            switch state {
            case .open:
                if pingOutstanding { deadline = .now + configuration.pongTimeout }
                else { deadline = configuration.pingInterval.map { .now + $0 } }
            case .closeSent:
                deadline = .now + configuration.closeTimeout
            case .closed:
                return false
            }
            do {
                let n = try scratch.withUnsafeMutableBytes { try connection.read(into: $0, deadline: deadline) }
                if n == 0 { state = .closed(closeCode); return false }  // the client closed the TCP connection
                input.append(contentsOf: scratch[0..<n])
                return true
            } catch is UpgradedConnection.TimedOut {
                switch state {
                case .open where !pingOutstanding:
                    pingOutstanding = true
                    try sendFrame(.ping, [])
                case .open:
                    fail(.goingAway)  // the ping went unanswered
                    return false
                case .closeSent, .closed:
                    state = .closed(closeCode)
                    return false
                }
            } catch is CancellationError {
                state = .closed(closeCode)
                return false
            }
        }
    }

    /// The client's close frame: answer it (echoing its code) unless the server closed first.
    private func handleClose(_ payload: [UInt8]) {
        var code: WebSocketCloseCode? = nil
        if payload.count == 1 { fail(.protocolError); return }
        if payload.count >= 2 {
            let received = WebSocketCloseCode(rawValue: UInt16(payload[0]) << 8 | UInt16(payload[1]))
            guard received.isValidOnTheWire else { fail(.protocolError); return }
            var validator = UTF8Validator()
            let validReason = payload[2...].withUnsafeBytes { validator.consume($0) } && validator.isComplete
            guard validReason else { fail(.invalidPayload); return }
            code = received
        }
        if case .open = state {
            try? sendClose(code ?? .normal, reason: "")
        }
        state = .closed(code ?? closeCode ?? .normal)
    }

    /// Closes for a protocol failure: sends the code, and stops reading.
    private func fail(_ code: WebSocketCloseCode) {
        if case .open = state { try? sendClose(code, reason: "") }
        state = .closed(code)
    }

    // MARK: - Sending

    /// Sends a text message. Parks while the kernel's buffer is full; throws
    /// `WebSocketClosedError` once the session is closed.
    public func send(_ text: String) throws {
        try sendFrame(.text, Array(text.utf8))
    }

    /// Sends a binary message (see `send(_:)` for text).
    public func send(_ bytes: some Collection<UInt8>) throws {
        try sendFrame(.binary, Array(bytes))
    }

    /// Sends a ping (at most 125 bytes of payload).
    public func ping(_ payload: [UInt8] = []) throws {
        precondition(payload.count <= 125, "WebSocket.ping: a control frame carries at most 125 bytes")
        try sendFrame(.ping, payload)
    }

    /// Starts the closing handshake with `code` and waits (inside `receive()`, or here when
    /// nothing else reads) for the client's close, at most `closeTimeout`.
    public func close(_ code: WebSocketCloseCode = .normal, reason: String = "") throws {
        guard case .open = state else { return }
        try sendClose(code, reason: reason)
        state = .closeSent(code)
        // Drain until the client's close frame (or the timeout): messages after ours are dropped.
        while case .closeSent = state {
            guard let (header, payload) = try nextFrame() else { break }
            if header.opcode == .close { handleClose(payload) }
        }
        state = .closed(code)
    }

    private func sendClose(_ code: WebSocketCloseCode, reason: String) throws {
        var payload = [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)]
        payload += reason.utf8.prefix(123)
        try sendFrame(.close, payload, allowedWhenClosing: true)
    }

    private func sendFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], allowedWhenClosing: Bool = false) throws {
        sendLock.lock()
        defer { sendLock.unlock() }
        switch state {
        case .open: break
        case .closeSent where opcode == .pong: break
        default: if !allowedWhenClosing { throw WebSocketClosedError(code: closeCode) }
        }
        var frame = HTTPOutputBuffer(capacity: payload.count + 14)
        payload.withUnsafeBytes { WebSocketFrameHeader.write(opcode: opcode, payload: $0, into: &frame) }
        do {
            try connection.write(frame.readableBytes, deadline: .now + connection.writeTimeout)
        } catch {
            state = .closed(closeCode)
            throw WebSocketClosedError(code: closeCode)
        }
    }
}
