import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// The parking operations of the epoll backend: each tries its non-blocking system call and
/// parks the fiber only while the socket is not ready. Files run on the offload pool.
extension EpollBackend {
    /// Runs `attempt` (a non-blocking call returning a result ≥ 0 or `-errno`) until it does
    /// not say EAGAIN, parking the calling fiber in `fd`'s reader (or, `writing`, writer) queue
    /// between attempts; an event on the socket wakes it for the next attempt. With a
    /// `deadline`, still waiting when it passes ends with `TimeoutError`; cancelling the fiber
    /// ends it with `CancellationError` (a fiber already cancelled gets it before the first
    /// attempt). Nothing is consumed while the fiber waits, so a timeout or cancellation loses
    /// no byte: they stay in the socket for the next call. Other errors are
    /// `IOError(operation, errno)`; a socket closed on the worker while the fiber waits ends
    /// with EBADF. Cost without waiting: the system call; with: one park and a retry per event.
    @inline(__always)
    func perform(_ operation: @autoclosure () -> String, _ fd: Int32, writing: Bool, deadline: Deadline?,
                 _ attempt: () -> Int) throws -> Int {
        let core = Fiber.currentCore(operation())
        if core.isCancelRequested { throw CancellationError() }
        var result = attempt()
        if result >= 0 { return result }
        let entry = registrations.entry(for: fd)
        while true {
            guard result == -Int(EAGAIN) else { throw IOError(operation(), errno: Int32(-result)) }
            if writing { entry.writable = false } else { entry.readable = false }
            if !entry.isRegistered { try register(entry) }  // reports at once what is pending
            let generation = entry.generation
            if writing { entry.writers.append(core) } else { entry.readers.append(core) }
            switch Fiber.park(core, cancellable: true, deadline: deadline, for: writing ? .write : .read) {
            case .ready: break
            case .timedOut: throw TimeoutError()
            case .cancelled: throw CancellationError()
            case .closing: throw IOError(operation(), errno: EBADF)
            }
            guard entry.generation == generation else { throw IOError(operation(), errno: EBADF) }
            result = attempt()
            if result >= 0 { return result }
        }
    }

    /// `recv`, parking while the socket is empty. Fiber of this worker; one system call when
    /// bytes are waiting.
    package func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) throws -> Int {
        try perform("recv", fd, writing: false, deadline: deadline) {
            Epoll.receive(fd, buffer.baseAddress, buffer.count)
        }
    }

    /// `send`, parking while the socket buffer is full. Fiber of this worker; one system call
    /// when there is room.
    package func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, deadline: Deadline?) throws -> Int {
        try perform("send", fd, writing: true, deadline: deadline) {
            Epoll.send(fd, bytes.baseAddress, bytes.count)
        }
    }

    /// `sendfile`, parking while the socket buffer is full. Fiber of this worker; one system
    /// call when there is room (which reads the file's pages from the page cache, waiting for
    /// the disk on this thread for pages not there).
    package func sendFile(_ socket: Int32, from file: Int32, at offset: Int, count: Int, deadline: Deadline?) throws -> Int {
        try perform("sendfile", socket, writing: true, deadline: deadline) {
            Epoll.sendFile(socket, file, offset, count)
        }
    }

    /// `sendmsg` of `vectors`, parking while the socket buffer is full. Fiber of this worker.
    package func send(_ fd: Int32, vectors: UnsafeMutableBufferPointer<iovec>, deadline: Deadline?) throws -> Int {
        var message = msghdr()
        message.msg_iov = vectors.baseAddress
        message.msg_iovlen = vectors.count
        return try withUnsafePointer(to: &message) { m in
            try perform("sendmsg", fd, writing: true, deadline: deadline) { Epoll.send(fd, message: m) }
        }
    }

    /// Makes `fd` non-blocking and starts connecting; when the kernel answers EINPROGRESS,
    /// parks until the socket is writable (or failed), then `SO_ERROR` says how it went.
    package func connect(_ fd: Int32, to address: SocketAddress, deadline: Deadline?) throws {
        if Fiber.currentCore("connect").isCancelRequested { throw CancellationError() }
        let entry = adopt(fd)
        do { try Epoll.setNonBlocking(fd) } catch { throw IOError("connect(\(address))", errno: error.errno) }
        let code = address.withSockaddr { sa, length in Epoll.connect(fd, sa, length) }
        if code == 0 { return }
        guard code == EINPROGRESS else { throw IOError("connect(\(address))", errno: code) }
        _ = try perform("connect(\(address))", fd, writing: true, deadline: deadline) {
            let pending = Epoll.socketError(fd)
            if pending != 0 { return -Int(pending) }
            if entry.writable { return 0 }
            return entry.hungUp ? -Int(ECONNREFUSED) : -Int(EAGAIN)
        }
    }

    // MARK: - Files, on the offload pool
    //
    // Regular files are always "ready" to epoll, so their calls run on `Fiber.offload`'s
    // threads while the fiber parks. Differences from io_uring: a cancelled fiber still waits
    // for the call to finish on its thread (it cannot be interrupted) — which is also what
    // keeps the caller's buffer valid until no thread touches it — and then gets the result if
    // the call succeeded, `CancellationError` if it failed; a full offload queue throws
    // `OffloadRejectedError` (SPINDLE_OFFLOAD_QUEUE); file calls share the pool's threads
    // (SPINDLE_OFFLOAD_THREADS) with the application's offloaded work.

    /// `Fiber.offload` of `work`, after the cancellation check every operation makes first.
    private func offloaded<T>(_ operation: @autoclosure () -> String, _ work: @escaping @Sendable () throws -> T) throws -> T {
        if Fiber.currentCore(operation()).isCancelRequested { throw CancellationError() }
        return try Fiber.offload(work)
    }

    /// `openat` on an offload thread; the fiber parks meanwhile.
    package func openFile(_ path: String, flags: Int32, permissions: UInt32) throws -> Int32 {
        try offloaded("File.open") { try Epoll.openFile(path, flags: flags, permissions: permissions) }
    }

    /// `pread` on an offload thread into the caller's buffer; the fiber parks meanwhile.
    package func readFile(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        let target = OffloadedBuffer(bytes: buffer)
        return try offloaded("File.read") { try Epoll.readFile(fd, target.bytes, at: offset) }
    }

    /// `pwrite` on an offload thread; the fiber parks meanwhile.
    package func writeFile(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws -> Int {
        let source = OffloadedBuffer(bytes: UnsafeMutableRawBufferPointer(mutating: bytes))
        return try offloaded("File.write") { try Epoll.writeFile(fd, UnsafeRawBufferPointer(source.bytes), at: offset) }
    }

    /// `fstat` on an offload thread; the fiber parks meanwhile.
    package func statusOfFile(_ fd: Int32) throws -> File.Status {
        try offloaded("File.status") { try Epoll.statusOfFile(fd) }
    }

    /// `close` on an offload thread; the fiber parks meanwhile.
    package func closeFile(_ fd: Int32) throws {
        try offloaded("File.close") { try Epoll.closeFile(fd) }
    }

    /// `fdatasync` on an offload thread; the fiber parks meanwhile.
    package func synchronizeFile(_ fd: Int32) throws {
        try offloaded("File.synchronize") { try Epoll.synchronizeFile(fd) }
    }

    /// `renameat2` on an offload thread; the fiber parks meanwhile.
    package func renameFile(_ path: String, to newPath: String, replacing: Bool) throws {
        try offloaded("File.rename") { try Epoll.renameFile(path, to: newPath, replacing: replacing) }
    }

    /// `unlinkat` on an offload thread; the fiber parks meanwhile.
    package func removeFile(_ path: String) throws {
        try offloaded("File.remove") { try Epoll.removeFile(path) }
    }
}

/// A caller's buffer used by an offload thread. The calling fiber waits until the thread is
/// done with it, cancelled or not (`Fiber.offload`), so the memory outlives every access.
struct OffloadedBuffer: @unchecked Sendable {
    // @unchecked Sendable: touched by one offload thread while its owner's fiber is parked.
    let bytes: UnsafeMutableRawBufferPointer
}
