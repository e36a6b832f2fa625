import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// A connected TCP socket with blocking-style I/O: `read` and `write` park the calling fiber
/// (never the thread) until the worker's I/O backend completes them. Every call takes an
/// optional deadline; `timeout` sets one for every call. Owned by one fiber at a time on one
/// worker; `close()` (or deinit) releases the descriptor. Errors are `IOError`s naming the call
/// and errno.
///
/// The server also drives a connection without a fiber (package API): a `StreamReceiver` hands
/// arriving bytes to a delegate in the scheduler loop, and an `AsyncSend` sends a response
/// after the fiber that wrote it has ended.
public final class TCPConnection {
    /// The socket (for the backend and the listener; nothing above SpindleIO uses it).
    package let fd: Int32
    /// The worker's backend, held strongly (a plain reference is borrowed for each call, where
    /// an unowned one was retained and released around it: one atomic pair per call). An object
    /// kept after its runtime has stopped keeps the backend — its ring or epoll descriptor —
    /// until it is freed; the backends release every object they hold when they stop.
    package let backend: any IOBackend
    /// A per-call timeout applied when a call has no explicit deadline.
    public var timeout: Duration? = nil
    // `@exclusivity(unchecked)`: worker thread only, short accesses that never span a switch.
    @exclusivity(unchecked) private var isClosed = false
    @exclusivity(unchecked) private var receiver: StreamReceiver? = nil
    @exclusivity(unchecked) private var sender: AsyncSend? = nil

    package init(fd: Int32, backend: any IOBackend) {
        self.fd = fd
        self.backend = backend
        LiveIOObjects.count(LiveIOObjects.connections, 1)
    }

    deinit {
        close()
        LiveIOObjects.count(LiveIOObjects.connections, -1)
    }

    /// Connects to `address`, parking until connected.
    public static func connect(to address: SocketAddress, deadline: Deadline? = nil) throws -> TCPConnection {
        let backend = IOBackends.current("TCPConnection.connect")
        let fd = try Socket.tcp(family: address.family)
        let connection = TCPConnection(fd: fd, backend: backend)
        try backend.connect(fd, to: address, deadline: deadline)
        return connection
    }

    /// Connects to `host:port` (numeric host).
    public static func connect(host: String, port: Int, deadline: Deadline? = nil) throws -> TCPConnection {
        try connect(to: SocketAddress(host: host, port: port), deadline: deadline)
    }

    private func effectiveDeadline(_ deadline: Deadline?) -> Deadline? {
        deadline ?? timeout.map { .now + $0 }
    }

    /// Reads up to `buffer.count` bytes; returns 0 at end of stream (peer closed its side).
    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline? = nil) throws -> Int {
        misusePrecondition(!isClosed, "TCPConnection.read after close()")
        guard buffer.count > 0 else { return 0 }
        return try backend.receive(fd, into: buffer, deadline: effectiveDeadline(deadline))
    }

    /// Reads up to `maxBytes` into a new array (empty at end of stream).
    public func read(upTo maxBytes: Int = 16 << 10, deadline: Deadline? = nil) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: maxBytes)
        let n = try bytes.withUnsafeMutableBytes { try read(into: $0, deadline: deadline) }
        bytes.removeLast(maxBytes - n)
        return bytes
    }

    /// Writes all of `bytes`, resubmitting after short sends.
    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline? = nil) throws {
        misusePrecondition(!isClosed, "TCPConnection.write after close()")
        let deadline = effectiveDeadline(deadline)
        var offset = 0
        while offset < bytes.count {
            offset += try backend.send(fd, UnsafeRawBufferPointer(rebasing: bytes[offset...]), deadline: deadline)
        }
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: some Collection<UInt8>, deadline: Deadline? = nil) throws {
        if let done = try bytes.withContiguousStorageIfAvailable({ try write(UnsafeRawBufferPointer($0), deadline: deadline) }) {
            return done
        }
        let copy = Array(bytes)
        try copy.withUnsafeBytes { try write($0, deadline: deadline) }
    }

    /// Writes several buffers with one vectored send per round, handling short writes.
    public func write(vectored buffers: [UnsafeRawBufferPointer], deadline: Deadline? = nil) throws {
        misusePrecondition(!isClosed, "TCPConnection.write after close()")
        let deadline = effectiveDeadline(deadline)
        var vectors = buffers.filter { $0.count > 0 }.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        var first = 0
        while first < vectors.count {
            var sent = try vectors.withUnsafeMutableBufferPointer { v in
                try backend.send(fd, vectors: UnsafeMutableBufferPointer(rebasing: v[first...]), deadline: deadline)
            }
            while first < vectors.count && sent >= vectors[first].iov_len {
                sent -= vectors[first].iov_len
                first += 1
            }
            if sent > 0 {
                vectors[first].iov_base += sent
                vectors[first].iov_len -= sent
            }
        }
    }

    /// Sends bytes `range` of `file` without copying them through user space: `sendfile` on the
    /// epoll backend, `splice` through a pipe on io_uring (run by the kernel's io-wq threads).
    /// Parks the fiber while the socket is full (and, on io_uring, for each splice). Returns the
    /// bytes sent: `range.count`, or fewer when the file ended first. Throws `IOError` — before
    /// any byte went out when the kernel cannot splice or `sendfile` this file (a file system
    /// without splice support, no descriptor left for a pipe: copy it instead) — `TimeoutError`
    /// when `deadline` (or `timeout`) passes, and `CancellationError`.
    public func send(_ file: File, range: Range<Int>, deadline: Deadline? = nil) throws -> Int {
        misusePrecondition(!isClosed, "TCPConnection.send(file) after close()")
        misusePrecondition(range.lowerBound >= 0, "TCPConnection.send(file, range: \(range)): the range starts before the file")
        let deadline = effectiveDeadline(deadline)
        var offset = range.lowerBound
        while offset < range.upperBound {
            let sent = try backend.sendFile(fd, from: file.descriptor, at: offset, count: range.upperBound - offset, deadline: deadline)
            if sent == 0 { break }
            offset += sent
        }
        return offset - range.lowerBound
    }

    /// Which direction(s) `shutdown` closes.
    public enum ShutdownDirection: Sendable { case read, write, both }

    /// Half-closes the connection (e.g. `.write` sends FIN while still reading). Never parks.
    public func shutdown(_ direction: ShutdownDirection = .write) throws {
        misusePrecondition(!isClosed, "TCPConnection.shutdown after close()")
        try Socket.shutdown(fd, direction)
    }

    /// Closes the descriptor (idempotent). A fiber-less receive or send still armed is cancelled
    /// first (its delegate hears nothing more from the receive; the send reports `ECANCELED`).
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        receiver?.stop()
        sender?.cancel()
        // On a worker, through its backend (the epoll backend forgets the socket's registration
        // first); elsewhere (say, after the runtime ended) directly.
        if let backend = IOThreadState.current { backend.closeSocket(fd) } else { Socket.close(fd) }
    }

    /// Sends `reply` if the socket takes it at once and closes the connection, never parking
    /// and holding the descriptor no longer than this call: for turning a connection away
    /// (over a connection cap) when a flood may bring many more. What had already arrived is
    /// read and dropped first (up to 16 KiB) so the close is a FIN, not a reset. Returns true
    /// when all of `reply` went out.
    package func refuse(with reply: UnsafeRawBufferPointer) -> Bool {
        misusePrecondition(!isClosed, "TCPConnection.refuse after close()")
        Socket.discardArrived(fd, limit: 16 << 10)
        let sent = Socket.sendWithoutWaiting(fd, reply)
        close()
        return sent == reply.count
    }

    /// True after `close()`.
    package var isOpen: Bool { !isClosed }

    // MARK: - Fiber-less operations (the server's)

    /// Starts (or resumes) handing arriving bytes to `delegate` in the scheduler loop (see
    /// `StreamReceiver`). Allocates the receiver on first use.
    package func startReceiving(_ delegate: any StreamReceiverDelegate) {
        misusePrecondition(!isClosed, "TCPConnection.startReceiving after close()")
        if receiver == nil { receiver = StreamReceiver(fd: fd, backend: backend) }
        // Borrowed, not retained around the call: `start` never drops this connection's
        // receiver (only `close` does), so the field keeps it alive throughout.
        Unmanaged.passUnretained(receiver!)._withUnsafeGuaranteedRef { $0.start(delegate) }
    }

    /// Stops reading until `resumeReceiving()` (bytes already read are still delivered).
    package func pauseReceiving() { receiver?.pause() }

    /// Reads again after `pauseReceiving()`.
    package func resumeReceiving() { receiver?.resume() }

    /// Stops the fiber-less receive for good (no event after this call).
    package func stopReceiving() { receiver?.stop() }

    /// What the fiber-less receive is doing (`.stopped` when never started).
    package var receiveMode: StreamReceiver.Mode { receiver?.mode ?? .stopped }

    /// True while the backend still has the receive armed (it holds the delegate until then).
    package var isReceiveArmed: Bool { receiver?.isArmed ?? false }

    /// Sends all of `bytes` without a fiber; `delegate` hears once when done. The caller keeps
    /// the bytes alive until then. One at a time.
    package func sendAsync(_ bytes: UnsafeRawBufferPointer, delegate: any AsyncSendDelegate) {
        misusePrecondition(!isClosed, "TCPConnection.sendAsync after close()")
        if sender == nil { sender = AsyncSend.reused(fd: fd, backend: backend) }
        // Borrowed, as the receiver in `startReceiving`: `start` never drops the sender.
        Unmanaged.passUnretained(sender!)._withUnsafeGuaranteedRef { $0.start(bytes, delegate: delegate) }
    }

    /// Gives the connection's asynchronous send back to the thread's spares when none is in
    /// flight, so an idle connection holds none (the next `sendAsync` takes one). Never parks.
    package func releaseIdleSender() {
        guard let sender, !sender.isInFlight else { return }
        self.sender = nil
        AsyncSend.recycle(sender)
    }

    /// Cancels the asynchronous send in flight (its delegate hears `ECANCELED` unless it
    /// completed first).
    package func cancelAsyncSend() { sender?.cancel() }

    /// True while an asynchronous send is in flight.
    package var isSendingAsync: Bool { sender?.isInFlight ?? false }
}
