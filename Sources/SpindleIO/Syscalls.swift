// Every raw libc call and C crossing of SpindleIO outside the io_uring ring (Uring/Ring.swift,
// Uring/BufferRing.swift): sockets, host name resolution, descriptor limits, threads and CPUs,
// the thread-local I/O slot, splice pipes, and the C shims of the process calls (Syscalls+Processes.swift has
// the plain ones). Each socket call each captures errno into an `IOError`, retries EINTR,
// and treats EBADF/EFAULT (which only a bug can cause) as fatal.
#if canImport(Glibc)
import Glibc
#endif
import SpindleMemory
internal import CSpindle

enum Socket {
    @inline(__always)
    private static func check(_ rc: Int32, _ call: @autoclosure () -> String) throws(IOError) -> Int32 {
        if rc >= 0 { return rc }
        let e = errno
        misusePrecondition(e != EBADF && e != EFAULT, "\(call()) failed with \(Errno.name(e)): a Spindle bug (bad descriptor or address)")
        throw IOError(call(), errno: e)
    }

    /// A close-on-exec TCP socket for `family` (blocking: io_uring needs no O_NONBLOCK, the epoll
    /// backend sets it where it needs it and passes MSG_DONTWAIT otherwise).
    static func tcp(family: Int32) throws(IOError) -> Int32 {
        try check(socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), "socket")
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(IOError) {
        var v = value
        _ = try check(setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)), "setsockopt(\(name))")
    }

    static func bind(_ fd: Int32, _ address: SocketAddress) throws(IOError) {
        _ = try address.withSockaddr { sa, len throws(IOError) in try check(Glibc.bind(fd, sa, len), "bind(\(address))") }
    }

    static func listen(_ fd: Int32, backlog: Int32) throws(IOError) {
        _ = try check(Glibc.listen(fd, backlog), "listen")
    }

    static func localAddress(_ fd: Int32) throws(IOError) -> SocketAddress {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { p throws(IOError) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(IOError) in
                try check(getsockname(fd, sa, &len), "getsockname")
            }
        }
        return SocketAddress(storage: storage)
    }

    static func shutdown(_ fd: Int32, _ direction: TCPConnection.ShutdownDirection) throws(IOError) {
        let how: Int32 = switch direction {
        case .read: Int32(SHUT_RD)
        case .write: Int32(SHUT_WR)
        case .both: Int32(SHUT_RDWR)
        }
        _ = try check(Glibc.shutdown(fd, how), "shutdown")
    }

    /// One send that never blocks (MSG_DONTWAIT, MSG_NOSIGNAL): the bytes sent, or 0 when none
    /// could be (a full send buffer, a reset, any error — the caller gives up on the socket).
    static func sendWithoutWaiting(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
        let sent = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
        return max(0, sent)
    }

    /// Reads and drops what has already arrived on `fd`, up to `limit` bytes, without blocking,
    /// so that a close right after does not answer unread bytes with a reset (which can wipe a
    /// response the peer has not read yet).
    static func discardArrived(_ fd: Int32, limit: Int) {
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 16) { scratch in
            var left = limit
            while left > 0 {
                let n = Glibc.recv(fd, scratch.baseAddress, min(left, scratch.count), Int32(MSG_DONTWAIT))
                if n <= 0 { return }
                left -= n
            }
        }
    }

    static func close(_ fd: Int32) {
        // close(2) must not be retried on EINTR on Linux: the descriptor is gone either way.
        _ = Glibc.close(fd)
    }
}

/// The pipes the io_uring backend splices files through (`SplicePipes`).
enum Pipes {
    /// A close-on-exec pipe for splicing, its buffer grown to `capacity` bytes (0: left at the
    /// default 64 KiB) when the kernel
    /// allows (`F_SETPIPE_SZ`; it may refuse past `/proc/sys/fs/pipe-max-size` or the user's
    /// pipe budget, and then the pipe keeps its default 64 KiB). Returns the read end, the write
    /// end and the capacity the pipe has.
    static func make(capacity: Int) throws(IOError) -> (read: Int32, write: Int32, capacity: Int) {
        var ends: (Int32, Int32) = (-1, -1)
        let size = withUnsafeMutablePointer(to: &ends) { p in
            p.withMemoryRebound(to: Int32.self, capacity: 2) { spindle_make_pipe($0, Int32(clamping: capacity)) }
        }
        guard size > 0 else { throw IOError("pipe2", errno: errno) }
        return (ends.0, ends.1, Int(size))
    }

}

/// Host name resolution: `getaddrinfo`, which may read /etc/hosts and ask DNS, so it blocks
/// the calling thread (numeric hosts: no lookup). Listeners call it directly at bind time;
/// `SocketAddress.lookUp` runs it on the offload pool for connecting.
enum AddressLookup {
    /// Why a host did not resolve: the `EAI_*` code and its text (`gai_strerror`, or the errno's
    /// name and text for `EAI_SYSTEM`).
    struct Failure: Error, Sendable {
        let code: Int32
        let message: String
    }

    /// The TCP addresses `host` resolves to for a listening socket on `port`.
    static func listeningAddresses(host: String, port: Int) -> Result<[SocketAddress], Failure> {
        addresses(host: host, port: port, flags: AI_PASSIVE | AI_NUMERICSERV)
    }

    /// The TCP addresses `host` resolves to for connecting to `port` (only the families this
    /// machine has addresses of: `AI_ADDRCONFIG`).
    static func connectAddresses(host: String, port: Int) -> Result<[SocketAddress], Failure> {
        addresses(host: host, port: port, flags: AI_NUMERICSERV | AI_ADDRCONFIG)
    }

    /// The TCP addresses `host` resolves to with `flags`, in getaddrinfo's order (RFC 6724: the
    /// preferred first), IPv4 and IPv6 only, without duplicates. Blocks.
    private static func addresses(host: String, port: Int, flags: Int32) -> Result<[SocketAddress], Failure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = flags
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0 else {
            let e = errno
            let message = rc == EAI_SYSTEM ? "\(Errno.name(e)) (\(String(cString: strerror(e))))" : String(cString: gai_strerror(rc))
            return .failure(Failure(code: rc, message: message))
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var cursor = list
        while let entry = cursor {
            cursor = entry.pointee.ai_next
            let family = entry.pointee.ai_family
            let length = Int(entry.pointee.ai_addrlen)
            guard family == AF_INET || family == AF_INET6, let source = entry.pointee.ai_addr,
                  length > 0, length <= MemoryLayout<sockaddr_storage>.size else { continue }
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { target in
                target.copyMemory(from: UnsafeRawBufferPointer(start: UnsafeRawPointer(source), count: length))
            }
            let address = SocketAddress(storage: storage)
            if !addresses.contains(where: { $0.description == address.description }) { addresses.append(address) }
        }
        return .success(addresses)
    }
}

/// The process's limit on open descriptors (`RLIMIT_NOFILE`).
public enum DescriptorLimit {
    /// The soft limit now in force (`Int.max` when unlimited). One `getrlimit`.
    public static var current: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return limit.rlim_cur == rlim_t.max ? .max : Int(clamping: limit.rlim_cur)
    }

    /// Raises the soft limit to the hard limit (what Go and nginx's `worker_rlimit_nofile` do:
    /// the soft limit of 1,024 most services start with is a relic of `select`) and returns the
    /// soft limit in force afterwards. Never lowers it; a refusal leaves it as it was.
    /// Cost: two system calls.
    @discardableResult
    public static func raiseToHardLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return current }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
        }
        return current
    }
}

/// Thread and thread-local calls of the I/O layer.
enum ThreadSyscalls {
    /// Names the calling thread (at most 15 characters are kept; shows in `top -H`, `perf`).
    static func setCurrentThreadName(_ name: String) {
        name.withCString { spindle_set_thread_name($0) }
    }

    /// The calling thread's `IOThreadState`, in a C thread-local (one load), unretained.
    static var currentIOSlot: UnsafeMutableRawPointer? {
        @inline(__always) get { spindle_current_reactor() }
        set { spindle_set_current_reactor(newValue) }
    }
}

/// An OS thread, as another thread may name it to interrupt it (`ThreadCapture`).
package struct ThreadHandle: Sendable {
    let raw: pthread_t

    /// The calling thread. Cost: one call, no system call.
    package static var current: ThreadHandle { ThreadHandle(raw: spindle_current_thread()) }
}

/// What a thread was running when it was interrupted (see CSpindle/spindle_watchdog.h): the
/// fiber whose stack it was on, the first line of what that fiber serves, and its backtrace.
package struct ThreadCapture: Sendable {
    /// The fiber's id; 0 when the thread was not on a fiber stack (its scheduler loop).
    package let fiberID: UInt64
    /// The first line of what the fiber serves (an HTTP request line), empty when nothing.
    package let subject: String
    /// One symbolized frame per line, innermost first (`binary(symbol+offset) [address]`).
    package let frames: [String]

    /// Interrupts `thread` (SIGURG; its handler records what it runs) and returns the capture,
    /// symbolized on the calling thread; nil when the handler did not run within `timeout`
    /// milliseconds or the thread is gone. Blocks the calling thread meanwhile; allocates.
    /// Never call it for the calling thread.
    package static func take(of thread: ThreadHandle, timeoutMilliseconds: Int32) -> ThreadCapture? {
        var capture = spindle_capture_t()
        guard spindle_watchdog_capture(thread.raw, timeoutMilliseconds, &capture) == 0 else { return nil }
        let count = Int(max(0, min(capture.frame_count, SPINDLE_CAPTURE_FRAMES)))
        let subjectLength = min(capture.subject_length, Int(SPINDLE_CAPTURE_SUBJECT))
        let subject = withUnsafeBytes(of: &capture.subject) { raw in
            String(decoding: raw.prefix(subjectLength), as: UTF8.self)
        }
        var frames: [String] = []
        withUnsafeBytes(of: &capture.frames) { raw in
            let addresses = raw.bindMemory(to: UnsafeMutableRawPointer?.self)
            guard count > 0, let symbols = spindle_watchdog_symbols(addresses.baseAddress, Int32(count)) else { return }
            defer { free(symbols) }
            for i in 0..<count { frames.append(symbols[i].map { String(cString: $0) } ?? "?") }
        }
        return ThreadCapture(fiberID: capture.fiber_id, subject: subject, frames: frames)
    }
}

/// The CPUs this process may run on.
enum CPUs {
    /// How many (`sched_getaffinity`), at least 1.
    static var available: Int { Int(spindle_available_cpus()) }

    /// Their numbers, ascending.
    static var allowed: [Int32] {
        var cpus = [Int32](repeating: 0, count: 1024)
        let count = Int(spindle_allowed_cpus(&cpus, 1024))
        return Array(cpus.prefix(max(0, count)))
    }

    /// Pins the calling thread to `cpu`; 0 or an errno.
    @discardableResult
    static func pinCurrentThread(to cpu: Int32) -> Int32 { spindle_pin_thread_to_cpu(cpu) }
}

/// The process calls Swift's Glibc module does not import (signalfd, prctl), for
/// Syscalls+Processes.swift.
enum ProcessShims {
    /// A close-on-exec, non-blocking signalfd reading `signals` (which must be blocked).
    static func signalDescriptor(for signals: sigset_t) throws(IOError) -> Int32 {
        var set = signals
        let fd = spindle_signalfd(&set)
        if fd < 0 { throw IOError("signalfd", errno: errno) }
        return fd
    }

    /// One pending signal from a signalfd: its number, or nil when none is pending.
    static func readSignal(_ fd: Int32) throws(IOError) -> Int32? {
        let result = spindle_read_signal(fd)
        if result < 0 { throw IOError("read(signalfd)", errno: -result) }
        return result == 0 ? nil : result
    }

    /// Asks for `signal` when the parent process (the thread that forked this one) ends.
    static func setParentDeathSignal(_ signal: Int32) throws(IOError) {
        if spindle_set_parent_death_signal(signal) != 0 { throw IOError("prctl(PR_SET_PDEATHSIG)", errno: errno) }
    }
}
