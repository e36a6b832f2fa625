import HTTPTypes
import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleTLS

// A connection taken over by another protocol (WebSocket) after `101 Switching Protocols`:
// the serving fiber keeps it, reads the client's raw bytes from the receive buffer (the
// multishot receive keeps filling it, as for a body) and writes straight to the socket. The
// lifetime rule is unchanged: when the fiber's session ends, the connection closes.
extension HTTPConnection {
    /// Writes the `101` head of `response` (after any pipelined responses before it), calls
    /// `written`, and runs its upgrade session in this fiber. Returns when the session has
    /// ended; the connection then closes.
    func performUpgrade(_ response: Response, _ upgrade: Response.Upgrade, written: () -> Void) {
        let output = batchForWriting()
        output.writer.writeSwitchingProtocols(fields: response.headerFields, into: &output.buffer)
        do {
            try flushOutput(deadline: .runNow + worker.configuration.writeTimeout)
        } catch {
            return  // the client is gone (the connection is closing)
        }
        written()
        // Nothing points into the buffer any more: the bytes after the head are the new
        // protocol's, received into a large buffer (messages come in pieces of many kilobytes).
        useLargeBuffer()
        upgrade.session(UpgradedConnection(connection: self))
    }

    /// After an upgrade: copies received bytes into `out` (at most its size), parking until
    /// some arrive or `deadline` passes. 0 at the end of the client's input. Throws
    /// `UpgradedConnection.TimedOut` at the deadline and `CancellationError` when the connection
    /// is being closed (shutdown's force close, a reset).
    func readUpgraded(into out: UnsafeMutableRawBufferPointer, deadline: Deadline?) throws -> Int {
        guard let buffer else { throw CancellationError() }
        while true {
            if !buffer.isEmpty {
                let n = min(out.count, buffer.end - buffer.start)
                out.baseAddress!.copyMemory(from: buffer.memory + buffer.start, byteCount: n)
                buffer.start += n
                return n
            }
            buffer.start = 0
            buffer.end = 0
            absorbOverflow(compacting: true)
            if !buffer.isEmpty { continue }
            guard case .serving(_, let inputEnded) = state else { throw CancellationError() }
            if inputEnded { return 0 }
            if socket.receiveMode != .receiving { socket.startReceiving(self) }
            switch park(deadline: deadline, waiting: .read) {
            case .ready: continue
            case .timedOut: throw UpgradedConnection.TimedOut()
            case .cancelled, .closing: throw CancellationError()
            }
        }
    }

    /// After an upgrade: writes `bytes`, parking until the kernel took them (at most until
    /// `deadline`). Throws when the connection failed or is closing.
    func writeUpgraded(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws {
        guard case .serving = state else { throw CancellationError() }
        do {
            try socket.write(bytes, deadline: deadline)
        } catch {
            close()
            throw error
        }
    }
}

/// The raw byte stream of a connection after `101 Switching Protocols`, for the protocol's
/// session (`WebSocket`): a plain connection's, or a TLS connection's plaintext. Valid while the
/// session runs, in the fiber that runs it and in other fibers of the same worker thread that
/// the session outlives (one reading, others writing, as on a socket).
struct UpgradedConnection {
    /// A read waited until its deadline.
    struct TimedOut: Error {}

    /// What carries the bytes (strong references: other fibers may hold the session's object).
    private enum Transport {
        case plain(HTTPConnection)
        case tls(UpgradedTLSStream)
    }

    private let transport: Transport
    /// The server is stopping: sessions should close with 1001.
    var serverIsStopping: Bool { worker.stopping }
    /// How long each write may wait.
    var writeTimeout: Duration { worker.configuration.writeTimeout }
    private let worker: ServerWorker

    /// A plain connection's stream.
    init(connection: HTTPConnection) {
        transport = .plain(connection)
        worker = connection.worker
    }

    /// A TLS connection's stream (after the bytes that came behind the upgrade request).
    init(tls: UpgradedTLSStream, worker: ServerWorker) {
        transport = .tls(tls)
        self.worker = worker
    }

    /// Copies received bytes into `out` (at most its size), parking until some arrive or
    /// `deadline` passes; 0 at the end of the client's input. Throws `TimedOut` at the deadline
    /// and `CancellationError` (or the stream's error) when the connection is closing.
    func read(into out: UnsafeMutableRawBufferPointer, deadline: Deadline?) throws -> Int {
        switch transport {
        case .plain(let connection): try connection.readUpgraded(into: out, deadline: deadline)
        case .tls(let stream): try stream.read(into: out, deadline: deadline)
        }
    }

    /// Writes `bytes`, parking until the kernel took them (at most until `deadline`). Throws
    /// when the connection failed or is closing.
    func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws {
        switch transport {
        case .plain(let connection): try connection.writeUpgraded(bytes, deadline: deadline)
        case .tls(let stream): try stream.write(bytes, deadline: deadline)
        }
    }
}

/// A TLS connection's plaintext after an upgrade: first the bytes that arrived behind the
/// upgrade request (the client may send its first frame at once), then the stream's.
final class UpgradedTLSStream {
    private let stream: TLSStream
    // `@exclusivity(unchecked)`: worker thread only, short accesses that never span a park.
    @exclusivity(unchecked) private var early: [UInt8]

    init(stream: TLSStream, early: [UInt8]) {
        self.stream = stream
        self.early = early
    }

    /// See `UpgradedConnection.read`.
    func read(into out: UnsafeMutableRawBufferPointer, deadline: Deadline?) throws -> Int {
        if !early.isEmpty {
            let n = min(out.count, early.count)
            early.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            early.removeFirst(n)
            return n
        }
        do {
            return try stream.read(into: out, deadline: deadline)
        } catch is TimeoutError {
            throw UpgradedConnection.TimedOut()
        }
    }

    /// See `UpgradedConnection.write`.
    func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws {
        try stream.write(bytes, deadline: deadline)
    }
}
