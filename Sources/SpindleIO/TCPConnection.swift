import CSpindle
import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// A connected TCP socket with blocking-style I/O: `read` and `write` park the calling fiber
/// (never the thread) until io_uring completes them. Every call takes an optional deadline;
/// `timeout` sets one for every call. Owned by one fiber at a time on one worker; `close()`
/// (or deinit) releases the descriptor. Errors are `IOError`s naming the call and errno.
public final class TCPConnection {
    package let fd: Int32
    package unowned(unsafe) let reactor: Reactor
    /// A per-call timeout applied when a call has no explicit deadline.
    public var timeout: Duration? = nil
    /// Received bytes not yet handed to the caller: (buffer id, offset, remaining).
    private var leftover: (id: UInt16, offset: Int, count: Int)? = nil
    private var isClosed = false

    package init(fd: Int32, reactor: Reactor) {
        self.fd = fd
        self.reactor = reactor
    }

    deinit { close() }

    /// Connects to `address`, parking until connected.
    public static func connect(to address: SocketAddress, deadline: Deadline? = nil) throws -> TCPConnection {
        let reactor = Reactor.current("TCPConnection.connect")
        let fd = try Socket.tcp(family: address.family)
        let connection = TCPConnection(fd: fd, reactor: reactor)
        try address.withSockaddr { sa, len in
            _ = try reactor.perform("connect(\(address))", deadline: deadline) { sqe in
                io_uring_prep_connect(sqe, fd, sa, len)
            }
        }
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
    /// Data arrives in a worker-owned provided buffer and is copied out, so a fiber parked here
    /// pins no receive buffer; when the ring is empty (`ENOBUFS`) it falls back to receiving
    /// straight into `buffer`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline? = nil) throws -> Int {
        misusePrecondition(!isClosed, "TCPConnection.read after close()")
        guard buffer.count > 0 else { return 0 }
        if let pending = leftover { return copyLeftover(pending, into: buffer) }
        let deadline = effectiveDeadline(deadline)
        if let ring = reactor.buffers {
            do {
                let fd = self.fd
                let (n, flags) = try reactor.perform("recv", deadline: deadline) { sqe in
                    io_uring_prep_recv(sqe, fd, nil, ring.configuration.size, 0)
                    spindle_sqe_set(sqe, 0, SPINDLE_IOSQE_BUFFER_SELECT)
                    spindle_sqe_set_buf_group(sqe, ring.configuration.group)
                }
                guard flags & IORING_CQE_F_BUFFER != 0 else { return 0 }
                let id = UInt16(flags >> IORING_CQE_BUFFER_SHIFT)
                if n == 0 { ring.recycle(id); return 0 }
                return copyLeftover((id, 0, Int(n)), into: buffer)
            } catch let error as IOError where error.errno == ENOBUFS {
                ring.exhaustedCount += 1
            }
        }
        let fd = self.fd
        let (n, _) = try reactor.perform("recv", deadline: deadline) { sqe in
            io_uring_prep_recv(sqe, fd, buffer.baseAddress, buffer.count, 0)
        }
        return Int(n)
    }

    private func copyLeftover(_ pending: (id: UInt16, offset: Int, count: Int), into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let ring = reactor.buffers!
        let n = min(pending.count, buffer.count)
        buffer.baseAddress!.copyMemory(from: ring.bytes(pending.id) + pending.offset, byteCount: n)
        if n == pending.count {
            leftover = nil
            ring.recycle(pending.id)
        } else {
            leftover = (pending.id, pending.offset + n, pending.count - n)
        }
        return n
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
        let fd = self.fd
        while offset < bytes.count {
            let (n, _) = try reactor.perform("send", deadline: deadline) { sqe in
                io_uring_prep_send(sqe, fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            offset += Int(n)
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
        let fd = self.fd
        while first < vectors.count {
            var message = msghdr()
            let (n, _) = try vectors.withUnsafeMutableBufferPointer { v in
                message.msg_iov = v.baseAddress! + first
                message.msg_iovlen = v.count - first
                return try withUnsafePointer(to: &message) { m in
                    try reactor.perform("sendmsg", deadline: deadline) { sqe in
                        io_uring_prep_sendmsg(sqe, fd, m, UInt32(MSG_NOSIGNAL))
                    }
                }
            }
            var sent = Int(n)
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

    /// Which direction(s) `shutdown` closes.
    public enum ShutdownDirection: Sendable { case read, write, both }

    /// Half-closes the connection (e.g. `.write` sends FIN while still reading).
    public func shutdown(_ direction: ShutdownDirection = .write) throws {
        let how: Int32 = switch direction {
        case .read: Int32(SHUT_RD)
        case .write: Int32(SHUT_WR)
        case .both: Int32(SHUT_RDWR)
        }
        let fd = self.fd
        _ = try reactor.perform("shutdown") { sqe in io_uring_prep_shutdown(sqe, fd, how) }
    }

    /// Closes the descriptor (idempotent). Buffered received bytes are dropped.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        if let pending = leftover { reactor.buffers?.recycle(pending.id); leftover = nil }
        Socket.close(fd)
    }
}
