// AllocatorStatistics: which malloc serves the process and what it can say about its memory,
// for the metrics endpoint. `Allocator` (ProcessMemory.swift) tells which one is live.
/// The allocator serving `malloc`, and what it can tell about its memory at this moment.
///
/// What is known depends on the allocator: glibc's malloc counts the bytes it has handed out
/// (`mallinfo2`), so `bytesInUse` and the fragmentation ratio are known; mimalloc as Debian
/// builds it (2.0.9, without its statistics) only says how much it has committed from the
/// operating system (`committedBytes`); an allocator put in front with `LD_PRELOAD`
/// (jemalloc, tcmalloc: `kind == .other`) says nothing here.
public struct AllocatorStatistics: Sendable {
    /// Which allocator it is.
    public enum Kind: String, Sendable {
        /// mimalloc (the `Mimalloc` package trait, on by default).
        case mimalloc
        /// glibc's malloc (built with `--disable-default-traits`, nothing preloaded).
        case glibc
        /// Another malloc put in front of glibc's (`LD_PRELOAD`).
        case other
    }

    /// Which allocator serves malloc.
    public var kind: Kind
    /// Its version when known (`"2.0.9"` for mimalloc), else nil.
    public var version: String?
    /// Bytes the program has allocated and not freed, when the allocator counts them (glibc).
    public var bytesInUse: Int?
    /// Bytes the allocator has committed from the operating system, when it says (mimalloc).
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
        case .other:
            return AllocatorStatistics(kind: .other, version: nil, bytesInUse: nil, committedBytes: nil)
        }
    }
}
