internal import CSpindle
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// One io_uring instance (liburing), owned by one worker thread. The only type that calls
/// liburing's setup, submit and wait functions; `UringBackend` builds operations on top of it.
///
/// Setup tries the best flags the kernel offers — `SINGLE_ISSUER | DEFER_TASKRUN` (completions
/// are processed only when this thread asks, no inter-processor interrupts), else
/// `COOP_TASKRUN`, else none — and probes the opcodes Spindle uses. Failure to set up names the
/// cause (sysctl, seccomp, old kernel) in an `IOUringUnavailableError`.
package final class Ring {
    /// The liburing ring; a stable heap address because liburing keeps pointers into it.
    let ring: UnsafeMutablePointer<io_uring>
    /// The setup flags the kernel accepted.
    package let setupFlags: UInt32
    /// What this kernel supports, probed once at setup.
    package let features: Features

    /// Kernel capabilities Spindle uses or can do without.
    package struct Features: Sendable, CustomStringConvertible {
        package var multishotAccept = false
        package var multishotRecv = false
        package var providedBufferRings = false
        package var sendZeroCopy = false
        package var linkedTimeouts = false
        package var noDrop = false
        package var fastPoll = false

        package var description: String {
            let all = [("multishot-accept", multishotAccept), ("multishot-recv", multishotRecv),
                       ("buffer-rings", providedBufferRings), ("send-zc", sendZeroCopy),
                       ("linked-timeouts", linkedTimeouts), ("nodrop", noDrop), ("fast-poll", fastPoll)]
            return all.map { "\($0.0)=\($0.1 ? "yes" : "no")" }.joined(separator: " ")
        }
    }

    /// Sets up a ring with `entries` submission slots (the completion queue gets twice that).
    package init(entries: UInt32) throws(IOUringUnavailableError) {
        ring = .allocate(capacity: 1)
        var params = io_uring_params()
        let attempts: [UInt32] = [
            IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
            IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
            0,
        ]
        var lastError: Int32 = 0
        var accepted: UInt32? = nil
        for flags in attempts {
            params = io_uring_params()
            params.flags = flags
            let rc = io_uring_queue_init_params(entries, ring, &params)
            if rc == 0 { accepted = flags; break }
            lastError = -rc
            if lastError != EINVAL { break }  // EINVAL: flag unknown to this kernel, try fewer
        }
        guard let flags = accepted else {
            ring.deallocate()
            throw Ring.unavailable(errno: lastError)
        }
        setupFlags = flags
        // Register the ring's own descriptor with this thread (the only one that enters it), so
        // each io_uring_enter skips the file-table lookup and its reference count. Optional:
        // without it (before 5.18) liburing keeps using the plain descriptor.
        _ = io_uring_register_ring_fd(ring)
        var f = Features()
        f.noDrop = params.features & IORING_FEAT_NODROP != 0
        f.fastPoll = params.features & IORING_FEAT_FAST_POLL != 0
        if let probe = io_uring_get_probe_ring(ring) {
            defer { io_uring_free_probe(probe) }
            func has(_ op: io_uring_op) -> Bool { io_uring_opcode_supported(probe, Int32(op.rawValue)) != 0 }
            f.linkedTimeouts = has(IORING_OP_LINK_TIMEOUT)
            f.sendZeroCopy = has(IORING_OP_SEND_ZC)
            // Multishot accept (5.19) and provided buffer rings (5.19) arrived with IORING_OP_SOCKET.
            f.multishotAccept = has(IORING_OP_SOCKET)
            f.providedBufferRings = has(IORING_OP_SOCKET)
            // Multishot receive arrived in 6.0 together with IORING_OP_SEND_ZC.
            f.multishotRecv = has(IORING_OP_SEND_ZC)
        }
        features = f
    }

    deinit {
        io_uring_queue_exit(ring)
        ring.deallocate()
    }

    /// Stops with a message naming the missing kernel feature `name` unless `present`.
    static func require(_ present: Bool, _ name: String) throws(IOUringUnavailableError) {
        if !present {
            throw IOUringUnavailableError(errno: 0, description: "io_uring on this kernel lacks \(name), which Spindle needs; Linux 6.0 or newer has it (this kernel: \(kernelRelease()))")
        }
    }

    /// A free submission entry, submitting queued ones first when the queue is full.
    @inline(__always)
    func nextSQE() -> UnsafeMutablePointer<io_uring_sqe> {
        if let sqe = io_uring_get_sqe(ring) { return sqe }
        return nextSQESlow()
    }

    @inline(never)
    private func nextSQESlow() -> UnsafeMutablePointer<io_uring_sqe> {
        while true {
            _ = submit()
            if let sqe = io_uring_get_sqe(ring) { return sqe }
        }
    }

    /// Submissions queued and not yet handed to the kernel.
    var pendingSubmissions: UInt32 { io_uring_sq_ready(ring) }

    /// Hands queued submissions to the kernel and, with DEFER_TASKRUN, runs completion work.
    /// Retries EINTR; EAGAIN/EBUSY (CQ overflow backlog) are left for the next loop turn.
    @discardableResult
    func submit() -> Int32 {
        while true {
            let rc = io_uring_submit_and_get_events(ring)
            if rc == -EINTR { continue }
            return rc
        }
    }

    /// Submits and waits until at least one completion, the timeout, or a signal.
    func submitAndWait(timeoutNanoseconds: UInt64?) {
        var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
        if let ns = timeoutNanoseconds {
            var ts = __kernel_timespec(tv_sec: Int64(ns / 1_000_000_000), tv_nsec: Int64(ns % 1_000_000_000))
            _ = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nil)
        } else {
            _ = io_uring_submit_and_wait_timeout(ring, &cqe, 1, nil, nil)
        }
    }

    /// An `IOUringUnavailableError` explaining `errno` from `io_uring_setup`.
    package static func unavailable(errno code: Int32) -> IOUringUnavailableError {
        let disabled = (try? readProc("/proc/sys/kernel/io_uring_disabled")).flatMap { Int($0) }
        let why: String
        switch code {
        case ENOSYS:
            why = "the kernel has no io_uring (io_uring_setup is ENOSYS: too old, or built without CONFIG_IO_URING; this kernel: \(kernelRelease()))"
        case EPERM:
            if let disabled, disabled == 2 {
                why = "io_uring is disabled by the sysctl kernel.io_uring_disabled=2; set it to 0 (sysctl -w kernel.io_uring_disabled=0)"
            } else if let disabled, disabled == 1 {
                why = "io_uring is restricted by kernel.io_uring_disabled=1 to the group in kernel.io_uring_group; add this user to it or set the sysctl to 0"
            } else {
                why = "io_uring_setup was refused (EPERM): a seccomp filter (container runtimes often block io_uring) or an LSM denies it; allow io_uring_setup/io_uring_enter/io_uring_register in the seccomp profile"
            }
        case ENOMEM:
            why = "the kernel could not allocate the ring (ENOMEM): raise RLIMIT_MEMLOCK (ulimit -l) or lower SPINDLE_RING_ENTRIES"
        case EMFILE, ENFILE:
            why = "no file descriptor is left for the ring (\(Errno.name(code))): raise ulimit -n"
        default:
            why = "io_uring_setup failed with \(Errno.name(code)) (\(String(cString: strerror(code))))"
        }
        return IOUringUnavailableError(errno: code, description: "Spindle cannot use io_uring: " + why)
    }

    private static func readProc(_ path: String) throws -> String {
        guard let f = fopen(path, "r") else { throw IOError("open(\(path))", errno: errno) }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 64)
        guard fgets(&buffer, 64, f) != nil else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).filter { !$0.isWhitespace }
    }

    package static func kernelRelease() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafePointer(to: &name.release) { $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) } }
    }
}

// MARK: - Submissions and completions
//
// Every liburing call outside setup: preparing SQEs (typed, one method per operation) and
// reading CQEs. `UringBackend` builds its operations from these and names no liburing symbol.

/// One submission queue entry, prepared in place (valid until the next submit).
typealias SubmissionEntry = UnsafeMutablePointer<io_uring_sqe>

extension UnsafeMutablePointer where Pointee == io_uring_sqe {
    /// Sets the entry's `user_data` (what its CQE carries back) and OR-s in `bufferSelect`.
    @inline(__always)
    func setUserData(_ userData: UInt64, selectingBufferFrom group: UInt16? = nil) {
        if let group {
            spindle_sqe_set(self, userData, SPINDLE_IOSQE_BUFFER_SELECT)
            spindle_sqe_set_buf_group(self, group)
        } else {
            spindle_sqe_set(self, userData, 0)
        }
    }

    @inline(__always) func prepareReceive(_ fd: Int32, into buffer: UnsafeMutableRawPointer?, count: Int) {
        io_uring_prep_recv(self, fd, buffer, count, 0)
    }
    /// A multishot receive into provided buffers (pair with `setUserData(_:selectingBufferFrom:)`).
    @inline(__always) func prepareMultishotReceive(_ fd: Int32) {
        io_uring_prep_recv_multishot(self, fd, nil, 0, 0)
    }
    @inline(__always) func prepareSend(_ fd: Int32, _ bytes: UnsafeRawPointer?, count: Int) {
        io_uring_prep_send(self, fd, bytes, count, Int32(MSG_NOSIGNAL))
    }
    @inline(__always) func prepareSendMessage(_ fd: Int32, _ message: UnsafePointer<msghdr>) {
        io_uring_prep_sendmsg(self, fd, message, UInt32(MSG_NOSIGNAL))
    }
    @inline(__always) func prepareConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, length: socklen_t) {
        io_uring_prep_connect(self, fd, address, length)
    }
    @inline(__always) func prepareMultishotAccept(_ fd: Int32) {
        io_uring_prep_multishot_accept(self, fd, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
    }
    /// One accept that completes with `-EAGAIN` instead of waiting when no connection is queued
    /// (`IORING_ACCEPT_DONTWAIT`, Linux 6.10; older kernels complete it with `-EINVAL`).
    @inline(__always) func prepareAcceptWithoutWaiting(_ fd: Int32) {
        io_uring_prep_accept(self, fd, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        self.pointee.ioprio |= Self.acceptDontWait
    }
    /// A multishot accept that takes every queued connection and then ends with `-EAGAIN`
    /// instead of waiting for more (`IORING_ACCEPT_DONTWAIT`, as above).
    @inline(__always) func prepareMultishotAcceptWithoutWaiting(_ fd: Int32) {
        io_uring_prep_multishot_accept(self, fd, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        self.pointee.ioprio |= Self.acceptDontWait
    }
    /// `IORING_ACCEPT_DONTWAIT` (the kernel ABI; newer than the liburing headers).
    private static var acceptDontWait: UInt16 { 1 << 1 }
    @inline(__always) func preparePollMultishot(_ fd: Int32, events: UInt32) {
        io_uring_prep_poll_multishot(self, fd, events)
    }
    @inline(__always) func prepareOpen(_ path: UnsafePointer<CChar>, flags: Int32, permissions: UInt32) {
        io_uring_prep_openat(self, AT_FDCWD, path, flags, permissions)
    }
    @inline(__always) func prepareRead(_ fd: Int32, into buffer: UnsafeMutableRawPointer?, count: Int, at offset: Int) {
        io_uring_prep_read(self, fd, buffer, UInt32(clamping: count), UInt64(offset))
    }
    @inline(__always) func prepareWrite(_ fd: Int32, _ bytes: UnsafeRawPointer?, count: Int, at offset: Int) {
        io_uring_prep_write(self, fd, bytes, UInt32(clamping: count), UInt64(offset))
    }
    /// A `splice` of up to `count` bytes from `source` (at `sourceOffset`, or nil for a pipe)
    /// to `destination` (a pipe or a socket). The kernel always runs it on an io-wq thread.
    @inline(__always) func prepareSplice(from source: Int32, at sourceOffset: Int?, to destination: Int32, count: Int) {
        io_uring_prep_splice(self, source, Int64(sourceOffset ?? -1), destination, -1, UInt32(clamping: count), 0)
    }
    @inline(__always) func prepareClose(_ fd: Int32) {
        io_uring_prep_close(self, fd)
    }
    /// `fdatasync(fd)` (`IORING_FSYNC_DATASYNC`).
    @inline(__always) func prepareDataSync(_ fd: Int32) {
        io_uring_prep_fsync(self, fd, Self.fsyncDataOnly)
    }
    /// `renameat2(AT_FDCWD, path, AT_FDCWD, newPath, RENAME_NOREPLACE when not replacing)`
    /// (Linux 5.11).
    @inline(__always) func prepareRename(_ path: UnsafePointer<CChar>, to newPath: UnsafePointer<CChar>, replacing: Bool) {
        io_uring_prep_renameat(self, AT_FDCWD, path, AT_FDCWD, newPath, replacing ? 0 : Self.renameNoReplace)
    }
    /// `unlinkat(AT_FDCWD, path, 0)` (Linux 5.11).
    @inline(__always) func prepareUnlink(_ path: UnsafePointer<CChar>) {
        io_uring_prep_unlinkat(self, AT_FDCWD, path, 0)
    }
    /// `RENAME_NOREPLACE` (the kernel ABI; Glibc does not import it).
    private static var renameNoReplace: UInt32 { 1 << 0 }
    /// `IORING_FSYNC_DATASYNC` (the kernel ABI).
    private static var fsyncDataOnly: UInt32 { 1 << 0 }
    /// A `statx` of `fd` into `buffer` (`Ring.statxBufferSize` bytes; decode with `Ring.decodeStatx`).
    @inline(__always) func prepareStatx(_ fd: Int32, into buffer: UnsafeMutableRawPointer) {
        spindle_prep_statx_fd(self, fd, buffer)
    }
    /// Cancels the operation whose `user_data` is `userData`.
    @inline(__always) func prepareCancel(userData: UInt64) {
        io_uring_prep_cancel64(self, userData, 0)
    }
    /// Cancels every operation on descriptor `fd`.
    @inline(__always) func prepareCancel(descriptor fd: Int32) {
        io_uring_prep_cancel_fd(self, fd, 0)
    }
    /// Cancels every operation in flight on the ring (`IORING_ASYNC_CANCEL_ANY`, Linux 5.19).
    @inline(__always) func prepareCancelAll() {
        io_uring_prep_cancel64(self, 0, Int32(IORING_ASYNC_CANCEL_ANY))
    }
}

/// The CQE flags Spindle reads.
enum CompletionFlags {
    /// A multishot operation stays armed after this CQE.
    static let more = UInt32(IORING_CQE_F_MORE)
    /// The CQE carries a provided buffer's id (in the bits above `bufferShift`).
    static let buffer = UInt32(IORING_CQE_F_BUFFER)
    static let bufferShift = UInt32(IORING_CQE_BUFFER_SHIFT)
}

extension Ring {
    /// Bytes `prepareStatx` writes.
    static let statxBufferSize = Int(SPINDLE_STATX_BUFFER_SIZE)

    /// Size, mode, modification time and identity from a `struct statx` filled by `prepareStatx`.
    static func decodeStatx(_ buffer: UnsafeRawPointer) -> File.Status {
        let decoded = spindle_statx_decode(buffer)
        return File.Status(size: Int(clamping: decoded.size), mode: UInt16(truncatingIfNeeded: decoded.mode),
                           modificationTime: decoded.modification_seconds,
                           modificationNanoseconds: Int32(clamping: decoded.modification_nanoseconds),
                           inode: decoded.inode, device: decoded.device)
    }

    /// Hands every available CQE to `body` (user_data, result, flags) and marks them seen.
    @inline(__always)
    func forEachCompletion(batch: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>, batchSize: Int,
                           _ body: (UInt64, Int32, UInt32) -> Void) {
        while true {
            let n = Int(io_uring_peek_batch_cqe(ring, batch, UInt32(batchSize)))
            if n == 0 { return }
            for i in 0..<n {
                let cqe = batch[i]!
                body(cqe.pointee.user_data, cqe.pointee.res, cqe.pointee.flags)
            }
            io_uring_cq_advance(ring, UInt32(n))
        }
    }
}

/// Storage for `Ring.forEachCompletion`'s batch of CQE pointers.
typealias CompletionBatch = UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
