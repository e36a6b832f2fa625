
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
/// except when a chunk is mapped or pages are returned, or when a never-used stack is handed
/// out at the edge of a window: guards are installed a window of 1,024 stacks at a time, and
/// during a burst of spawns the top pages of the next fresh stacks (up to 64, as many as the
/// burst took so far) are committed with one batched call, which costs less than a page fault
/// each (~1.2 vs ~1.45 µs a page on the machine of Docs/benchmarks/fibers.md).
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
    /// The fewest warm free stacks since the last `trimWarm`: that many sat unused meanwhile.
    @exclusivity(unchecked) private var lowestWarmSinceTrim = 0
    /// Stacks never handed out yet, lowest address last (popped first): the rest of the last
    /// chunk mapped, consecutive slots (a chunk is mapped only when `fresh` is empty).
    @exclusivity(unchecked) private var fresh: [FiberStack] = []
    /// How many stacks at the end of `fresh` (the next ones handed out) have their guard in place.
    /// Lightweight guards are installed a window at a time as stacks are handed out, not for a
    /// whole chunk when it is mapped: a chunk twice the size of the last costs no pause, and
    /// stacks never used cost no guard.
    @exclusivity(unchecked) private var guardedFresh = 0
    /// How many stacks at the end of `fresh` the last `commitFresh` covered (committed or not).
    @exclusivity(unchecked) private var committedFresh = 0
    /// Whether the last `commitFresh` committed the top pages of the `committedFresh` stacks
    /// left of its window (then an idle trim gives back what no spawn took: `uncommitFresh`).
    @exclusivity(unchecked) private var lastWindowPopulated = false
    /// Fresh stacks handed out since the last `trimWarm`: how far ahead to commit (a burst that
    /// took many is likely to take more; a single spawn commits only its own page).
    @exclusivity(unchecked) private var freshTakenSinceTrim = 0
    /// False once the kernel refused a batched `MADV_POPULATE_WRITE`: no more committing ahead.
    @exclusivity(unchecked) private var commitsAhead = true
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
        self.lightweightGuards = self.configuration.guardSize > 0 && self.configuration.lightweightGuards
        if self.configuration.initialCount > 0 {
            try grow(by: self.configuration.initialCount)
            // The first window's guards now, so `guardMode` says from the start what the kernel
            // gave; with `prefault`, every stack of the chunk ready now, its top page committed.
            if guardedFresh == 0 { guardFresh(upTo: self.configuration.prefault ? fresh.count : Self.guardWindow) }
            if self.configuration.prefault {
                commitFresh(upTo: fresh.count, batched: true)
                lastWindowPopulated = false  // committed for good: no trim gives these back
                if !commitsAhead {  // no batched commits here: one write per page
                    let page = VirtualMemory.pageSize
                    for stack in fresh { (slotBase(of: stack) + slotSize - page).storeBytes(of: 0, as: UInt64.self) }
                }
            }
        }
    }

    deinit {
        for chunk in chunks {
            OverflowRegistry.unregister(chunk.registration)
            VirtualMemory.release(chunk.base, chunk.bytes)
            VirtualMemory.release(UnsafeMutableRawPointer(chunk.fiberIDs), SideTable.bytes(count: chunk.count))
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
            if warmListCount < lowestWarmSinceTrim { lowestWarmSinceTrim = warmListCount }
            stack = node.stack
        } else if !fresh.isEmpty {
            stack = takeFresh()
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
        return takeFresh()
    }

    /// The next never-used stack (lowest address first), its guard installed. Precondition:
    /// `fresh` is not empty.
    @inline(__always)
    private func takeFresh() -> FiberStack {
        if guardedFresh <= 0 || committedFresh <= 0 { prepareFresh() }
        guardedFresh &-= 1
        committedFresh &-= 1
        freshTakenSinceTrim &+= 1
        return fresh.removeLast()
    }

    /// Readies the next fresh stacks before one is handed out: guards for the next window of up
    /// to `guardWindow` stacks (one batched call), and the top pages of the next few committed
    /// in one batched call, as many as fresh stacks were taken since the last trim (at most
    /// `commitWindow`): a burst of spawns pays a system call per window instead of a page fault
    /// per stack, and at most `commitWindow - 1` pages it may not use yet.
    @inline(never)
    private func prepareFresh() {
        if guardedFresh <= 0 { guardFresh(upTo: Self.guardWindow) }
        if committedFresh <= 0 {
            let ahead = Swift.min(Swift.max(freshTakenSinceTrim, 1), Self.commitWindow)
            commitFresh(upTo: ahead, batched: ahead > 1)
        }
    }

    /// Stacks whose guards one batched `MADV_GUARD_INSTALL` installs (as they are about to be
    /// handed out; the benchmarks' guarded floor batches the same way).
    public static let guardWindow = 1024
    /// The most fresh stacks whose top page is committed ahead of their first use (64 pages).
    static let commitWindow = 64

    /// The start of the slot of `stack` (its guard, when it has one).
    @inline(__always)
    private func slotBase(of stack: FiberStack) -> UnsafeMutableRawPointer {
        stack.top + Self.controlSize + Self.colourOffset(slot: stack.slot) - slotSize
    }

    /// Installs the guards of the next `limit` fresh stacks (all of them when fewer), in one
    /// batched `MADV_GUARD_INSTALL` per `guardWindow`; where the kernel refuses it, as older
    /// kernels require: `mprotect` within the budget, then canaries (`guardSlot`).
    private func guardFresh(upTo limit: Int) {
        let count = Swift.min(limit, fresh.count)
        guard count > 0 else { return }
        defer { guardedFresh = count }
        let first = fresh.count - 1  // the lowest address; the next ones follow a slot apart
        if lightweightGuards,
           VirtualMemory.installLightGuards(slotBase(of: fresh[first]), stride: slotSize,
                                            length: configuration.guardSize, count: count) == 0 {
            return
        }
        for index in stride(from: first, to: first - count, by: -1) {
            let stack = fresh[index]
            if let canary = guardSlot(slotBase(of: stack), control: stack.control) {
                fresh[index] = FiberStack(top: stack.top, size: stack.size, slot: stack.slot, canary: canary, owner: stack.owner)
            }
        }
    }

    /// Commits the top page of the next `limit` fresh stacks (all of them when fewer): with one
    /// batched `MADV_POPULATE_WRITE` when `batched` and the kernel takes it, else not at all
    /// (each faults at its first use). Only the bookkeeping when `batched` is false.
    private func commitFresh(upTo limit: Int, batched: Bool) {
        let count = Swift.min(limit, fresh.count)
        committedFresh = count
        lastWindowPopulated = false
        guard batched && commitsAhead && count > 1 else { return }
        let page = VirtualMemory.pageSize
        let firstTop = slotBase(of: fresh[fresh.count - 1]) + slotSize - page
        if VirtualMemory.populate(firstTop, stride: slotSize, length: page, count: count) == 0 {
            lastWindowPopulated = true
        } else {
            commitsAhead = false  // the kernel lacks it: let the pages fault in
        }
    }

    /// Gives back the top pages committed ahead for fresh stacks (`commitFresh`) that no burst
    /// took since: at most `commitWindow - 1` pages, one `madvise` each. (They read as zeros
    /// again, as a fresh stack's must.)
    private func uncommitFresh() {
        let count = lastWindowPopulated ? Swift.min(committedFresh, fresh.count) : 0
        guard count > 0 else { return }
        lastWindowPopulated = false
        committedFresh = 0
        let page = VirtualMemory.pageSize
        for index in stride(from: fresh.count - 1, to: fresh.count - 1 - count, by: -1) {
            VirtualMemory.discard(slotBase(of: fresh[index]) + slotSize - page, page)
        }
    }

    /// Guards the slot at `slotBase` one by one, as kernels without batched lightweight guards
    /// require: `MADV_GUARD_INSTALL` while it works, else `mprotect` within
    /// `protectedGuardBudget`, else a canary at the lowest usable word below `control`, which
    /// is returned (nil: a guard page protects the stack).
    private func guardSlot(_ slotBase: UnsafeMutableRawPointer, control: UnsafeMutableRawPointer) -> UnsafeMutablePointer<UInt64>? {
        let guardSize = configuration.guardSize
        if guardSize > 0 && lightweightGuards {
            if VirtualMemory.installLightGuard(slotBase, guardSize) { return nil }
            lightweightGuards = false  // kernel without MADV_GUARD_INSTALL: fall back
        }
        if guardSize > 0 && protectedCount < configuration.protectedGuardBudget,
           (try? VirtualMemory.protect(slotBase, guardSize)) != nil {
            protectedCount += 1
            return nil
        }
        canaryCount += 1
        // The canary is the lowest usable word (the padding leaves a gap above the guard).
        let canary = (control - (configuration.stackSize - Self.controlSize)).assumingMemoryBound(to: UInt64.self)
        canary.pointee = Self.canaryValue
        return canary
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

    /// Returns `stack` to the pool as `release` does, but keeps it warm only while fewer than
    /// `floor` stacks are: a stack a trim found unneeded for a whole period (its fiber's) goes
    /// straight back to the kernel instead of waiting on the warm list for the next trim. Cost:
    /// an `madvise` when it is discarded.
    public func release(_ stack: FiberStack, keepingWarmAtMost floor: Int) {
        guard warmListCount >= min(max(floor, 0), configuration.warmCount) else {
            release(stack)
            return
        }
        inUse &-= 1
        setOwner(stack, fiberID: 0)
        releaseCold(stack)
    }

    /// Returns to the kernel the pages of the warm free stacks that were not needed since the
    /// last call — as many as stayed on the warm list the whole time — keeping at least `floor`
    /// warm, the most recently used first; returns how many. Call it periodically (the server
    /// does every few seconds): after a spike, its stacks' pages go back within two periods.
    /// Cost: a walk of the warm list and an `madvise` per stack discarded.
    @discardableResult
    public func trimWarm(keepingAtLeast floor: Int) -> Int {
        let surplus = min(lowestWarmSinceTrim, warmListCount - max(floor, 0))
        defer { lowestWarmSinceTrim = warmListCount }
        if freshTakenSinceTrim == 0 { uncommitFresh() }  // the burst is over: its pages ahead go back
        freshTakenSinceTrim = 0
        guard surplus > 0 else { return 0 }
        // Keep the first (most recently released) stacks; cut the list after them.
        let keep = warmListCount - surplus
        var cut: UnsafeMutableRawPointer? = nil  // the last node kept
        var node = warmHead
        for _ in 0..<keep {
            cut = node
            node = FreeNode.take(from: node!).next
        }
        if let cut {
            var last = FreeNode.take(from: cut)
            last.next = nil
            FreeNode.store(last, in: cut)
        } else {
            warmHead = nil
        }
        while let control = node {
            let free = FreeNode.take(from: control)
            node = free.next
            releaseCold(free.stack)
        }
        warmListCount = keep
        return surplus
    }

    /// Returns to the kernel the pages of `stack` wholly below `stackPointer`: the part a
    /// suspended fiber touched when it was deeper and does not use while it waits (they read as
    /// zeros when it gets there again, at the cost of a page fault each). Returns the bytes of
    /// the range given back (resident or not). Cost: one `madvise` when the range holds a page.
    ///
    /// Invariant the caller keeps: `stackPointer` is the saved stack pointer of a fiber that is
    /// suspended on `stack` (not running, on this thread), so nothing below it is live — the
    /// saved context lies at and above it, and a suspended fiber has no red zone in use (it
    /// left through a call). A canary word, when the stack has one, is rewritten.
    public func releasePages(of stack: FiberStack, below stackPointer: UnsafeRawPointer) -> Int {
        let page = UInt(VirtualMemory.pageSize)
        let low = UInt(bitPattern: stack.top - stack.size) & ~(page - 1)
        let sp = UInt(bitPattern: stackPointer)
        guard sp > low, sp <= UInt(bitPattern: stack.top) else { return 0 }  // not this stack's: leave it
        let high = sp & ~(page - 1)  // the page holding the stack pointer stays
        guard high > low else { return 0 }
        VirtualMemory.discard(UnsafeMutableRawPointer(bitPattern: low)!, Int(high - low))
        if let canary = stack.canary { canary.pointee = Self.canaryValue }
        return Int(high - low)
    }

    @inline(never)
    private func releaseCold(_ stack: FiberStack) {
        // Every page from the one holding the lowest usable byte to the slot end, control block
        // included (the padding keeps that page above the guard).
        let end = stack.control + Self.controlSize + Self.colourOffset(slot: stack.slot)
        let low = UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: stack.top - stack.size) & ~UInt(VirtualMemory.pageSize - 1))!
        VirtualMemory.discard(low, end - low)
        if let canary = stack.canary { canary.pointee = Self.canaryValue }
        stack.owner[SideTable.highWater] = 0  // it reads as zeros again
        stack.owner[SideTable.warned] = 0
        discardedCount &+= 1
        cold.append(stack)
    }

    /// Records which fiber owns `stack`, so an overflow report can name it.
    @inline(__always)
    public func setOwner(_ stack: FiberStack, fiberID: UInt64) {
        stack.owner.pointee = fiberID
    }

    /// Records which fiber owns `stack` and when it was spawned (monotonic nanoseconds), and
    /// clears what it serves, for overflow reports, fiber dumps and the watchdog. Cost: four
    /// stores into the slot's line of the pool's side table (no system call), inlined into the
    /// caller (the scheduler's spawn).
    @inlinable
    package func setOwner(_ stack: FiberStack, fiberID: UInt64, spawnedAt: UInt64) {
        stack.owner[SideTable.owner] = fiberID
        stack.owner[SideTable.spawnedAt] = spawnedAt
        stack.owner[SideTable.subjectAddress] = 0
        stack.owner[SideTable.subjectLength] = 0
    }

    /// When the owner of `stack` was spawned (monotonic nanoseconds; 0 when not recorded).
    package func spawnTime(of stack: FiberStack) -> UInt64 {
        stack.owner[SideTable.spawnedAt]
    }

    /// Records the bytes that say what the owner of `stack` serves now (an HTTP request's head:
    /// the watchdog's signal handler copies its first line). The bytes must stay readable
    /// while the owner serves them; the record is cleared at the next spawn. Two stores, inlined
    /// into the caller (also across modules: the HTTP layer calls it per request).
    @inlinable
    package static func setSubject(_ stack: FiberStack, _ bytes: UnsafeRawBufferPointer) {
        stack.owner[SideTable.subjectAddress] = UInt64(UInt(bitPattern: bytes.baseAddress))
        stack.owner[SideTable.subjectLength] = UInt64(bytes.count)
    }

    /// True once `markWarned` was called for `stack` since its pages were last returned.
    package func wasWarned(_ stack: FiberStack) -> Bool { stack.owner[SideTable.warned] != 0 }

    /// Remembers that the high-water warning was given for `stack` (until its pages are returned).
    package func markWarned(_ stack: FiberStack) { stack.owner[SideTable.warned] = 1 }

    /// True when the 64-byte cache line a quarter of the way up from the bottom of `stack` is
    /// not all zeros: a fiber has used more than 75% of it. (A frame that left those 64 bytes
    /// untouched while going deeper is missed; `highWaterBytes` is exact.) Cost: the loads of
    /// one cache line, the first of which maps the zero page when the fiber never went that
    /// deep (once per stack until its pages are returned). Inlined into the caller, also across
    /// modules (the HTTP layer calls it per request).
    @inlinable @inline(__always)
    package static func probablyPassedWarningLine(_ stack: FiberStack) -> Bool {
        // Invariant: the line lies in [top - size, top), mapped read-write (see highWaterBytes):
        // it starts at least 64 bytes above the bottom (size >= 16 KiB) and below the top.
        let line = UnsafeRawPointer(bitPattern: (UInt(bitPattern: stack.top) - UInt(stack.size) / 4 * 3) & ~UInt(63))!
        var bits: UInt64 = 0
        for word in 0..<8 { bits |= line.load(fromByteOffset: word * 8, as: UInt64.self) }
        return bits != 0
    }

    /// Measures `stack` (`highWaterBytes`) and keeps the figure for `highWaterFigures`.
    @discardableResult
    package func measureHighWater(_ stack: FiberStack) -> Int {
        let bytes = highWaterBytes(of: stack)
        stack.owner[SideTable.highWater] = UInt64(bytes)
        return bytes
    }

    /// The high-water of every mapped stack that has one: measured now for stacks in use, the
    /// figure kept from the last measurement for free ones (0, and left out, once a stack's
    /// pages were returned). Cost: a `mincore` per stack in use. Call on the pool's thread.
    package func highWaterFigures() -> [Int] {
        var figures: [Int] = []
        for chunk in chunks {
            for index in 0..<chunk.count {
                let words = chunk.fiberIDs + SideTable.words * index
                var bytes = Int(words[SideTable.highWater])
                if words[SideTable.owner] != 0 {
                    let slot = chunk.firstSlot + index
                    let top = chunk.base + index * slotSize + slotSize - Self.controlSize - Self.colourOffset(slot: slot)
                    // `canary` does not matter to the measurement (it skips the lowest word).
                    let stack = FiberStack(top: top, size: configuration.stackSize - Self.controlSize, slot: slot,
                                           canary: nil, owner: words)
                    bytes = measureHighWater(stack)
                }
                if bytes > 0 { figures.append(bytes) }
            }
        }
        return figures
    }

    /// Calls `body` with the control block and owner of every stack whose side table names an
    /// owner (`setOwner` with a fiber id other than 0): stacks handed out to fibers that were
    /// spawned, and possibly kept by finished ones, which the caller tells apart by the id.
    /// Cost: a walk of the side table of every mapped stack. Call on the pool's thread.
    package func forEachOwnedStack(_ body: (_ control: UnsafeMutableRawPointer, _ owner: UInt64) -> Void) {
        for chunk in chunks {
            for index in 0..<chunk.count {
                let owner = chunk.fiberIDs[SideTable.words * index]
                if owner == 0 { continue }
                let slot = chunk.firstSlot + index
                let control = chunk.base + index * slotSize + slotSize - Self.controlSize - Self.colourOffset(slot: slot)
                body(control, owner)
            }
        }
    }

    /// How deep `stack` has been used: the bytes from its top down to the lowest word that is
    /// not zero, measured without any cost per switch. It relies on fresh pages reading as
    /// zero: a stack handed out for the first time, or after its pages were returned (a cold
    /// stack), is all zeros below what its fibers wrote, so the figure is the deepest any
    /// fiber reached on it since then (its "high-water", never lower than the current depth).
    /// Only pages `mincore` reports resident are read, so untouched pages are not faulted in.
    /// A frame that leaves the words it skipped at zero can make the figure a few words low.
    ///
    /// Cost: one `mincore` and a scan of at most the resident pages below the deepest written
    /// word (usually most of one page). Call on the pool's thread, for a stack in use or free.
    public func highWaterBytes(of stack: FiberStack) -> Int {
        // Invariant: [top - size, top) is mapped read-write for the pool's lifetime (only the
        // guard below it is not), so every 8-byte-aligned load in it is valid; the loads are
        // made in C (`spindle_stack_lowest_nonzero`), outside AddressSanitizer's view of the
        // parked frames' redzones. The lowest word (the canary, when there is one) is skipped.
        let page = VirtualMemory.pageSize
        let top = UInt(bitPattern: stack.top)
        let low = top - UInt(stack.size) + 8
        let firstPage = low & ~UInt(page - 1)
        guard let base = UnsafeMutableRawPointer(bitPattern: firstPage),
              let resident = VirtualMemory.residentPages(base, Int(top - firstPage)) else { return 0 }
        for (index, isResident) in resident.enumerated() where isResident {
            let pageStart = firstPage + UInt(index * page)
            let start = Swift.max(pageStart, low)
            let end = Swift.min(pageStart + UInt(page), top)
            if start < end, let word = VirtualMemory.lowestNonZeroWord(from: start, to: end) { return Int(top - word) }
        }
        return 0
    }

    private func grow(by count: Int) throws(SystemCallError) {
        let bytes = count * slotSize
        let base = try VirtualMemory.reserve(bytes)
        // `SideTable.words` per slot (see `SideTable`), in a mapping of its own: zero-filled and
        // committed only where slots are used (64 bytes per stack, touched at its first spawn).
        let table: UnsafeMutableRawPointer
        do { table = try VirtualMemory.reserve(SideTable.bytes(count: count)) } catch {
            VirtualMemory.release(base, bytes)
            throw error
        }
        let ids = table.bindMemory(to: UInt64.self, capacity: SideTable.words * count)
        let usable = configuration.stackSize - Self.controlSize
        // Lightweight guards wait for `guardFresh` (a window at a time, as stacks are handed
        // out); the other kinds are made now, when the kernel has no lightweight ones, in
        // address order (the `mprotect` budget goes to the stacks handed out first).
        let guardsNow = configuration.guardSize == 0 || !lightweightGuards
        /// Where the control block (the top) of the chunk's `i`th stack goes.
        func control(_ i: Int) -> UnsafeMutableRawPointer {
            base + i * slotSize + slotSize - Self.controlSize - Self.colourOffset(slot: mappedCount + i)
        }
        func stack(_ i: Int, canary: UnsafeMutablePointer<UInt64>?) -> FiberStack {
            FiberStack(top: control(i), size: usable, slot: mappedCount + i, canary: canary, owner: ids + SideTable.words * i)
        }
        // Lower addresses are handed out first (pops from the end), so `fresh` is filled from the top.
        fresh.reserveCapacity(fresh.count + count)
        if guardsNow {
            var canaries: [UnsafeMutablePointer<UInt64>?] = []
            canaries.reserveCapacity(count)
            for i in 0..<count { canaries.append(guardSlot(base + i * slotSize, control: control(i))) }
            for i in stride(from: count - 1, through: 0, by: -1) { fresh.append(stack(i, canary: canaries[i])) }
        } else {
            for i in stride(from: count - 1, through: 0, by: -1) { fresh.append(stack(i, canary: nil)) }
        }
        let registration = OverflowRegistry.register(base: base, slotSize: slotSize, guardSize: configuration.guardSize,
                                                    stackSize: configuration.stackSize, count: count, fiberIDs: ids)
        chunks.append(Chunk(base: base, count: count, firstSlot: mappedCount, bytes: bytes,
                            fiberIDs: ids, registration: registration))
        mappedCount += count
        guardedFresh = guardsNow ? count : 0
        committedFresh = 0
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

/// The pool's side table: one 64-byte line per slot, outside the stacks, indexed by slot. The
/// overflow and watchdog signal handlers (CSpindle) read the owner and subject words, so their
/// positions are also written in `spindle_overflow.h` (`SPINDLE_SIDE_TABLE_*`).
/// `@usableFromInline`, its indexes written as `@inlinable` constants: `setOwner` and
/// `setSubject` are inlined into other modules.
@usableFromInline
enum SideTable {
    /// Words per slot.
    static let words = 8
    /// The owning fiber's id (0: none).
    @inlinable static var owner: Int { 0 }
    /// When the owner was spawned (monotonic nanoseconds, coarse clock).
    @inlinable static var spawnedAt: Int { 1 }
    /// Address and length of the bytes saying what the owner serves (0: nothing).
    @inlinable static var subjectAddress: Int { 2 }
    @inlinable static var subjectLength: Int { 3 }
    /// 1 once the 75% warning was given for this stack.
    static let warned = 4
    /// The last high-water measured (bytes).
    static let highWater = 5

    /// Bytes of the side table of `count` slots.
    static func bytes(count: Int) -> Int { count * words * MemoryLayout<UInt64>.size }
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
