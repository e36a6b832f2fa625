// AllocatorStatistics: which malloc serves the process and what it can say about its memory,
// for the metrics endpoint. `Allocator` (ProcessMemory.swift) tells which one is live.
/// The allocator serving `malloc`, and what it can tell about its memory at this moment.
///
/// What is known depends on the allocator: glibc's malloc counts the bytes it has handed out
/// (`mallinfo2`), so `bytesInUse` and the fragmentation ratio are known; mimalloc as Debian
/// builds it (2.0.9, without its statistics) only says how much it has committed from the
/// operating system (`committedBytes`); jemalloc, preloaded, says both (`stats.allocated`,
/// `stats.resident`); another allocator put in front with `LD_PRELOAD` (tcmalloc:
/// `kind == .other`) says nothing here.
public struct AllocatorStatistics: Sendable {
    /// Which allocator it is.
    public enum Kind: String, Sendable {
        /// mimalloc (the `Mimalloc` package trait, on by default).
        case mimalloc
        /// glibc's malloc (built with `--disable-default-traits`, nothing preloaded).
        case glibc
        /// jemalloc, preloaded with `LD_PRELOAD` (it then serves malloc even where mimalloc is
        /// linked; what `make run-heap-profile` runs): statistics and heap profiles through its
        /// `mallctl`.
        case jemalloc
        /// Another malloc put in front of glibc's (`LD_PRELOAD`).
        case other
    }

    /// Which allocator serves malloc.
    public var kind: Kind
    /// Its version when known (`"2.0.9"` for mimalloc), else nil.
    public var version: String?
    /// Bytes the program has allocated and not freed, when the allocator counts them (glibc).
    public var bytesInUse: Int?
    /// Bytes the allocator has committed from the operating system, when it says (mimalloc;
    /// jemalloc's resident bytes).
    public var committedBytes: Int?

    /// Resident memory per byte in use (`residentBytes / bytesInUse`): 1 would mean every
    /// resident byte is a live allocation; what lies above is allocator overhead, free memory
    /// kept, fiber stacks, code and the kernel's view of the rest. nil without `bytesInUse`.
    public func fragmentationRatio(residentBytes: Int) -> Double? {
        guard let bytesInUse, bytesInUse > 0 else { return nil }
        return Double(residentBytes) / Double(bytesInUse)
    }
}

extension Allocator {
    /// The allocator serving malloc, decided once: mimalloc when a live allocation lies in its
    /// heap; glibc when a 256 KiB allocation shows up in glibc's own counters (`mallinfo2`);
    /// otherwise another allocator preloaded in front of glibc's. Cost: on first use, a
    /// malloc/free or two and two `mallinfo2` calls; then a load. Any thread.
    public static let kind: AllocatorStatistics.Kind = {
        if mallocIsMimalloc { return .mimalloc }
        if JemallocIntrospection.present { return .jemalloc }
        return ProcessSyscalls.glibcCountsAnAllocation() ? .glibc : .other
    }()

    /// What the live allocator says now. Cost: `mallinfo2` (glibc: locks each arena in turn)
    /// or `mi_process_info` (mimalloc); any thread; not for hot paths.
    public static func statistics() -> AllocatorStatistics {
        switch kind {
        case .mimalloc:
            let v = MimallocIntrospection.version
            return AllocatorStatistics(kind: .mimalloc, version: "\(v / 100).\(v / 10 % 10).\(v % 10)",
                                       bytesInUse: nil, committedBytes: MimallocIntrospection.committedBytes)
        case .glibc:
            return AllocatorStatistics(kind: .glibc, version: nil, bytesInUse: ProcessSyscalls.glibcMallocBytesInUse(),
                                       committedBytes: nil)
        case .jemalloc:
            let counters = JemallocIntrospection.statistics
            return AllocatorStatistics(kind: .jemalloc, version: JemallocIntrospection.version,
                                       bytesInUse: counters?.allocated, committedBytes: counters?.resident)
        case .other:
            return AllocatorStatistics(kind: .other, version: nil, bytesInUse: nil, committedBytes: nil)
        }
    }

    /// Asks the allocator to return the free memory it holds to the operating system now
    /// rather than after its own delays: mimalloc collects the calling thread's heap
    /// (`mi_collect`), jemalloc purges its arenas, glibc trims (`malloc_trim`), a preloaded
    /// tcmalloc hands the calling thread's cache back and releases its free pages
    /// (`MallocExtension_MarkThreadIdle`, `MallocExtension_ReleaseFreeMemory`); another
    /// allocator is left alone. For after a spike, once pools have dropped what it left behind
    /// (the server calls it on each worker when a periodic trim released something). Cost:
    /// milliseconds at most; glibc locks each arena in turn.
    public static func releaseFreeMemory() {
        switch kind {
        case .mimalloc: MimallocIntrospection.collect()
        case .jemalloc: JemallocIntrospection.purge()
        case .glibc: GlibcMalloc.trim()
        case .other: _ = PreloadedAllocator.releaseFreeMemory()
        }
    }

    /// Runs `dropSurplus` (code that frees what was kept for a load, such as pool trims, and
    /// returns how many things it dropped) and then, when it dropped anything, asks the
    /// allocator to release its free memory (`releaseFreeMemory()`). With mimalloc the decommit
    /// delay (2.1: purge delay) is 0 for the duration, and after the collection a sweep takes
    /// large blocks from the free spans of the calling thread's segments until one lands in a
    /// fresh segment and frees them again: a span freed under the 25 ms delay in a segment that
    /// keeps live blocks is only marked, and mimalloc acts on the mark only when it next
    /// allocates a page in that segment, which on a quiet server after a spike never happens
    /// (Docs/memory.md, "Memory given back"). The option is process-wide: frees on other threads
    /// during the window decommit at once as well (time, never correctness). Other allocators:
    /// the two steps, nothing else. Returns the count of `dropSurplus`. Cost: two option stores
    /// around the body; after a drop, the release plus (mimalloc) one large allocation and free
    /// per free span visited, each touching one page. The calling thread's heap is the one
    /// mimalloc collects and sweeps: call it on each worker thread.
    public static func givingBack(_ dropSurplus: () -> Int) -> Int {
        let restore = kind == .mimalloc ? MimallocIntrospection.beginRelease() : 0
        defer { if restore != 0 { MimallocIntrospection.endRelease(restore) } }
        let dropped = dropSurplus()
        if dropped > 0 {
            releaseFreeMemory()
            if kind == .mimalloc { MimallocIntrospection.sweep() }
        }
        return dropped
    }

    /// Makes mimalloc decommit every span when it is freed, for the rest of the process (its
    /// decommit delay, 2.1: purge delay, becomes 0), once per process (later calls return the
    /// first call's answer). The server does not need it to give a spike's memory back — its
    /// trim does that inside `givingBack` — but with it the peak and the idle RSS are lower
    /// (Docs/memory.md, "Tuning the allocator"). A delay set in the environment
    /// (`MIMALLOC_DECOMMIT_DELAY`, `MIMALLOC_PURGE_DELAY`) is kept. Other allocators: nothing.
    /// Returns true when it changed a setting. Opt-in, because of its cost: once, an option
    /// store; afterwards mimalloc decommits every span it frees (`madvise`) and faults the
    /// pages in again on reuse — about one `madvise` per three 64 KiB echo requests, and about
    /// 3× the server CPU per such request in an A/B; small requests are not affected. Any thread.
    @discardableResult
    public static func prepareForRelease() -> Bool { preparedForRelease }

    private static let preparedForRelease: Bool = {
        switch kind {
        case .mimalloc: MimallocIntrospection.decommitAtOnce()
        case .glibc, .jemalloc, .other: false
        }
    }()

    /// mimalloc's decommit (2.1: purge) delay in milliseconds, as mimalloc reports it; nil when
    /// mimalloc does not serve malloc. Cost: an option read. Any thread.
    public static var mimallocDecommitDelay: Int? { kind == .mimalloc ? MimallocIntrospection.decommitDelay : nil }

    /// True when the process can write heap profiles: jemalloc serves malloc and samples
    /// allocations (`MALLOC_CONF=prof:true`, as `make run-heap-profile` starts it).
    public static var heapProfiling: Bool { kind == .jemalloc && JemallocIntrospection.profiling }

    /// Writes a heap profile of the allocations sampled so far to `path` (jemalloc's
    /// `prof.dump`: read it with `jeprof <binary> <path>`, Docs/observability.md). Cost: jemalloc
    /// walks its sampled allocations and writes the file on the calling thread (milliseconds;
    /// call it off the request path — the admin endpoint runs it on the offload pool). Throws
    /// `HeapProfileError` saying how to start the process when profiling is off.
    public static func writeHeapProfile(to path: String) throws(HeapProfileError) {
        guard heapProfiling else { throw .profilingOff(allocator: kind) }
        let code = JemallocIntrospection.dumpProfile(to: path)
        guard code == 0 else { throw .dumpFailed(path: path, code: code) }
    }
}

/// Why no heap profile was written.
public enum HeapProfileError: Error, CustomStringConvertible, Sendable {
    /// The process does not sample allocations: not jemalloc, or jemalloc without `prof:true`.
    case profilingOff(allocator: AllocatorStatistics.Kind)
    /// jemalloc could not write the profile (`prof.dump` returned `code`, an errno).
    case dumpFailed(path: String, code: Int32)

    public var description: String {
        switch self {
        case .profilingOff(let allocator):
            "heap profiling is off (the allocator is \(allocator.rawValue)): run the server on jemalloc with profiling, "
                + "`make run-heap-profile` for the example, or start your server with "
                + "LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=prof:true (jemalloc then serves malloc, mimalloc linked or not; Docs/observability.md)"
        case .dumpFailed(let path, let code):
            "jemalloc could not write a heap profile to \(path): \(Errno.name(code))"
        }
    }
}
