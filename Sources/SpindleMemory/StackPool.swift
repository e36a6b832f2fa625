
/// A pool of preallocated, fixed-size fiber stacks with guard pages, owned by one thread.
///
/// Memory: each stack is a slot of `guardSize + stackSize` bytes plus one or two pages of
/// padding, of lazily committed anonymous memory, mapped in geometrically growing chunks (so a
/// million stacks take ~20 mappings). A stack costs RSS only for the pages its fiber touched.
/// Guard pages use `MADV_GUARD_INSTALL` where the kernel has it (no VMA cost); otherwise
/// `mprotect` up to `protectedGuardBudget` stacks, then a canary word checked on every switch-out.
///
/// Cache colouring: each slot's control block (and so its stack top) sits `colourOffset(slot)`
/// bytes below the slot end, and the padding makes the slot stride an odd number of pages.
/// Without the offset every control block and the hottest frames of every stack would sit at
/// the same offset in their page, so in the same L1 sets (the L1 is indexed by address bits
/// inside a page); the L2 is indexed by physical address, which only the kernel chooses.
///
/// Reuse is LIFO so hot pages are reused first. Released stacks beyond `warmCount` have their
/// pages returned to the kernel. Allocation and release are O(1) and make no system call
/// except when a chunk is mapped or pages are returned.
///
/// The warm free list is intrusive: a released stack's `FiberStack` and the link to the next
/// free stack are kept in its own control block (see `FreeNode`), so `allocate`/`release` touch
/// one cache line the next owner uses anyway, and no array or reference count.
///
/// Not thread-safe: a pool belongs to one scheduler thread. (Hence `@exclusivity(unchecked)` on
/// its fields: they are only touched by that thread in short, non-overlapping accesses.)
public final class StackPool {
    /// Bytes at the top of each slot reserved for the owner's control block.
    public static let controlSize = 128
    /// The value of the canary word of stacks without a guard page.
    public static let canaryValue: UInt64 = 0x5350_494E_444C_4521  // "SPINDLE!"
    /// Control blocks of consecutive slots are staggered by one cache line, over this many lines
    /// (1 KiB: small enough that a parked fiber's frames still fit in the top page).
    static let colours = 16
    static let colourStep = 64

    /// How overflow of the pool's stacks is detected.
    public enum GuardMode: String, Sendable {
        /// `madvise(MADV_GUARD_INSTALL)`: a real guard page that costs no VMA (Linux 6.13+).
        case lightweightGuard = "MADV_GUARD_INSTALL"
        /// `mprotect(PROT_NONE)`: a real guard page, two VMAs per stack.
        case protectedGuard = "mprotect"
        /// A canary word checked on every switch-out (beyond the mprotect budget).
        case canary
    }

    private struct Chunk {
        let base: UnsafeMutableRawPointer
        let count: Int
        let firstSlot: Int
        let bytes: Int
        let fiberIDs: UnsafeMutablePointer<UInt64>
        let registration: Int32
    }

    /// The configuration in effect (sizes rounded to pages).
    public let configuration: Configuration
    private let slotSize: Int
    @exclusivity(unchecked) private var chunks: [Chunk] = []
    /// Control block of the most recently released warm stack (head of the intrusive list).
    @exclusivity(unchecked) private var warmHead: UnsafeMutableRawPointer? = nil
    @exclusivity(unchecked) private var warmListCount = 0
    /// Stacks never handed out yet, lowest address last (popped first); their pages are untouched.
    @exclusivity(unchecked) private var fresh: [FiberStack] = []
    @exclusivity(unchecked) private var cold: [FiberStack] = []
    @exclusivity(unchecked) private var mappedCount = 0
    @exclusivity(unchecked) private var protectedCount = 0
    @exclusivity(unchecked) private var canaryCount = 0
    @exclusivity(unchecked) private var lightweightGuards: Bool
    /// Stacks currently handed out.
    @exclusivity(unchecked) public private(set) var inUse = 0
    /// The most stacks ever handed out at once.
    @exclusivity(unchecked) public private(set) var peakInUse = 0
    /// How many released stacks had their pages returned to the kernel.
    @exclusivity(unchecked) public private(set) var discardedCount = 0

    /// Creates a pool and maps `configuration.initialCount` stacks (lazily committed).
    /// Throws when the kernel refuses the mapping (address space or `vm.max_map_count`).
    public init(configuration: Configuration = .fromEnvironment) throws(SystemCallError) {
        self.configuration = configuration.validated()
        self.slotSize = Self.slotSize(for: self.configuration)
        self.lightweightGuards = self.configuration.guardSize > 0
        if self.configuration.initialCount > 0 {
            try grow(by: self.configuration.initialCount)
            if self.configuration.prefault, let chunk = chunks.first { prefault(chunk) }
        }
    }

    deinit {
        for chunk in chunks {
            OverflowRegistry.unregister(chunk.registration)
            VirtualMemory.release(chunk.base, chunk.bytes)
            chunk.fiberIDs.deallocate()
        }
    }

    /// Stacks mapped so far (in use + free).
    public var mapped: Int { mappedCount }
    /// Free stacks whose pages are still committed, or never used yet (reused first).
    public var warmFree: Int { warmListCount + fresh.count }
    /// Free stacks whose pages were returned to the kernel.
    public var coldFree: Int { cold.count }

    /// How overflow is detected for newly mapped stacks.
    public var guardMode: GuardMode {
        if configuration.guardSize == 0 || canaryCount > 0 { return .canary }
        return lightweightGuards ? .lightweightGuard : .protectedGuard
    }

    /// Takes a stack: the most recently released warm one if any, else a never-used one, else a
    /// cold one, else maps a new chunk. Its control block is zeroed unless `zeroingControl` is
    /// false: then its bytes are unspecified (a warm stack's hold the pool's free-list node), for
    /// an owner that initialises every control-block byte it reads (as `Fiber` does).
    /// Returns nil when `maximumCount` stacks are in use or the kernel refuses more memory.
    /// Cost: O(1), no system call unless a chunk is mapped.
    @inline(__always)
    public func allocate(zeroingControl: Bool = true) -> FiberStack? {
        let stack: FiberStack
        if let head = warmHead {
            let node = FreeNode.take(from: head)
            warmHead = node.next
            warmListCount &-= 1
            stack = node.stack
        } else if let s = fresh.popLast() {
            stack = s
        } else {
            guard let s = allocateSlow() else { return nil }
            stack = s
        }
        if zeroingControl { stack.control.initializeMemory(as: UInt64.self, repeating: 0, count: Self.controlSize / 8) }
        inUse &+= 1
        if inUse > peakInUse { peakInUse = inUse }
        return stack
    }

    /// A cold stack, or one from a newly mapped chunk.
    @inline(never)
    private func allocateSlow() -> FiberStack? {
        if let s = cold.popLast() { return s }
        let room = configuration.maximumCount - mappedCount
        guard room > 0 else { return nil }
        let want = Swift.min(room, Swift.max(configuration.initialCount, mappedCount, 16))
        do { try grow(by: want) } catch { return nil }
        return fresh.popLast()
    }

    /// Returns a stack to the pool. Above the `warmCount` watermark its pages go back to the
    /// kernel (one `madvise`). The next `allocate` that hands it out zeroes its control block.
    @inline(__always)
    public func release(_ stack: FiberStack) {
        inUse &-= 1
        setOwner(stack, fiberID: 0)
        if warmListCount < configuration.warmCount {
            FreeNode.store(FreeNode(stack: stack, next: warmHead), in: stack.control)
            warmHead = stack.control
            warmListCount &+= 1
        } else {
            releaseCold(stack)
        }
    }

    @inline(never)
    private func releaseCold(_ stack: FiberStack) {
        // Every page from the one holding the lowest usable byte to the slot end, control block
        // included (the padding keeps that page above the guard).
        let end = stack.control + Self.controlSize + Self.colourOffset(slot: stack.slot)
        let low = UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: stack.top - stack.size) & ~UInt(VirtualMemory.pageSize - 1))!
        VirtualMemory.discard(low, end - low)
        if let canary = stack.canary { canary.pointee = Self.canaryValue }
        discardedCount &+= 1
        cold.append(stack)
    }

    /// Records which fiber owns `stack`, so an overflow report can name it.
    @inline(__always)
    public func setOwner(_ stack: FiberStack, fiberID: UInt64) {
        stack.owner.pointee = fiberID
    }

    private func grow(by count: Int) throws(SystemCallError) {
        let bytes = count * slotSize
        let base = try VirtualMemory.reserve(bytes)
        let ids = UnsafeMutablePointer<UInt64>.allocate(capacity: count)
        ids.initialize(repeating: 0, count: count)
        let guardSize = configuration.guardSize
        let usable = configuration.stackSize - Self.controlSize
        var mapped: [FiberStack] = []
        mapped.reserveCapacity(count)
        // Guard pages for the whole chunk in batched calls where the kernel allows.
        var guardedInBatch = false
        if guardSize > 0 && lightweightGuards {
            guardedInBatch = VirtualMemory.installLightGuards(base, stride: slotSize, length: guardSize, count: count) == 0
        }
        for i in 0..<count {
            let slotBase = base + i * slotSize
            var canary: UnsafeMutablePointer<UInt64>? = nil
            if guardSize > 0 && lightweightGuards && !guardedInBatch
                && !VirtualMemory.installLightGuard(slotBase, guardSize) {
                lightweightGuards = false  // kernel without MADV_GUARD_INSTALL: fall back
            }
            if guardSize > 0 && !lightweightGuards {
                if protectedCount < configuration.protectedGuardBudget,
                   (try? VirtualMemory.protect(slotBase, guardSize)) != nil {
                    protectedCount += 1
                } else {
                    canaryCount += 1
                    canary = (slotBase + guardSize).assumingMemoryBound(to: UInt64.self)
                }
            } else if guardSize == 0 {
                canaryCount += 1
                canary = slotBase.assumingMemoryBound(to: UInt64.self)
            }
            let slot = mappedCount + i
            let control = slotBase + slotSize - Self.controlSize - Self.colourOffset(slot: slot)
            // The canary is the lowest usable word (the padding leaves a gap above the guard).
            if canary != nil { canary = (control - usable).assumingMemoryBound(to: UInt64.self) }
            canary?.pointee = Self.canaryValue
            mapped.append(FiberStack(top: control, size: usable, slot: slot, canary: canary, owner: ids + i))
        }
        let registration = OverflowRegistry.register(base: base, slotSize: slotSize, guardSize: guardSize,
                                                    stackSize: configuration.stackSize, count: count, fiberIDs: ids)
        chunks.append(Chunk(base: base, count: count, firstSlot: mappedCount, bytes: bytes,
                            fiberIDs: ids, registration: registration))
        mappedCount += count
        // Hand out lower addresses first (pops from the end).
        fresh.append(contentsOf: mapped.reversed())
    }

    /// Commits the top page of each stack of `chunk` now (`prefault`), so that its first fiber
    /// does not fault: batched `MADV_POPULATE_WRITE` calls where the kernel takes them, else one
    /// write per page. (The kernel still zeroes every page; what batching saves is the faults.)
    private func prefault(_ chunk: Chunk) {
        let page = VirtualMemory.pageSize
        let firstTop = chunk.base + slotSize - page
        if VirtualMemory.populate(firstTop, stride: slotSize, length: page, count: chunk.count) == 0 { return }
        for i in 0..<chunk.count { (firstTop + i * slotSize).storeBytes(of: 0, as: UInt64.self) }
    }

    /// Bytes between the starts of neighbouring slots for `configuration`: guard + stack + one or
    /// two pages of padding (room for the colour offsets, and an odd number of pages in all).
    public static func slotSize(for configuration: Configuration) -> Int {
        let page = VirtualMemory.pageSize
        let c = configuration.validated()
        let pages = (c.guardSize + c.stackSize) / page + 1
        return (pages | 1) * page
    }

    /// How far below the slot end the control block of `slot` sits (a multiple of 64, < 1 KiB).
    @inline(__always)
    static func colourOffset(slot: Int) -> Int {
        (slot & (colours - 1)) &* colourStep
    }
}

/// A free warm stack's entry in the pool's intrusive list, kept in the stack's own control block
/// (which nobody else uses while the stack is free).
private struct FreeNode {
    var stack: FiberStack
    var next: UnsafeMutableRawPointer?

    /// Writes `node` into a free stack's control block. Invariant: `FreeNode` is trivial and fits
    /// in `StackPool.controlSize` bytes, so raw stores and loads are all it takes.
    @inline(__always)
    static func store(_ node: FreeNode, in control: UnsafeMutableRawPointer) {
        control.storeBytes(of: node, as: FreeNode.self)
    }

    /// Reads the node that `store` wrote at `control`.
    @inline(__always)
    static func take(from control: UnsafeMutableRawPointer) -> FreeNode {
        control.load(as: FreeNode.self)
    }
}
