import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleTLS

/// One pooled connection to a (host, port), plain TCP or TLS: its transport and a receive
/// buffer of the bytes read but not yet consumed (`buffer[start..<end]`). A connection is either idle in its pool,
/// or leased to one exchange (request, head, then the response body that owns it), or closed.
/// Worker-thread only, like its socket.
final class ClientConnection {
    /// Where the connection is in its life.
    enum State: Equatable {
        /// In its pool's idle list since this time.
        case idle(since: Deadline)
        /// Carrying an exchange (its request, head, or body).
        case leased
        /// Closed; never used again.
        case closed
    }

    /// What carries the bytes.
    enum Transport {
        case plain(TCPConnection)
        /// TLS over the connection, its handshake done.
        case tls(TLSStream)
    }

    let transport: Transport
    let key: PoolKey
    private(set) var state = State.leased
    /// Exchanges this connection carried (1 while the first is on it).
    private(set) var exchanges = 0
    /// Received bytes; `start..<end` are not consumed yet.
    private(set) var buffer: [UInt8]
    private(set) var start = 0
    private(set) var end = 0
    /// The receive buffer's first size; heads larger than it grow it up to the head limit.
    static let initialBufferSize = 16 << 10

    init(transport: Transport, key: PoolKey) {
        self.transport = transport
        self.key = key
        self.buffer = [UInt8](repeating: 0, count: Self.initialBufferSize)
    }

    deinit { closeTransport() }

    /// Bytes received and not consumed.
    var pending: ArraySlice<UInt8> { buffer[start..<end] }
    /// How many bytes are pending.
    var pendingCount: Int { end - start }

    /// Marks `n` pending bytes as used.
    func consume(_ n: Int) {
        precondition(n >= 0 && n <= end - start, "ClientConnection.consume(\(n)) beyond the \(end - start) pending bytes")
        start += n
        if start == end { start = 0; end = 0 }
    }

    /// Reads more bytes after the pending ones, parking until some arrive or `deadline`.
    /// Moves the pending bytes to the front first when the free space is short, and grows
    /// the buffer (to at most `maxBuffer`) when pending bytes fill it. Returns how many bytes
    /// arrived: 0 at the end of the stream.
    func receive(deadline: Deadline?, maxBuffer: Int) throws -> Int {
        if end == buffer.count {
            if start > 0 {
                buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
                end -= start
                start = 0
            } else if buffer.count < maxBuffer {
                buffer.append(contentsOf: repeatElement(0, count: min(buffer.count, maxBuffer - buffer.count)))
            }
        }
        precondition(end < buffer.count, "ClientConnection.receive with a full buffer of \(buffer.count) bytes")
        let n: Int
        switch transport {
        case .plain(let socket):
            n = try socket.read(into: &buffer, from: end, deadline: deadline)
        case .tls(let stream):
            let from = end
            do {
                n = try buffer.withUnsafeMutableBytes { whole in
                    try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: whole[from...]), deadline: deadline)
                }
            } catch let error as TLSError {
                throw HTTPClientError(.tls(error))
            }
        }
        end += n
        return n
    }

    /// True when nothing is pending and the buffer holds the whole of `maxBuffer` (a head this
    /// large is over the limits).
    var isFull: Bool { start == 0 && end == buffer.count }

    /// Sends all of `bytes`, parking until sent or `deadline`.
    func send(_ bytes: [UInt8], deadline: Deadline?) throws {
        switch transport {
        case .plain(let socket):
            try socket.write(bytes, deadline: deadline)
        case .tls(let stream):
            try sendOverTLS(stream) { try bytes.withUnsafeBytes { try stream.write($0, deadline: deadline) } }
        }
    }

    /// Sends all of `bytes` (any collection: a streamed request body's part), parking until
    /// sent or `deadline`. Over TLS a collection without contiguous storage is copied first.
    func send(_ bytes: some Collection<UInt8>, deadline: Deadline?) throws {
        switch transport {
        case .plain(let socket):
            try socket.write(bytes, deadline: deadline)
        case .tls(let stream):
            try sendOverTLS(stream) {
                let sent: Void? = try bytes.withContiguousStorageIfAvailable {
                    try stream.write(UnsafeRawBufferPointer($0), deadline: deadline)
                }
                if sent == nil { try Array(bytes).withUnsafeBytes { try stream.write($0, deadline: deadline) } }
            }
        }
    }

    private func sendOverTLS(_ stream: TLSStream, _ body: () throws -> Void) throws {
        do { try body() } catch let error as TLSError { throw HTTPClientError(.tls(error)) }
    }

    /// The connection was taken for a new exchange.
    func lease() {
        precondition(state != .closed, "a closed client connection was leased")
        state = .leased
        exchanges += 1
    }

    /// The connection went back to its pool's idle list.
    func parkIdle(now: Deadline) {
        precondition(pendingCount == 0, "a client connection with unread bytes went idle")
        state = .idle(since: now)
    }

    /// Closes the socket (idempotent). A TLS connection is closed without close_notify: the
    /// HTTP framing already said where each response ended, and a close never parks.
    func close() {
        guard state != .closed else { return }
        state = .closed
        closeTransport()
    }

    private func closeTransport() {
        switch transport {
        case .plain(let socket): socket.close()
        case .tls(let stream): stream.connection.close()
        }
    }
}
