// Every raw libc call of SpindleMemory. Each wrapper captures errno and throws a
// `SystemCallError` naming the call; EINVAL-style misuse is reported, never ignored.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: which call, which errno, and what that means.
///
/// Cost: building one formats nothing; `description` calls `strerror`.
public struct SystemCallError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The system call that failed, e.g. `"mmap"`.
    public let call: String
    /// The errno value it returned.
    public let errno: Int32

    /// Creates an error for `call` failing with `errno`.
    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// `mmap failed: ENOMEM (Cannot allocate memory)`.
    public var description: String {
        "\(call) failed: \(Errno.name(errno)) (\(String(cString: strerror(errno))))"
    }
}

/// Symbolic errno names (the ones Spindle's layers can meet), for error messages.
public enum Errno {
    /// The symbolic name of `code`, e.g. `"ENOMEM"`, or `"errno 123"` when not in the table.
    public static func name(_ code: Int32) -> String {
        switch code {
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case EINTR: "EINTR"
        case EIO: "EIO"
        case EBADF: "EBADF"
        case EAGAIN: "EAGAIN"
        case ENOMEM: "ENOMEM"
        case EACCES: "EACCES"
        case EFAULT: "EFAULT"
        case EBUSY: "EBUSY"
        case EEXIST: "EEXIST"
        case EINVAL: "EINVAL"
        case ENFILE: "ENFILE"
        case EMFILE: "EMFILE"
        case ENOSPC: "ENOSPC"
        case EPIPE: "EPIPE"
        case ENOSYS: "ENOSYS"
        case ENOBUFS: "ENOBUFS"
        case ENOTCONN: "ENOTCONN"
        case ECONNRESET: "ECONNRESET"
        case ECONNREFUSED: "ECONNREFUSED"
        case ECONNABORTED: "ECONNABORTED"
        case EADDRINUSE: "EADDRINUSE"
        case EADDRNOTAVAIL: "EADDRNOTAVAIL"
        case EAFNOSUPPORT: "EAFNOSUPPORT"
        case ETIMEDOUT: "ETIMEDOUT"
        case ETIME: "ETIME"
        case ECANCELED: "ECANCELED"
        case EOPNOTSUPP: "EOPNOTSUPP"
        default: "errno \(code)"
        }
    }
}

/// Linux `madvise(MADV_GUARD_INSTALL)` (6.13+): guard pages that do not split the mapping.
let madviseGuardInstall: Int32 = 102

package enum VirtualMemory {
    package static let pageSize: Int = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Reserves `size` bytes of lazily committed, read-write anonymous memory (no RSS until touched).
    package static func reserve(_ size: Int) throws(SystemCallError) -> UnsafeMutableRawPointer {
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let p, p != MAP_FAILED else { throw SystemCallError("mmap", errno: errno) }
        return p
    }

    package static func release(_ base: UnsafeMutableRawPointer, _ size: Int) {
        // munmap of a region we mapped can only fail on a bug (EINVAL).
        let rc = munmap(base, size)
        misusePrecondition(rc == 0, "munmap(\(base), \(size)) failed: \(Errno.name(errno)); Spindle bug")
    }

    /// Gives the pages back to the kernel; the range reads as zeros afterwards.
    static func discard(_ base: UnsafeMutableRawPointer, _ size: Int) {
        _ = madvise(base, size, MADV_DONTNEED)
    }

    /// Which pages of `[base, base + size)` are resident (`mincore`), one flag per page; nil
    /// when the kernel refuses (the range is not mapped). `base` must be page-aligned.
    /// Cost: one system call and an array of `size / pageSize` bytes.
    static func residentPages(_ base: UnsafeMutableRawPointer, _ size: Int) -> [Bool]? {
        let pages = (size + pageSize - 1) / pageSize
        var flags = [UInt8](repeating: 0, count: pages)
        let rc = flags.withUnsafeMutableBufferPointer { mincore(base, size, $0.baseAddress) }
        guard rc == 0 else { return nil }
        return flags.map { $0 & 1 != 0 }
    }

    /// The lowest 8-byte-aligned address in [low, high) holding a non-zero word, or nil when
    /// all are zero. The range must be mapped and readable (a fiber stack's resident pages).
    /// Not instrumented by AddressSanitizer (parked frames' redzones lie in such ranges).
    static func lowestNonZeroWord(from low: UInt, to high: UInt) -> UInt? {
        let word = spindle_stack_lowest_nonzero(low, high)
        return word == 0 ? nil : word
    }

    /// Makes the range fault on access without splitting the mapping (MADV_GUARD_INSTALL).
    static func installLightGuard(_ base: UnsafeMutableRawPointer, _ size: Int) -> Bool {
        madvise(base, size, madviseGuardInstall) == 0
    }

    /// Makes the range inaccessible with `mprotect` (splits the mapping: costs VMAs).
    static func protect(_ base: UnsafeMutableRawPointer, _ size: Int) throws(SystemCallError) {
        if mprotect(base, size, PROT_NONE) != 0 { throw SystemCallError("mprotect", errno: errno) }
    }

    /// `vm.max_map_count`, the per-process VMA limit (65530 by default).
    static func maxMapCount() -> Int {
        guard let text = try? readSmallFile("/proc/sys/vm/max_map_count"),
              let n = Int(text.trimmingWhitespace()) else { return 65530 }
        return n
    }
}

/// The process-wide figures `ProcessStatistics` and `Allocator.statistics()` read.
enum ProcessSyscalls {
    /// Descriptors open in this process: entries of /proc/self/fd, less the one reading it; nil
    /// when /proc cannot be read.
    static func openDescriptorCount() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        // The name's first byte, read in place: a record may be shorter than `dirent`'s declared
        // 256-byte name, so the whole struct is never copied.
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        var count = 0
        while let entry = readdir(directory) {
            let first = UnsafeRawPointer(entry).load(fromByteOffset: nameOffset, as: UInt8.self)
            if first != UInt8(ascii: ".") { count += 1 }  // skip "." and ".."
        }
        return max(0, count - 1)  // the directory's own descriptor
    }

    /// The soft `RLIMIT_NOFILE`; nil when getrlimit fails or it is unlimited.
    static func descriptorSoftLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: limit.rlim_cur)
    }

    /// User plus system CPU time of every thread of the process so far, in seconds (getrusage).
    static func cpuSeconds() -> Double? {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return nil }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Clock ticks per second (`_SC_CLK_TCK`), the unit of /proc/self/stat's times.
    static var clockTicksPerSecond: Int { max(1, sysconf(Int32(_SC_CLK_TCK))) }

    /// Bytes glibc's malloc has handed out and not had back (`mallinfo2`: `uordblks` in its
    /// arenas plus `hblkhd` in mmapped chunks). Meaningful only when glibc's malloc is the one
    /// the process uses. Cost: locks each arena in turn.
    static func glibcMallocBytesInUse() -> Int {
        Int(clamping: spindle_glibc_malloc_bytes_in_use())
    }

    /// True when a 256 KiB malloc shows up in glibc's counters, i.e. glibc's malloc serves the
    /// process (an allocator preloaded in front of it leaves them unchanged). Other threads may
    /// allocate or free meanwhile: half the probe is the threshold. The probe is made in C
    /// through a volatile pointer: a malloc/free pair made here was removed by the optimizer in
    /// release builds, and glibc went unrecognised. Cost: one malloc/free.
    static func glibcCountsAnAllocation() -> Bool { spindle_glibc_counts_an_allocation() }
}

/// Reads a small text file (a /proc entry) with plain read(2) calls.
func readSmallFile(_ path: String) throws(SystemCallError) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw SystemCallError("open(\(path))", errno: errno) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw SystemCallError("read(\(path))", errno: errno)
        }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

extension String {
    func trimmingWhitespace() -> Substring {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return s
    }
}

// MARK: - C crossings (CSpindle): the thread's run clock, batched guard and populate calls, the
// overflow registry, mimalloc introspection. The only file of SpindleMemory that calls C.

internal import CSpindle

/// The calling thread's run clock (`spindle_run_clock_t` in spindle_thread.h): the coarse clocks
/// read at most once per scheduler loop turn while a loop runs on the thread. Here, in the
/// lowest layer's C crossings, so that the scheduler (SpindleFibers) and the response's `Date`
/// (SpindleHTTP) share it. Invariant: `activate`/`expire` are called only by this thread's
/// scheduler loop (`Scheduler.runLoop`), so a cached value is never older than the turn that
/// reads it.
package enum RunClock {
    /// Marks the thread as running a scheduler loop (or not, with false); forgets cached values.
    @inline(__always)
    package static func activate(_ active: Bool) { spindle_run_clock_activate(active ? 1 : 0) }

    /// Forgets the cached values: the first read of the new turn reads the clock.
    @inline(__always)
    package static func expire() { spindle_run_clock_expire() }

    /// `CLOCK_MONOTONIC_COARSE` in nanoseconds as of this loop turn.
    @inline(__always)
    package static var monotonicCoarseNanoseconds: UInt64 { spindle_run_clock_monotonic_coarse() }

    /// `CLOCK_REALTIME_COARSE`'s seconds since the Unix epoch as of this loop turn.
    @inline(__always)
    package static var realtimeSeconds: Int { Int(spindle_run_clock_realtime_seconds()) }
}

extension VirtualMemory {
    /// Installs lightweight guard regions of `length` bytes at `count` addresses `stride` apart
    /// from `base` in batched calls (`MADV_GUARD_INSTALL`); 0, or an errno when the kernel lacks
    /// it (the caller then guards one by one).
    static func installLightGuards(_ base: UnsafeMutableRawPointer, stride: Int, length: Int, count: Int) -> Int32 {
        spindle_guard_install_strided(base, stride, length, count)
    }

    /// Commits `count` ranges of `length` bytes `stride` apart from `base` (`MADV_POPULATE_WRITE`,
    /// batched); 0, or an errno (the caller then touches the pages).
    static func populate(_ base: UnsafeMutableRawPointer, stride: Int, length: Int, count: Int) -> Int32 {
        spindle_populate_strided(base, stride, length, count)
    }
}

/// The registry the stack-overflow signal handler reads (CSpindle/overflow.c): which address
/// ranges are fiber stacks, so a fault in a guard is reported in words.
enum OverflowRegistry {
    /// Registers `count` stack slots of `slotSize` bytes from `base` (guard `guardSize`, usable
    /// `stackSize`), whose running fibers' ids are at `fiberIDs`; returns the registration.
    static func register(base: UnsafeMutableRawPointer, slotSize: Int, guardSize: Int, stackSize: Int, count: Int,
                         fiberIDs: UnsafeMutablePointer<UInt64>) -> Int32 {
        spindle_overflow_register(base, slotSize, guardSize, stackSize, count, fiberIDs)
    }

    /// Removes a registration (before its memory is unmapped).
    static func unregister(_ registration: Int32) { spindle_overflow_unregister(registration) }
}

/// What mimalloc says about itself (all false/0 when it is not linked).
/// jemalloc when it was preloaded: its statistics and heap profiles through `mallctl`,
/// looked up at run time (nothing links jemalloc).
enum JemallocIntrospection {
    static var present: Bool { spindle_jemalloc_present() }
    static var version: String? { spindle_jemalloc_version().map { String(cString: $0) } }
    /// (bytes allocated, bytes resident), or nil.
    static var statistics: (allocated: Int, resident: Int)? {
        var allocated = 0, resident = 0
        guard spindle_jemalloc_statistics(&allocated, &resident) else { return nil }
        return (allocated, resident)
    }
    static var profiling: Bool { spindle_jemalloc_profiling() }
    /// Writes a heap profile to `path`; 0 or an error code.
    static func dumpProfile(to path: String) -> Int32 { spindle_jemalloc_dump_profile(path) }
    static func purge() { _ = spindle_jemalloc_purge() }
}

/// glibc's malloc, when it serves the process.
enum GlibcMalloc {
    static func trim() { spindle_glibc_malloc_trim() }
}

/// Another allocator preloaded in front of glibc's, when it offers a way to give memory back.
enum PreloadedAllocator {
    /// tcmalloc's `MallocExtension_ReleaseFreeMemory`, when present; false otherwise.
    static func releaseFreeMemory() -> Bool { spindle_tcmalloc_release_free_memory() }
}

enum MimallocIntrospection {
    static var linked: Bool { spindle_mimalloc_linked() }
    static func owns(_ pointer: UnsafeRawPointer) -> Bool { spindle_mimalloc_owns(pointer) }
    static var version: Int { Int(spindle_mimalloc_version()) }
    static var committedBytes: Int { Int(clamping: spindle_mimalloc_committed_bytes()) }
    static func collect() { spindle_mimalloc_collect() }
    static func beginRelease() -> Int { spindle_mimalloc_begin_release() }
    static func endRelease(_ delay: Int) { spindle_mimalloc_end_release(delay) }
    @discardableResult static func sweep() -> Int { Int(spindle_mimalloc_sweep()) }
    static func decommitAtOnce() -> Bool { spindle_mimalloc_decommit_at_once() }
    static var decommitDelay: Int { spindle_mimalloc_decommit_delay() }
}
