import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// The parking operations of the io_uring backend: each prepares one SQE whose `user_data`
/// points to a `Completion` on the calling fiber's stack, and parks until its CQE.
extension UringBackend {
    /// Queues one operation prepared by `prepare`, parks the calling fiber until its CQE, and
    /// returns the CQE's result and flags. With a `deadline` (a scheduler timer, no extra SQE),
    /// the operation is cancelled when it passes (`TimeoutError`); cancelling the fiber cancels
    /// the operation (`CancellationError`). Either way the CQE is awaited first (the lifetime
    /// rule). A successful result is returned even if a timeout or cancellation raced it, so no
    /// data is lost. Negative results become `IOError(operation, errno)`.
    @inline(__always)
    func perform(
        _ operation: @autoclosure () -> String,
        deadline: Deadline? = nil,
        waiting reason: FiberWaitReason,
        _ prepare: (SubmissionEntry) -> Void
    ) throws -> (result: Int32, flags: UInt32) {
        let core = Fiber.currentCore(operation())
        if core.isCancelRequested { throw CancellationError() }
        var completion = Completion(core: core)
        var timedOut = false
        let (result, flags) = withUnsafeMutablePointer(to: &completion) { c -> (Int32, UInt32) in
            let userData = UInt64(UInt(bitPattern: c))
            let sqe = ring.nextSQE()
            prepare(sqe)
            sqe.setUserData(userData)
            inFlight += 1
            let woken = Fiber.park(core, cancellable: true, deadline: deadline, for: reason)
            if !c.pointee.done {
                timedOut = woken == .timedOut
                let cancel = ring.nextSQE()
                cancel.prepareCancel(userData: userData)
                cancel.setUserData(0)
                while !c.pointee.done { _ = Fiber.park(core, cancellable: false, deadline: nil, for: reason) }
            }
            return (c.pointee.result, c.pointee.flags)
        }
        if result >= 0 { return (result, flags) }
        // ECANCELED, or EINTR / ERESTARTSYS (512, which the kernel may pass through for an
        // io-wq splice) from an operation the cancel interrupted on an io-wq thread.
        let interrupted = result == -Int32(EINTR) || result == -Self.restartSystemCall
        if result == -Int32(ECANCELED) || (interrupted && (timedOut || core.isCancelRequested)) {
            if timedOut { throw TimeoutError() }
            if core.isCancelRequested { throw CancellationError() }
        }
        throw IOError(operation(), errno: -result)
    }

    /// The kernel's internal `ERESTARTSYS`: an interrupted call to restart, which a signalled
    /// io-wq worker may report as the result of an operation it was running.
    static let restartSystemCall: Int32 = 512

    package func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) throws -> Int {
        Int(try perform("recv", deadline: deadline, waiting: .read) { sqe in
            sqe.prepareReceive(fd, into: buffer.baseAddress, count: buffer.count)
        }.result)
    }

    package func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, deadline: Deadline?) throws -> Int {
        Int(try perform("send", deadline: deadline, waiting: .write) { sqe in
            sqe.prepareSend(fd, bytes.baseAddress, count: bytes.count)
        }.result)
    }

    package func send(_ fd: Int32, vectors: UnsafeMutableBufferPointer<iovec>, deadline: Deadline?) throws -> Int {
        var message = msghdr()
        message.msg_iov = vectors.baseAddress
        message.msg_iovlen = vectors.count
        return try withUnsafePointer(to: &message) { m in
            Int(try perform("sendmsg", deadline: deadline, waiting: .write) { sqe in
                sqe.prepareSendMessage(fd, m)
            }.result)
        }
    }

    /// Splices up to one pipe's worth of the file into a pipe, then from the pipe into the
    /// socket (each splice runs on an io-wq thread of the kernel; the fiber parks for each).
    /// The page-cache pages travel by reference: no byte is copied through user space. Returns
    /// the bytes sent (0 at the end of the file). A failure or timeout halfway closes the
    /// pipe (it may hold bytes) rather than keeping it.
    package func sendFile(_ socket: Int32, from file: Int32, at offset: Int, count: Int, deadline: Deadline?) throws -> Int {
        guard count > 0 else { return 0 }
        let pipe = try splicePipes.take()
        var isEmpty = false
        defer { splicePipes.giveBack(pipe, isEmpty: isEmpty) }
        let filled = Int(try perform("splice(file to pipe)", deadline: deadline, waiting: .write) { sqe in
            sqe.prepareSplice(from: file, at: offset, to: pipe.write, count: min(count, pipe.capacity))
        }.result)
        var drained = 0
        while drained < filled {
            let sent = Int(try perform("splice(pipe to socket)", deadline: deadline, waiting: .write) { sqe in
                sqe.prepareSplice(from: pipe.read, at: nil, to: socket, count: filled - drained)
            }.result)
            guard sent > 0 else { throw IOError("splice(pipe to socket)", errno: EPIPE) }
            drained += sent
        }
        isEmpty = true
        return filled
    }

    package func connect(_ fd: Int32, to address: SocketAddress, deadline: Deadline?) throws {
        try address.withSockaddr { sa, len in
            _ = try perform("connect(\(address))", deadline: deadline, waiting: .write) { sqe in
                sqe.prepareConnect(fd, sa, length: len)
            }
        }
    }

    package func openFile(_ path: String, flags: Int32, permissions: UInt32) throws -> Int32 {
        try path.withCString { cPath in
            try perform("openat(\(path))", waiting: .read) { sqe in
                sqe.prepareOpen(cPath, flags: flags, permissions: permissions)
            }.result
        }
    }

    package func readFile(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        Int(try perform("read", waiting: .read) { sqe in
            sqe.prepareRead(fd, into: buffer.baseAddress, count: buffer.count, at: offset)
        }.result)
    }

    package func writeFile(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws -> Int {
        Int(try perform("write", waiting: .write) { sqe in
            sqe.prepareWrite(fd, bytes.baseAddress, count: bytes.count, at: offset)
        }.result)
    }

    package func statusOfFile(_ fd: Int32) throws -> File.Status {
        try withUnsafeTemporaryAllocation(byteCount: Ring.statxBufferSize, alignment: 16) { buffer in
            _ = try perform("statx", waiting: .read) { sqe in sqe.prepareStatx(fd, into: buffer.baseAddress!) }
            return Ring.decodeStatx(buffer.baseAddress!)
        }
    }

    package func closeFile(_ fd: Int32) throws {
        _ = try perform("close", waiting: .other) { sqe in sqe.prepareClose(fd) }
    }

    package func synchronizeFile(_ fd: Int32) throws {
        _ = try perform("fdatasync", waiting: .write) { sqe in sqe.prepareDataSync(fd) }
    }

    package func renameFile(_ path: String, to newPath: String, replacing: Bool) throws {
        try path.withCString { cPath in
            try newPath.withCString { cNewPath in
                _ = try perform("renameat(\(path), \(newPath))", waiting: .write) { sqe in
                    sqe.prepareRename(cPath, to: cNewPath, replacing: replacing)
                }
            }
        }
    }

    package func removeFile(_ path: String) throws {
        try path.withCString { cPath in
            _ = try perform("unlinkat(\(path))", waiting: .write) { sqe in sqe.prepareUnlink(cPath) }
        }
    }
}
