import CSpindle

/// A pool of preallocated, fixed-size fiber stacks with guard pages, owned by one thread.
///
/// Memory: each stack is a slot of `guardSize + stackSize` bytes of lazily committed anonymous
/// memory, mapped in geometrically growing chunks (so a million stacks take ~20 mappings).
/// A stack costs RSS only for the pages its fiber touched. Guard pages use
/// `MADV_GUARD_INSTALL` where the kernel has it (no VMA cost); otherwise `mprotect` up to
/// `protectedGuardBudget` stacks, then a canary word checked on every switch-out.
///
/// Reuse is LIFO so hot pages are reused first. Released stacks beyond `warmCount` have their
/// pages returned to the kernel. Allocation and release are O(1) and make no system call
/// except when a chunk is mapped or pages are returned.
///
/// Not thread-safe: a pool belongs to one scheduler thread. (Hence `@exclusivity(unchecked)` on
/// its fields: they are only touched by that thread in short, non-overlapping accesses.)
public final class StackPool {
    /// Bytes at the top of each slot reserved for the owner's control block.
    public static let controlSize = 128
    /// The value of the canary word of stacks without a guard page.
    public static let canaryValue: UInt64 = 0x5350_494E_444C_4521  // "SPINDLE!"

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
    @exclusivity(unchecked) private var warm: [FiberStack] = []
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
        self.slotSize = self.configuration.guardSize + self.configuration.stackSize
        self.lightweightGuards = self.configuration.guardSize > 0
        if self.configuration.initialCount > 0 {
            try grow(by: self.configuration.initialCount)
            if self.configuration.prefault {
                for stack in warm { stack.control.storeBytes(of: 0, as: UInt64.self) }
            }
        }
    }

    deinit {
        for chunk in chunks {
            spindle_overflow_unregister(chunk.registration)
            VirtualMemory.release(chunk.base, chunk.bytes)
            chunk.fiberIDs.deallocate()
        }
    }

    /// Stacks mapped so far (in use + free).
    public var mapped: Int { mappedCount }
    /// Free stacks whose pages are still committed (reused first).
    public var warmFree: Int { warm.count }
    /// Free stacks whose pages were returned to the kernel.
    public var coldFree: Int { cold.count }

    /// How overflow is detected for newly mapped stacks.
    public var guardMode: GuardMode {
        if configuration.guardSize == 0 || canaryCount > 0 { return .canary }
        return lightweightGuards ? .lightweightGuard : .protectedGuard
    }

    /// Takes a stack: a warm one if any, else a cold one, else maps a new chunk.
    /// Returns nil when `maximumCount` stacks are in use or the kernel refuses more memory.
    /// Cost: O(1), no system call unless a chunk is mapped.
    @inline(__always)
    public func allocate() -> FiberStack? {
        let stack: FiberStack
        if let s = warm.popLast() {
            stack = s
        } else if let s = cold.popLast() {
            stack = s
        } else {
            let room = configuration.maximumCount - mappedCount
            guard room > 0 else { return nil }
            let want = Swift.min(room, Swift.max(configuration.initialCount, mappedCount, 16))
            do { try grow(by: want) } catch { return nil }
            stack = warm.popLast()!
        }
        inUse &+= 1
        if inUse > peakInUse { peakInUse = inUse }
        return stack
    }

    /// Returns a stack to the pool. Above the `warmCount` watermark its pages go back to the
    /// kernel (one `madvise`). The control block is zeroed for the next owner.
    @inline(__always)
    public func release(_ stack: FiberStack) {
        inUse &-= 1
        setOwner(stack, fiberID: 0)
        if warm.count < configuration.warmCount {
            stack.control.initializeMemory(as: UInt8.self, repeating: 0, count: Self.controlSize)
            warm.append(stack)
        } else {
            // Everything from the lowest usable byte to the slot end, control block included.
            let low = stack.top - stack.size
            VirtualMemory.discard(low, stack.size + Self.controlSize)
            if let canary = stack.canary { canary.pointee = Self.canaryValue }
            discardedCount &+= 1
            cold.append(stack)
        }
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
        var fresh: [FiberStack] = []
        fresh.reserveCapacity(count)
        // Guard pages for the whole chunk in batched calls where the kernel allows.
        var guardedInBatch = false
        if guardSize > 0 && lightweightGuards {
            guardedInBatch = spindle_guard_install_strided(base, slotSize, guardSize, count) == 0
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
            canary?.pointee = Self.canaryValue
            let control = slotBase + slotSize - Self.controlSize
            fresh.append(FiberStack(top: control, size: usable, control: control,
                                    slot: mappedCount + i, canary: canary, owner: ids + i))
        }
        let registration = spindle_overflow_register(base, slotSize, guardSize, configuration.stackSize, count, ids)
        chunks.append(Chunk(base: base, count: count, firstSlot: mappedCount, bytes: bytes,
                            fiberIDs: ids, registration: registration))
        mappedCount += count
        // Hand out lower addresses first (LIFO pops from the end).
        warm.append(contentsOf: fresh.reversed())
    }
}
