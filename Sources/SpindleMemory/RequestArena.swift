// RequestArena: request-lifetime bump allocation (and ArenaBytes, handles to bytes copied into it).
// Under `SPINDLE_POOLS=off` (`Configuration.pooling` false) every allocation is a malloc freed at
// reset, the plain-heap baseline the allocator benchmark compares against.
#if canImport(Glibc)
import Glibc
#endif

/// A request-lifetime bump allocator (the seed's recipe 1, with h2o's refinements): memory comes
/// from fixed-size blocks; allocation is a pointer bump (inline fast path); when a block is full
/// the arena chains another block and counts the overflow; allocations larger than a quarter
/// block bypass the blocks; `reset()` rewinds to the first block instead of freeing.
/// With `Configuration.pooling` off there are no blocks: every allocation is a `malloc`, and
/// `reset()` frees them all.
///
/// One arena serves one request at a time on one worker thread (take it from an `ArenaPool`).
/// Memory from it is valid until the next `reset()`. In debug builds `reset()` poisons the
/// released bytes and `ArenaBytes` handles check the arena's generation, so a pointer that
/// escapes its request is caught at its first use instead of reading another request's data.
public final class RequestArena {
    /// Sizes of an arena.
    public struct Configuration: Sendable, Equatable {
        /// Bytes per block (default 16 KiB, `SPINDLE_ARENA_BLOCK_SIZE`).
        public var blockSize: Int
        /// Blocks kept after a reset, beyond the first (default 4); more are freed.
        public var retainedBlocks: Int
        /// Bump allocation in blocks (default `MemoryOptions.pooling`, on unless `SPINDLE_POOLS=off`);
        /// false: each allocation is a `malloc`, freed at `reset()`.
        public var pooling: Bool

        public init(blockSize: Int? = nil, retainedBlocks: Int = 4, pooling: Bool = MemoryOptions.pooling) {
            self.blockSize = max(256, blockSize ?? Environment.integer("SPINDLE_ARENA_BLOCK_SIZE") ?? 16 << 10)
            self.retainedBlocks = max(0, retainedBlocks)
            self.pooling = pooling
        }
    }

    /// Statistics since the arena was created.
    public struct Statistics: Sendable, Equatable {
        /// Requests served (resets).
        public var resets = 0
        /// Times a request outgrew a block and another was chained.
        public var overflows = 0
        /// Allocations too large for a block, served by malloc and freed at reset.
        public var largeAllocations = 0
        /// Allocations served by malloc because `pooling` is off (freed at reset).
        public var heapAllocations = 0
        /// The most bytes one request used.
        public var peakBytes = 0
    }

    public let configuration: Configuration
    @exclusivity(unchecked) private var blocks: [UnsafeMutableRawPointer] = []
    @exclusivity(unchecked) private var current = 0
    @exclusivity(unchecked) @usableFromInline var cursor: UnsafeMutableRawPointer
    @exclusivity(unchecked) @usableFromInline var limit: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var large: [UnsafeMutableRawPointer] = []
    @exclusivity(unchecked) private var usedInFullBlocks = 0
    /// Bytes asked for since the last reset when `pooling` is off.
    @exclusivity(unchecked) private var heapBytes = 0
    /// Where `cursor` stood after the last reset (the first block's start, or the no-block
    /// cursor): while it still stands there, in the first block, nothing was handed out.
    @exclusivity(unchecked) private var rewoundCursor: UnsafeMutableRawPointer
    /// Incremented by every `reset()`; `ArenaBytes` remember it.
    @exclusivity(unchecked) public private(set) var generation: UInt64 = 0
    @exclusivity(unchecked) public private(set) var statistics = Statistics()

    // `@exclusivity(unchecked)`: an arena belongs to one request on one thread and its fields
    // are never accessed inside a long-lived inout access; dynamic checks would only cost time.

    /// Creates an arena without memory: its first block is allocated by its first allocation
    /// (and kept across resets), so an arena that a request never uses costs no page of memory
    /// (a request parked for hours, an event stream, holds its arena unused). No allocation.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        (cursor, limit) = Self.noBlock
        rewoundCursor = cursor
    }

    /// Cursor and limit without a block: the limit lies below the (16-aligned) cursor, so the
    /// inline fast path fails for every size and alignment and `allocateSlow` serves all.
    /// Never dereferenced.
    private static var noBlock: (UnsafeMutableRawPointer, UnsafeMutableRawPointer) {
        (UnsafeMutableRawPointer(bitPattern: 64)!, UnsafeMutableRawPointer(bitPattern: 63)!)
    }

    deinit {
        for block in blocks { HeapBytes.deallocate(block) }
        for p in large { free(p) }
    }

    /// Bytes handed out since the last reset (large allocations not included).
    public var bytesInUse: Int {
        guard configuration.pooling else { return heapBytes }
        return blocks.isEmpty ? 0 : usedInFullBlocks + (cursor - blocks[current])
    }

    /// What one request has used of an arena (see `usage`).
    public struct Usage: Sendable, Equatable {
        /// Bytes handed out (`bytesInUse`: large allocations not included).
        public var bytes: Int
        /// Blocks chained beyond the first (0: the request fit in the first block).
        public var overflowBlocks: Int
        /// Allocations larger than a quarter block, served by malloc.
        public var largeAllocations: Int
    }

    /// What the current request has used since the last reset. An arena only grows within a
    /// request, so read just before the reset this is the request's peak. With `pooling` off,
    /// `bytes` counts the malloc'd bytes and the other two are 0. Cost: a few loads, no allocation.
    public var usage: Usage {
        guard configuration.pooling else { return Usage(bytes: heapBytes, overflowBlocks: 0, largeAllocations: 0) }
        return Usage(bytes: bytesInUse, overflowBlocks: current, largeAllocations: large.count)
    }

    /// Allocates `byteCount` bytes aligned to `alignment` (a power of two ≤ 16). Cost: a pointer
    /// bump; a block allocation or malloc only for the arena's first allocation, on overflow or
    /// for large requests (every time when `pooling` is off).
    @inlinable
    public func allocate(byteCount: Int, alignment: Int = 8) -> UnsafeMutableRawPointer {
        let aligned = UnsafeMutableRawPointer(bitPattern: (UInt(bitPattern: cursor) + UInt(alignment - 1)) & ~UInt(alignment - 1))!
        if _fastPath(aligned + byteCount <= limit) {
            cursor = aligned + byteCount
            return aligned
        }
        return allocateSlow(byteCount: byteCount, alignment: alignment)
    }

    @usableFromInline
    func allocateSlow(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer {
        misusePrecondition(alignment > 0 && alignment & (alignment - 1) == 0 && alignment <= 16,
                     "RequestArena.allocate: alignment \(alignment) must be a power of two up to 16")
        misusePrecondition(byteCount >= 0, "RequestArena.allocate: negative byteCount \(byteCount)")
        guard configuration.pooling else {
            statistics.heapAllocations += 1
            heapBytes += byteCount
            return allocateFromHeap(byteCount: byteCount)
        }
        if byteCount > configuration.blockSize / 4 {
            statistics.largeAllocations += 1
            return allocateFromHeap(byteCount: byteCount)
        }
        if blocks.isEmpty {  // the arena's first allocation
            blocks.append(HeapBytes.allocate(configuration.blockSize))
            cursor = blocks[0]
            limit = cursor + configuration.blockSize
            return allocate(byteCount: byteCount, alignment: alignment)
        }
        usedInFullBlocks += cursor - blocks[current]
        statistics.overflows += 1
        current += 1
        if current == blocks.count {
            blocks.append(HeapBytes.allocate(configuration.blockSize))
        }
        cursor = blocks[current]
        limit = cursor + configuration.blockSize
        return allocate(byteCount: byteCount, alignment: alignment)
    }

    /// A malloc'd block (16-byte aligned, like every malloc here), freed at the next reset.
    private func allocateFromHeap(byteCount: Int) -> UnsafeMutableRawPointer {
        guard let p = malloc(max(byteCount, 1)) else { fatalError("RequestArena: out of memory for \(byteCount) bytes") }
        large.append(p)
        return p
    }

    /// Copies `bytes` into the arena and returns a handle to the copy.
    public func copy(_ bytes: UnsafeRawBufferPointer) -> ArenaBytes {
        let p = allocate(byteCount: bytes.count, alignment: 1)
        if bytes.count > 0 { p.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        return ArenaBytes(arena: self, start: p, count: bytes.count, generation: generation)
    }

    /// Ends the request: all memory handed out becomes invalid and is reused by the next one.
    /// Extra blocks beyond `retainedBlocks` and large allocations are freed (with `pooling` off:
    /// every allocation).
    /// Cost: two increments when the request allocated nothing (most requests: an arena is
    /// reset after every request whether used or not); otherwise a few stores, and the frees.
    public func reset() {
        statistics.resets += 1
        generation &+= 1
        if cursor == rewoundCursor && current == 0 && heapBytes == 0 && large.isEmpty { return }  // untouched
        rewind()
    }

    /// `reset` of a request that allocated: out of line, so that the early return above does not
    /// pay for this part's registers.
    @inline(never)
    private func rewind() {
        statistics.peakBytes = max(statistics.peakBytes, bytesInUse)
        if !large.isEmpty {  // iterating even an empty array retained and released it
            for p in large { free(p) }
            large.removeAll(keepingCapacity: true)
        }
        guard configuration.pooling else {
            heapBytes = 0
            return
        }
        guard !blocks.isEmpty else { return }  // nothing allocated yet
        #if DEBUG
        for i in 0...current {
            let end = i == current ? cursor : blocks[i] + configuration.blockSize
            (blocks[i]).initializeMemory(as: UInt8.self, repeating: 0xDE, count: end - blocks[i])
        }
        #endif
        while blocks.count > configuration.retainedBlocks + 1 { HeapBytes.deallocate(blocks.removeLast()) }
        current = 0
        usedInFullBlocks = 0
        cursor = blocks[0]
        limit = cursor + configuration.blockSize
        rewoundCursor = cursor
    }
}

/// Bytes copied into a `RequestArena`, valid until the arena's next `reset()`. In debug builds
/// every access checks that the arena has not been reset since (memory escaping its request).
public struct ArenaBytes {
    unowned(unsafe) let arena: RequestArena
    let start: UnsafeMutableRawPointer
    /// Number of bytes.
    public let count: Int
    let generation: UInt64

    /// Calls `body` with the bytes. Debug builds stop with a message if the request ended.
    public func withUnsafeBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        assert(arena.generation == generation,
               "ArenaBytes used after its request ended (arena reset); copy data you keep beyond a request out of the arena")
        return try body(UnsafeRawBufferPointer(start: start, count: count))
    }

    /// True while the arena has not been reset since these bytes were made.
    public var isValid: Bool { arena.generation == generation }
}
