// Every raw libc call of the epoll backend. Each captures errno at once, retries EINTR (except
// the waits, which return to the scheduler loop instead), and treats EBADF/EFAULT — which only a
// bug can cause — as fatal. The socket calls return a count or `-errno` rather than throwing:
// EAGAIN is their everyday answer and the backend decides what each errno means.
//
// Swift's Glibc module does not include <sys/epoll.h>, and the epoll files stay off CSpindle
// (C crossings are kept to a few files): the four epoll functions and `accept4` (which needs
// _GNU_SOURCE) are looked up once in libc (`dlsym`) as C function pointers, with the kernel's ABI constants, and `struct epoll_event`
// is read and written as bytes at its ABI offsets (packed, 12 bytes, on x86_64; 16 elsewhere).
#if canImport(Glibc)
import Glibc
#endif
import SpindleMemory

enum Epoll {
    /// Event bits (`EPOLLIN`, ... in <sys/epoll.h>; the kernel ABI, the same on every architecture).
    static let input: UInt32 = 0x001
    static let output: UInt32 = 0x004
    static let error: UInt32 = 0x008
    static let hangup: UInt32 = 0x010
    static let readHangup: UInt32 = 0x2000
    static let edgeTriggered: UInt32 = 1 << 31
    private static let controlAdd: Int32 = 1, controlRemove: Int32 = 2, controlModify: Int32 = 3

    /// Stops with a message when `code` is one only a Spindle bug can cause.
    @inline(__always)
    private static func checkNotABug(_ code: Int32, _ call: @autoclosure () -> String) {
        misusePrecondition(code != EBADF && code != EFAULT,
                           "\(call()) failed with \(Errno.name(code)): a Spindle bug (bad descriptor or address)")
    }

    /// `checkNotABug` for file calls: `File.descriptor` is public, so EBADF may be the caller's
    /// (it is thrown, as the io_uring backend reports it); EFAULT is still a bug.
    @inline(__always)
    private static func checkFileCall(_ code: Int32, _ call: @autoclosure () -> String) {
        misusePrecondition(code != EFAULT, "\(call()) failed with EFAULT: a Spindle bug (bad address)")
    }

    /// Runs `call` again while it fails with EINTR: its result when not negative, else `-errno`.
    @inline(__always)
    private static func retryingInterrupts(_ call: () -> Int) -> Int {
        while true {
            let n = call()
            if n >= 0 { return n }
            let code = errno
            if code != EINTR { return -Int(code) }
        }
    }

    // MARK: - The epoll instance

    /// A close-on-exec epoll instance. One system call. Throws ENOSYS when libc has no epoll.
    static func create() throws(IOError) -> Int32 {
        guard let functions = EpollFunctions.resolved else { throw IOError("epoll_create1 (not in libc)", errno: ENOSYS) }
        let fd = functions.create(O_CLOEXEC)
        if fd < 0 { throw IOError("epoll_create1", errno: errno) }
        return fd
    }

    /// `epoll_ctl(EPOLL_CTL_ADD)` of `fd` for `events`, reported with `token`. One system call;
    /// when this very socket is still in the set under an older token (EEXIST: its number was
    /// forgotten while it stayed open), a second one replaces the registration.
    static func add(_ epfd: Int32, _ fd: Int32, events: UInt32, token: UInt64) throws(IOError) {
        let control = EpollFunctions.resolved!.control
        var event = EpollEvents.Record()
        event.set(events: events, token: token)
        if withUnsafeMutableBytes(of: &event, { control(epfd, controlAdd, fd, $0.baseAddress) }) == 0 { return }
        var code = errno
        if code == EEXIST {
            if withUnsafeMutableBytes(of: &event, { control(epfd, controlModify, fd, $0.baseAddress) }) == 0 { return }
            code = errno
        }
        checkNotABug(code, "epoll_ctl(ADD, \(fd))")
        throw IOError("epoll_ctl(ADD)", errno: code)
    }

    /// `epoll_ctl(EPOLL_CTL_DEL)` of `fd`; ENOENT (not in the set) is not an error.
    static func remove(_ epfd: Int32, _ fd: Int32) {
        var event = EpollEvents.Record()
        if withUnsafeMutableBytes(of: &event, { EpollFunctions.resolved!.control(epfd, controlRemove, fd, $0.baseAddress) }) == 0 { return }
        checkNotABug(errno, "epoll_ctl(DEL, \(fd))")
    }

    /// Waits up to `milliseconds` (-1: no limit, 0: just look) for events. Returns how many, or
    /// 0 when a signal interrupted the wait (the scheduler loop simply comes back).
    static func wait(_ epfd: Int32, _ events: EpollEvents, milliseconds: Int32) -> Int {
        let n = EpollFunctions.resolved!.wait(epfd, events.base, events.capacity, milliseconds)
        if n >= 0 { return Int(n) }
        let code = errno
        checkNotABug(code, "epoll_wait")
        misusePrecondition(code == EINTR, "epoll_wait failed with \(Errno.name(code)): a Spindle bug")
        return 0
    }

    /// `wait` with a nanosecond timeout (`epoll_pwait2`, Linux 5.11+, glibc 2.35+). Returns nil
    /// when libc, the kernel or a seccomp filter refuses it (ENOSYS, EPERM): use `wait` then.
    static func waitPrecisely(_ epfd: Int32, _ events: EpollEvents, nanoseconds: UInt64) -> Int? {
        guard let waitPrecisely = EpollFunctions.resolved!.waitPrecisely else { return nil }
        var timeout = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        let n = waitPrecisely(epfd, events.base, events.capacity, &timeout, nil)
        if n >= 0 { return Int(n) }
        let code = errno
        if code == ENOSYS || code == EPERM { return nil }
        checkNotABug(code, "epoll_pwait2")
        misusePrecondition(code == EINTR, "epoll_pwait2 failed with \(Errno.name(code)): a Spindle bug")
        return 0
    }

    // MARK: - Sockets

    /// `recv(MSG_DONTWAIT)`: bytes received (0 at end of stream), or `-errno`.
    @inline(__always)
    static func receive(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        let n = retryingInterrupts { recv(fd, buffer, count, Int32(MSG_DONTWAIT)) }
        if n < 0 { checkNotABug(Int32(-n), "recv(\(fd))") }
        return n
    }

    /// `send(MSG_DONTWAIT | MSG_NOSIGNAL)`: bytes sent, or `-errno` (EPIPE, not SIGPIPE, when
    /// the peer is gone).
    @inline(__always)
    static func send(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
        let n = retryingInterrupts { Glibc.send(fd, bytes, count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)) }
        if n < 0 { checkNotABug(Int32(-n), "send(\(fd))") }
        return n
    }

    /// `sendfile` of up to `count` bytes of `file` from `offset` to the non-blocking socket
    /// `socket`: bytes sent, or `-errno` (EAGAIN when the socket buffer is full). Reading pages
    /// not yet in the page cache waits for the disk on this thread.
    static func sendFile(_ socket: Int32, _ file: Int32, _ offset: Int, _ count: Int) -> Int {
        var position = off_t(offset)
        let n = retryingInterrupts { Glibc.sendfile(socket, file, &position, count) }
        if n < 0 { checkNotABug(Int32(-n), "sendfile(\(socket), \(file))") }
        return n
    }

    /// `sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL)` of `message`'s vectors: bytes sent, or `-errno`.
    @inline(__always)
    static func send(_ fd: Int32, message: UnsafePointer<msghdr>) -> Int {
        let n = retryingInterrupts { sendmsg(fd, message, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)) }
        if n < 0 { checkNotABug(Int32(-n), "sendmsg(\(fd))") }
        return n
    }

    /// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)` on the listening socket `fd`: the new
    /// descriptor, or `-errno`.
    @inline(__always)
    static func accept(_ fd: Int32) -> Int32 {
        let flags = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let accept4 = EpollFunctions.resolved!.accept
        let n = retryingInterrupts { Int(accept4(fd, nil, nil, flags)) }
        if n < 0 { checkNotABug(Int32(-n), "accept4(\(fd))") }
        return Int32(n)
    }

    /// Starts connecting the non-blocking socket `fd`: 0 when connected at once, else the errno
    /// (`EINPROGRESS`: wait until writable, then read `socketError`).
    static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
        // Not retried on EINTR: the connection attempt goes on; EINTR is reported like
        // EINPROGRESS (man 2 connect), so it is treated as such.
        if Glibc.connect(fd, address, length) == 0 { return 0 }
        let code = errno
        checkNotABug(code, "connect(\(fd))")
        return code == EINTR ? EINPROGRESS : code
    }

    /// The pending error of socket `fd` (`SO_ERROR`, which reading clears); 0 when none.
    static func socketError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 { return value }
        let code = errno
        checkNotABug(code, "getsockopt(\(fd), SO_ERROR)")
        return code
    }

    /// Sets `O_NONBLOCK` on `fd` (a fresh socket has no other status flag to keep).
    static func setNonBlocking(_ fd: Int32) throws(IOError) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0, flags & O_NONBLOCK != 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 { return }
        let code = errno
        checkNotABug(code, "fcntl(\(fd), O_NONBLOCK)")
        throw IOError("fcntl(O_NONBLOCK)", errno: code)
    }

    // MARK: - Files (on offload threads)

    /// `openat(AT_FDCWD, path)`; throws `IOError("openat(path)")`.
    static func openFile(_ path: String, flags: Int32, permissions: UInt32) throws(IOError) -> Int32 {
        let fd = retryingInterrupts { Int(openat(AT_FDCWD, path, flags, mode_t(permissions))) }
        if fd >= 0 { return Int32(fd) }
        checkFileCall(Int32(-fd), "openat(\(path))")
        throw IOError("openat(\(path))", errno: Int32(-fd))
    }

    /// `pread`; throws `IOError("read")`.
    static func readFile(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(IOError) -> Int {
        let n = retryingInterrupts { pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
        if n >= 0 { return n }
        checkFileCall(Int32(-n), "pread(\(fd))")
        throw IOError("read", errno: Int32(-n))
    }

    /// `pwrite`; throws `IOError("write")`.
    static func writeFile(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws(IOError) -> Int {
        let n = retryingInterrupts { pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset)) }
        if n >= 0 { return n }
        checkFileCall(Int32(-n), "pwrite(\(fd))")
        throw IOError("write", errno: Int32(-n))
    }

    /// `fstat`; throws `IOError("fstat")`.
    static func statusOfFile(_ fd: Int32) throws(IOError) -> File.Status {
        var status = stat()
        if fstat(fd, &status) != 0 {
            let code = errno
            checkFileCall(code, "fstat(\(fd))")
            throw IOError("fstat", errno: code)
        }
        return File.Status(size: Int(status.st_size), mode: UInt16(truncatingIfNeeded: status.st_mode),
                           modificationTime: Int64(status.st_mtim.tv_sec),
                           modificationNanoseconds: Int32(clamping: status.st_mtim.tv_nsec),
                           inode: UInt64(status.st_ino), device: UInt64(status.st_dev))
    }

    /// `close`; throws `IOError("close")` (the descriptor is gone either way; never retried).
    static func closeFile(_ fd: Int32) throws(IOError) {
        if Glibc.close(fd) == 0 { return }
        let code = errno
        if code == EINTR { return }
        checkFileCall(code, "close(\(fd))")
        throw IOError("close", errno: code)
    }

    /// `fdatasync`; throws `IOError("fdatasync")`.
    static func synchronizeFile(_ fd: Int32) throws(IOError) {
        let result = retryingInterrupts { Int(fdatasync(fd)) }
        if result >= 0 { return }
        checkFileCall(Int32(-result), "fdatasync(\(fd))")
        throw IOError("fdatasync", errno: Int32(-result))
    }

    /// `renameat2(AT_FDCWD, path, AT_FDCWD, newPath, flags)`, with `RENAME_NOREPLACE` when not
    /// `replacing`; throws `IOError("renameat(path, newPath)")`. Without `renameat2` in libc
    /// (before glibc 2.28), `renameat` when replacing and ENOSYS otherwise.
    static func renameFile(_ path: String, to newPath: String, replacing: Bool) throws(IOError) {
        let operation = "renameat(\(path), \(newPath))"
        let result: Int
        if let renameWithFlags = FileFunctions.resolved.renameWithFlags {
            result = retryingInterrupts { Int(renameWithFlags(AT_FDCWD, path, AT_FDCWD, newPath, replacing ? 0 : 1)) }
        } else if replacing {
            result = retryingInterrupts { Int(renameat(AT_FDCWD, path, AT_FDCWD, newPath)) }
        } else {
            throw IOError(operation, errno: ENOSYS)
        }
        if result >= 0 { return }
        checkFileCall(Int32(-result), operation)
        throw IOError(operation, errno: Int32(-result))
    }

    /// `unlinkat(AT_FDCWD, path, 0)`; throws `IOError("unlinkat(path)")`.
    static func removeFile(_ path: String) throws(IOError) {
        let result = retryingInterrupts { Int(unlinkat(AT_FDCWD, path, 0)) }
        if result >= 0 { return }
        checkFileCall(Int32(-result), "unlinkat(\(path))")
        throw IOError("unlinkat(\(path))", errno: Int32(-result))
    }
}

/// libc's file functions Glibc does not import (GNU extensions), looked up once per process.
struct FileFunctions: @unchecked Sendable {
    // @unchecked Sendable: an immutable C function pointer, valid for the life of the process.
    typealias RenameWithFlags = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    /// `renameat2` (glibc 2.28), or nil.
    let renameWithFlags: RenameWithFlags?

    static let resolved: FileFunctions = {
        let symbol = dlopen(nil, RTLD_NOW).flatMap { dlsym($0, "renameat2") }
        return FileFunctions(renameWithFlags: symbol.map { unsafeBitCast($0, to: RenameWithFlags.self) })
    }()
}

/// libc's epoll functions as C function pointers, looked up once per process.
struct EpollFunctions: @unchecked Sendable {
    // @unchecked Sendable: immutable C function pointers, valid for the life of the process.
    typealias Create = @convention(c) (Int32) -> Int32
    typealias Control = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    typealias Wait = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32
    typealias WaitPrecisely = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, UnsafePointer<timespec>?,
                                              UnsafeRawPointer?) -> Int32
    typealias Accept = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
    let create: Create
    let control: Control
    let wait: Wait
    /// `accept4` (a GNU extension Glibc does not import either).
    let accept: Accept
    /// nil before glibc 2.35.
    let waitPrecisely: WaitPrecisely?

    /// The functions, or nil when libc lacks epoll (then `Epoll.create` throws ENOSYS, so no
    /// other call is ever made).
    static let resolved: EpollFunctions? = {
        guard let libc = dlopen(nil, RTLD_NOW),
              let create = dlsym(libc, "epoll_create1"), let control = dlsym(libc, "epoll_ctl"),
              let wait = dlsym(libc, "epoll_wait"), let accept = dlsym(libc, "accept4") else { return nil }
        return EpollFunctions(create: unsafeBitCast(create, to: Create.self),
                              control: unsafeBitCast(control, to: Control.self),
                              wait: unsafeBitCast(wait, to: Wait.self),
                              accept: unsafeBitCast(accept, to: Accept.self),
                              waitPrecisely: dlsym(libc, "epoll_pwait2").map { unsafeBitCast($0, to: WaitPrecisely.self) })
    }()
}

/// A buffer of `struct epoll_event` records for `epoll_wait`, read at the ABI's offsets.
struct EpollEvents {
    #if arch(x86_64)
    /// `__EPOLL_PACKED` on x86_64: `events` at 0, `data` at 4, 12 bytes.
    static let stride = 12
    static let dataOffset = 4
    #else
    static let stride = 16
    static let dataOffset = 8
    #endif

    /// One record's bytes (for `epoll_ctl`), zeroed.
    struct Record {
        private var bytes: (UInt64, UInt64) = (0, 0)

        mutating func set(events: UInt32, token: UInt64) {
            withUnsafeMutableBytes(of: &bytes) { raw in
                raw.storeBytes(of: events, toByteOffset: 0, as: UInt32.self)
                raw.storeBytes(of: token, toByteOffset: EpollEvents.dataOffset, as: UInt64.self)
            }
        }
    }

    let base: UnsafeMutableRawPointer
    let capacity: Int32

    /// Allocates room for `capacity` records (freed by `deallocate`).
    init(capacity: Int32) {
        self.capacity = capacity
        base = .allocate(byteCount: Int(capacity) * Self.stride, alignment: 16)
    }

    func deallocate() { base.deallocate() }

    /// The event bits of record `index`.
    @inline(__always)
    func flags(_ index: Int) -> UInt32 { base.loadUnaligned(fromByteOffset: index * Self.stride, as: UInt32.self) }

    /// The token (`data.u64`) of record `index`.
    @inline(__always)
    func token(_ index: Int) -> UInt64 {
        base.loadUnaligned(fromByteOffset: index * Self.stride + Self.dataOffset, as: UInt64.self)
    }
}
