// StackPool: LIFO reuse, growth in chunks up to the maximum, the warm watermark (pages given
// back to the kernel), guard modes, configuration rounding. Real mappings, real pages.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleMemory
import XCTest

final class StackPoolTests: XCTestCase {
    private let page = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Writes `marker` into the `pages` highest pages of `stack` (commits them).
    private func touch(_ stack: FiberStack, pages: Int, marker: UInt8) {
        for i in 1...pages {
            let p = (stack.top - i * page).assumingMemoryBound(to: UInt8.self)
            p.initialize(repeating: marker, count: 64)
        }
    }

    /// The byte `touch` wrote in page `i` (1-based from the top).
    private func byte(_ stack: FiberStack, page i: Int) -> UInt8 {
        (stack.top - i * page).load(as: UInt8.self)
    }

    func testStackGeometry() throws {
        let pool = try StackPool(configuration: .init(stackSize: 64 << 10, initialCount: 2, maximumCount: 8, warmCount: 8))
        let stack = try XCTUnwrap(pool.allocate())
        XCTAssertEqual(pool.configuration.stackSize, 64 << 10)
        XCTAssertEqual(stack.size, (64 << 10) - StackPool.controlSize)
        XCTAssertEqual(Int(bitPattern: stack.top) % 16, 0, "stack top must be 16-byte aligned")
        XCTAssertEqual(stack.control, stack.top, "the control block sits right above the stack")
        // The control block starts zeroed and the whole stack is writable, lowest byte included.
        let control = stack.control.assumingMemoryBound(to: UInt8.self)
        XCTAssertEqual((0..<StackPool.controlSize).map { control[$0] }, Array(repeating: 0, count: StackPool.controlSize))
        let lowest = (stack.top - stack.size).assumingMemoryBound(to: UInt8.self)
        lowest.pointee = 0xAB
        XCTAssertEqual(lowest.pointee, 0xAB)
        XCTAssertTrue(stack.isIntact)
        pool.release(stack)
    }

    func testAllocateReleaseIsLIFO() throws {
        let pool = try StackPool(configuration: .init(stackSize: 64 << 10, initialCount: 8, maximumCount: 64, warmCount: 64))
        XCTAssertEqual(pool.inUse, 0)
        let a = try XCTUnwrap(pool.allocate())
        let b = try XCTUnwrap(pool.allocate())
        let c = try XCTUnwrap(pool.allocate())
        XCTAssertEqual(Set([a.slot, b.slot, c.slot]).count, 3, "three distinct slots")
        XCTAssertEqual(Set([a.top, b.top, c.top]).count, 3, "three distinct stacks")
        XCTAssertEqual(pool.inUse, 3)
        XCTAssertEqual(pool.peakInUse, 3)

        pool.release(b)
        pool.release(a)
        XCTAssertEqual(pool.inUse, 1)
        // Last released, first reused.
        let first = try XCTUnwrap(pool.allocate())
        let second = try XCTUnwrap(pool.allocate())
        XCTAssertEqual(first.slot, a.slot)
        XCTAssertEqual(first.top, a.top)
        XCTAssertEqual(second.slot, b.slot)
        XCTAssertEqual(second.top, b.top)
        XCTAssertEqual(pool.inUse, 3)
        XCTAssertEqual(pool.peakInUse, 3)

        // Released and reallocated at once, the same stack comes back every time.
        for _ in 0..<100 {
            pool.release(c)
            let again = try XCTUnwrap(pool.allocate())
            XCTAssertEqual(again.slot, c.slot)
        }
        XCTAssertEqual(pool.mapped, 8, "reuse never maps more")
        XCTAssertEqual(pool.discardedCount, 0)
        for s in [first, second, c] { pool.release(s) }
        XCTAssertEqual(pool.inUse, 0)
        XCTAssertEqual(pool.warmFree, 8)
    }

    func testControlBlockIsZeroedForTheNextOwner() throws {
        let pool = try StackPool(configuration: .init(stackSize: 64 << 10, initialCount: 1, maximumCount: 4, warmCount: 4))
        let stack = try XCTUnwrap(pool.allocate())
        stack.control.initializeMemory(as: UInt8.self, repeating: 0x5A, count: StackPool.controlSize)
        pool.release(stack)
        let again = try XCTUnwrap(pool.allocate())
        XCTAssertEqual(again.slot, stack.slot)
        let control = again.control.assumingMemoryBound(to: UInt8.self)
        XCTAssertEqual((0..<StackPool.controlSize).map { control[$0] }, Array(repeating: 0, count: StackPool.controlSize))
        pool.release(again)
    }

    func testAllocateWithoutZeroingLeavesTheControlBlockAlone() throws {
        let pool = try StackPool(configuration: .init(stackSize: 64 << 10, initialCount: 1, maximumCount: 4, warmCount: 4))
        let stack = try XCTUnwrap(pool.allocate())
        stack.control.initializeMemory(as: UInt8.self, repeating: 0x5A, count: StackPool.controlSize)
        pool.release(stack)
        let again = try XCTUnwrap(pool.allocate(zeroingControl: false))
        XCTAssertEqual(again.slot, stack.slot)
        XCTAssertEqual(again.control.load(fromByteOffset: StackPool.controlSize - 1, as: UInt8.self), 0x5A,
                       "bytes past the pool's free-list node keep what the last owner wrote")
        pool.release(again)
    }

    func testGrowsInChunksUpToMaximumThenNil() throws {
        let maximum = 40
        let pool = try StackPool(configuration: .init(stackSize: 32 << 10, initialCount: 4, maximumCount: maximum, warmCount: 64))
        XCTAssertEqual(pool.mapped, 4, "initialCount stacks are mapped up front")
        XCTAssertEqual(pool.warmFree, 4)

        var stacks: [FiberStack] = []
        for _ in 0..<4 { stacks.append(try XCTUnwrap(pool.allocate())) }
        XCTAssertEqual(pool.mapped, 4, "no growth while free stacks remain")

        var mappedHistory = [pool.mapped]
        while let stack = pool.allocate() {
            stacks.append(stack)
            if pool.mapped != mappedHistory.last! { mappedHistory.append(pool.mapped) }
            XCTAssertLessThanOrEqual(pool.mapped, maximum)
            if stacks.count > 1_000 { break }
        }
        XCTAssertEqual(stacks.count, maximum, "exactly maximumCount stacks are handed out")
        XCTAssertEqual(pool.mapped, maximum)
        XCTAssertEqual(pool.inUse, maximum)
        XCTAssertEqual(pool.peakInUse, maximum)
        XCTAssertNil(pool.allocate(), "beyond maximumCount allocate() returns nil")
        XCTAssertEqual(pool.inUse, maximum, "a failed allocate() changes nothing")
        // Growth happens in chunks, not one stack per mapping: 4 → … → 40 in a few steps.
        XCTAssertGreaterThan(mappedHistory.count, 1)
        XCTAssertLessThanOrEqual(mappedHistory.count, 4, "grew in chunks: \(mappedHistory)")
        XCTAssertGreaterThan(mappedHistory[1] - mappedHistory[0], 1, "first growth maps a chunk: \(mappedHistory)")

        XCTAssertEqual(Set(stacks.map(\.slot)).count, maximum, "all slots distinct")
        XCTAssertEqual(Set(stacks.map(\.top)).count, maximum, "all stacks distinct")
        // Stacks must not overlap: sorted by top, each one lies wholly above the previous top.
        let sorted = stacks.sorted { $0.top < $1.top }
        for (lower, upper) in zip(sorted, sorted.dropFirst()) {
            XCTAssertLessThanOrEqual(lower.top + StackPool.controlSize, upper.top - upper.size)
        }
        // Every stack is usable memory.
        for (i, stack) in stacks.enumerated() { touch(stack, pages: 1, marker: UInt8(i)) }
        for (i, stack) in stacks.enumerated() { XCTAssertEqual(byte(stack, page: 1), UInt8(i)) }

        for stack in stacks { pool.release(stack) }
        XCTAssertEqual(pool.inUse, 0)
        XCTAssertNotNil(pool.allocate(), "released stacks can be allocated again")
    }

    func testWarmWatermarkDiscardsBeyondWarmCount() throws {
        let pool = try StackPool(configuration: .init(stackSize: 64 << 10, initialCount: 10, maximumCount: 10, warmCount: 4))
        var stacks: [FiberStack] = []
        for i in 0..<10 {
            let stack = try XCTUnwrap(pool.allocate())
            touch(stack, pages: 2, marker: UInt8(i + 1))
            stacks.append(stack)
        }
        XCTAssertEqual(pool.discardedCount, 0)
        for (i, stack) in stacks.enumerated() {
            pool.release(stack)
            XCTAssertEqual(pool.warmFree, min(i + 1, 4))
            XCTAssertEqual(pool.coldFree, max(0, i + 1 - 4))
            XCTAssertEqual(pool.discardedCount, max(0, i + 1 - 4), "released beyond warmCount → discarded")
        }
        XCTAssertEqual(pool.warmFree, 4)
        XCTAssertEqual(pool.coldFree, 6)
        XCTAssertEqual(pool.discardedCount, 6)

        // Warm stacks first (most recently released first), keeping their contents;
        // then cold ones, whose pages went back to the kernel and read as zeros.
        var again: [FiberStack] = []
        for _ in 0..<10 { again.append(try XCTUnwrap(pool.allocate())) }
        XCTAssertEqual(again.prefix(4).map(\.slot), [stacks[3], stacks[2], stacks[1], stacks[0]].map(\.slot))
        for (i, stack) in again.prefix(4).enumerated() {
            XCTAssertEqual(byte(stack, page: 2), UInt8(4 - i), "warm stack keeps its pages")
        }
        XCTAssertEqual(Set(again.suffix(6).map(\.slot)), Set(stacks.suffix(6).map(\.slot)))
        for stack in again.suffix(6) {
            XCTAssertEqual(byte(stack, page: 1), 0, "discarded stack reads zeros")
            XCTAssertEqual(byte(stack, page: 2), 0, "discarded stack reads zeros")
            XCTAssertTrue(stack.isIntact)
        }
        XCTAssertEqual(pool.warmFree, 0)
        XCTAssertEqual(pool.coldFree, 0)
        XCTAssertNil(pool.allocate())
        for stack in again { pool.release(stack) }
        XCTAssertEqual(pool.discardedCount, 12)
    }

    func testResidentMemoryDropsWhenStacksAreDiscarded() throws {
        let count = 256
        let pagesPerStack = 32  // 128 KiB touched per stack, 32 MiB in all
        let touchedBytes = count * pagesPerStack * page
        let pool = try StackPool(configuration: .init(stackSize: 256 << 10, initialCount: count, maximumCount: count, warmCount: 0))
        var stacks: [FiberStack] = []
        stacks.reserveCapacity(count)
        for _ in 0..<count { stacks.append(try XCTUnwrap(pool.allocate())) }

        let before = ProcessMemory.current()
        for (i, stack) in stacks.enumerated() { touch(stack, pages: pagesPerStack, marker: UInt8(truncatingIfNeeded: i | 1)) }
        let touched = ProcessMemory.current()
        for stack in stacks { pool.release(stack) }
        let released = ProcessMemory.current()

        let grew = touched.residentBytes - before.residentBytes
        let dropped = touched.residentBytes - released.residentBytes
        print("StackPool RSS: touched \(formatBytes(touchedBytes)) → RSS +\(formatBytes(grew)); after release −\(formatBytes(dropped)) (discarded \(pool.discardedCount))")
        XCTAssertGreaterThanOrEqual(grew, touchedBytes * 9 / 10, "touching the stacks commits their pages")
        XCTAssertGreaterThanOrEqual(dropped, touchedBytes * 9 / 10, "discarded stacks give their pages back")
        XCTAssertEqual(pool.discardedCount, count)
        XCTAssertEqual(pool.coldFree, count)
    }

    func testResidentMemoryStaysWhenStacksStayWarm() throws {
        let count = 256
        let pagesPerStack = 32
        let touchedBytes = count * pagesPerStack * page
        let pool = try StackPool(configuration: .init(stackSize: 256 << 10, initialCount: count, maximumCount: count, warmCount: count))
        var stacks: [FiberStack] = []
        for _ in 0..<count { stacks.append(try XCTUnwrap(pool.allocate())) }
        for stack in stacks { touch(stack, pages: pagesPerStack, marker: 7) }
        let touched = ProcessMemory.current()
        for stack in stacks { pool.release(stack) }
        let released = ProcessMemory.current()
        let dropped = touched.residentBytes - released.residentBytes
        XCTAssertEqual(pool.discardedCount, 0)
        XCTAssertEqual(pool.warmFree, count)
        XCTAssertLessThan(dropped, touchedBytes / 4, "warm stacks keep their pages (dropped \(formatBytes(dropped)))")
        // And the contents are still there.
        let stack = try XCTUnwrap(pool.allocate())
        XCTAssertEqual(byte(stack, page: pagesPerStack), 7)
        pool.release(stack)
    }

    /// After a spike, the warm stacks nobody took between two trims have their pages returned
    /// to the kernel, down to the floor, the most recently used kept; a trim after a window in
    /// which they were all taken again discards nothing.
    func testTrimWarmReturnsThePagesOfStacksUnusedSinceTheLastTrim() throws {
        let count = 200
        let pagesPerStack = 16  // 64 KiB touched per stack, 12.5 MiB in all
        let pool = try StackPool(configuration: .init(stackSize: 128 << 10, initialCount: count, maximumCount: count, warmCount: 1024))
        var stacks = (0..<count).map { _ in pool.allocate()! }
        for stack in stacks { touch(stack, pages: pagesPerStack, marker: 3) }
        for stack in stacks { pool.release(stack) }
        XCTAssertEqual(pool.warmFree, count)
        XCTAssertEqual(pool.trimWarm(keepingAtLeast: 8), 0, "this window took every stack: none is surplus yet")
        // A steady load that needs 20 stacks at a time: 20 taken and given back.
        stacks = (0..<20).map { _ in pool.allocate()! }
        for stack in stacks { pool.release(stack) }
        let before = ProcessMemory.current().residentBytes
        XCTAssertEqual(pool.trimWarm(keepingAtLeast: 8), count - 20, "the stacks this window did not need")
        let after = ProcessMemory.current().residentBytes
        XCTAssertEqual(pool.warmFree, 20)
        XCTAssertEqual(pool.coldFree, count - 20)
        XCTAssertGreaterThan(before - after, (count - 20) * pagesPerStack * page / 2,
                             "pages returned: \(before) -> \(after) bytes resident")
        // The ones kept are the most recently used: still warm, contents intact.
        let again = try XCTUnwrap(pool.allocate())
        XCTAssertTrue(stacks.contains { $0.slot == again.slot })
        XCTAssertEqual(byte(again, page: 1), 3)
        pool.release(again)
        // A window whose demand took every warm stack again: nothing goes.
        stacks = (0..<20).map { _ in pool.allocate()! }
        for stack in stacks { pool.release(stack) }
        XCTAssertEqual(pool.trimWarm(keepingAtLeast: 8), 0)
        // An idle window: down to the floor.
        XCTAssertEqual(pool.trimWarm(keepingAtLeast: 8), 12)
        XCTAssertEqual(pool.warmFree, 8)
    }

    func testGuardModeIsLightweightGuardOnThisKernel() throws {
        // MADV_GUARD_INSTALL exists since Linux 6.13; this machine kind runs 6.18, so nothing may
        // fall back silently here.
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let pool = try StackPool(configuration: .init(initialCount: 16))
        XCTAssertEqual(pool.guardMode, .lightweightGuard, "kernel \(release): MADV_GUARD_INSTALL guard pages expected")
        XCTAssertEqual(pool.guardMode.rawValue, "MADV_GUARD_INSTALL")
        let stack = try XCTUnwrap(pool.allocate())
        XCTAssertTrue(stack.hasGuardPage)
        XCTAssertTrue(stack.isIntact)
        pool.release(stack)
    }

    /// The first page of the slot of `stack`, slots `stride` bytes apart: its guard's lowest page.
    /// (The stack's top, control block included, lies in the slot's last page.)
    private func guardPage(of stack: FiberStack, stride: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(bitPattern: (UInt(bitPattern: stack.top) & ~UInt(page - 1)) + UInt(page) - UInt(stride))!
    }

    /// Whether the kernel's page map marks the page at `address` as a guard region
    /// (`/proc/self/pagemap` bit 58, Linux 6.15+).
    private func isGuardPage(_ address: UnsafeRawPointer) throws -> Bool {
        let fd = open("/proc/self/pagemap", O_RDONLY)
        guard fd >= 0 else { throw XCTSkip("no /proc/self/pagemap") }
        defer { close(fd) }
        var entry: UInt64 = 0
        let offset = off_t(UInt(bitPattern: address) / UInt(page) * 8)
        XCTAssertEqual(pread(fd, &entry, 8, offset), 8)
        return entry >> 58 & 1 == 1
    }

    /// Whether the page at `address` is resident (`mincore`).
    private func isResident(_ address: UnsafeRawPointer) -> Bool {
        let pageStart = UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: address) & ~UInt(page - 1))!
        var vector: UInt8 = 0
        XCTAssertEqual(mincore(pageStart, page, &vector), 0)
        return vector & 1 == 1
    }

    /// Lightweight guards go in a window (1,024 stacks) at a time as stacks are first handed
    /// out, not for the whole chunk when it is mapped: every stack handed out has its guard,
    /// across windows, and a stack beyond the windows handed out so far has none yet.
    func testLightweightGuardsAreInstalledAWindowAtATimeBeforeUse() throws {
        let count = 4_000
        let pool = try StackPool(configuration: .init(stackSize: 64 << 10, initialCount: count, maximumCount: count, warmCount: count))
        XCTAssertEqual(pool.guardMode, .lightweightGuard)
        let stride = StackPool.slotSize(for: pool.configuration)
        var stacks = [try XCTUnwrap(pool.allocate(zeroingControl: false))]
        let firstGuard = guardPage(of: stacks[0], stride: stride)
        func guardOfSlot(_ slot: Int) -> UnsafeRawPointer { firstGuard + (slot - stacks[0].slot) * stride }
        XCTAssertTrue(try isGuardPage(firstGuard), "the first stack handed out is guarded")
        XCTAssertFalse(try isGuardPage(guardOfSlot(stacks[0].slot + 1500)), "a stack of the next window is not yet")
        while stacks.count < 2_500 { stacks.append(try XCTUnwrap(pool.allocate(zeroingControl: false))) }
        for stack in stacks {
            XCTAssertEqual(guardPage(of: stack, stride: stride), guardOfSlot(stack.slot), "fresh stacks are consecutive slots")
            XCTAssertTrue(try isGuardPage(guardPage(of: stack, stride: stride)), "slot \(stack.slot) handed out without its guard")
        }
        XCTAssertTrue(try isGuardPage(guardOfSlot(stacks[0].slot + 3_000)), "the third window (2,048–3,071) is guarded")
        XCTAssertFalse(try isGuardPage(guardOfSlot(stacks[0].slot + 3_500)), "the fourth is not, until it is needed")
        while let stack = pool.allocate(zeroingControl: false) { stacks.append(stack) }
        XCTAssertEqual(stacks.count, count)
        for stack in stacks.suffix(from: 2_500) { XCTAssertTrue(try isGuardPage(guardPage(of: stack, stride: stride)), "slot \(stack.slot)") }
        for stack in stacks { pool.release(stack) }
    }

    /// A burst of never-used stacks handed out has their top pages committed ahead in batched
    /// calls (no fault each), at most 64 beyond the last one handed out; a lone first spawn
    /// commits nothing ahead of itself; a trim period without a fresh stack taken gives the
    /// pages ahead back.
    func testABurstOfFreshStacksCommitsTheirTopPagesAhead() throws {
        let pool = try StackPool(configuration: .init(stackSize: 64 << 10, initialCount: 1_000, maximumCount: 1_000, warmCount: 1_000))
        let stride = StackPool.slotSize(for: pool.configuration)
        let first = try XCTUnwrap(pool.allocate(zeroingControl: false))
        let firstTopPage = UnsafeRawPointer(bitPattern: UInt(bitPattern: first.top) & ~UInt(page - 1))!
        XCTAssertFalse((1...64).contains { isResident(firstTopPage + $0 * stride) }, "one spawn commits nothing ahead")
        var stacks = [first]
        for _ in 1..<300 { stacks.append(try XCTUnwrap(pool.allocate(zeroingControl: false))) }
        // The test wrote nothing into them: a resident top page is one the pool committed.
        let committed = stacks.filter { isResident(UnsafeRawPointer($0.top)) }.count
        XCTAssertGreaterThanOrEqual(committed, 290, "the burst's top pages were committed ahead (\(committed) of 300)")
        let lastTopPage = UnsafeRawPointer(bitPattern: UInt(bitPattern: stacks[299].top) & ~UInt(page - 1))!
        let ahead = (1...200).filter { isResident(lastTopPage + $0 * stride) }.count
        XCTAssertGreaterThan(ahead, 0, "the burst goes on: the next stacks' pages are ready")
        XCTAssertLessThan(ahead, 64, "at most 63 committed beyond the last stack handed out")
        // Once a trim period passes without a fresh stack taken, the pages ahead go back.
        pool.trimWarm(keepingAtLeast: 1_000)
        XCTAssertEqual((1...200).filter { isResident(lastTopPage + $0 * stride) }.count, ahead, "the burst was in this period")
        pool.trimWarm(keepingAtLeast: 1_000)
        XCTAssertEqual((1...200).filter { isResident(lastTopPage + $0 * stride) }.count, 0, "an idle period: given back")
        // A burst after that starts over, from its own page.
        let next = try XCTUnwrap(pool.allocate(zeroingControl: false))
        XCTAssertEqual(UnsafeRawPointer(bitPattern: UInt(bitPattern: next.top) & ~UInt(page - 1)), lastTopPage + stride)
        XCTAssertFalse((1...64).contains { isResident(UnsafeRawPointer(next.top) + $0 * stride) }, "nothing ahead of a lone spawn")
        stacks.append(next)
        for stack in stacks { pool.release(stack) }
    }

    /// The mappings are the whole process's (the allocator maps regions of its own, ASan's
    /// more), so the pool is made up to five times and the first clean reading is checked.
    func testLightweightGuardsCostNoMappingPerStack() throws {
        func makePool() throws -> (pool: StackPool, before: Int, after: Int) {
            let before = ProcessMemory.current().mappings
            let pool = try StackPool(configuration: .init(stackSize: 64 << 10, initialCount: 4_000, maximumCount: 4_000))
            return (pool, before, ProcessMemory.current().mappings)
        }
        var (pool, before, after) = try makePool()
        for _ in 1..<5 where after - before >= 10 { (pool, before, after) = try makePool() }
        XCTAssertEqual(pool.mapped, 4_000)
        XCTAssertEqual(pool.guardMode, .lightweightGuard)
        // mprotect guards would add ~2 VMAs per stack (8,000); MADV_GUARD_INSTALL adds none.
        XCTAssertLessThan(after - before, 10, "mappings went from \(before) to \(after)")
    }

    /// The path of kernels without `MADV_GUARD_INSTALL`, forced: `mprotect` guards (two more
    /// mappings each) for the first `protectedGuardBudget` stacks, then canaries, each stack
    /// intact until its canary is overwritten. The mappings are the whole process's, which other
    /// threads of the test process map and unmap too, so the pool is made up to five times and
    /// the first clean reading is checked.
    func testOlderKernelPathProtectsWithinTheBudgetThenUsesCanaries() throws {
        func makePool() throws -> (pool: StackPool, before: Int, after: Int) {
            let before = ProcessMemory.current().mappings
            let pool = try StackPool(configuration: .init(stackSize: 64 << 10, initialCount: 10, maximumCount: 10, warmCount: 0,
                                                          protectedGuardBudget: 4, lightweightGuards: false))
            return (pool, before, ProcessMemory.current().mappings)
        }
        var (pool, before, after) = try makePool()
        for _ in 1..<5 where !(2 * 4..<2 * 10).contains(after - before) { (pool, before, after) = try makePool() }
        XCTAssertEqual(pool.guardMode, .canary, "beyond the budget, new stacks get canaries")
        XCTAssertGreaterThanOrEqual(after - before, 2 * 4, "4 mprotect guards split the chunk's mapping (\(before) -> \(after))")
        XCTAssertLessThan(after - before, 2 * 10, "only the budget's stacks are protected (\(before) -> \(after))")
        var stacks: [FiberStack] = []
        while let stack = pool.allocate() { stacks.append(stack) }
        XCTAssertEqual(stacks.count, 10)
        let guarded = stacks.filter(\.hasGuardPage)
        let canaried = stacks.filter { $0.canaryWord != nil }
        XCTAssertEqual(guarded.count, 4)
        XCTAssertEqual(canaried.count, 6)
        for stack in stacks { XCTAssertTrue(stack.isIntact, "slot \(stack.slot)") }
        let victim = try XCTUnwrap(canaried.first)
        victim.canaryWord!.pointee = 0  // what an overflowing fiber would do
        XCTAssertFalse(victim.isIntact)
        for stack in stacks { pool.release(stack) }
    }

    /// With a budget large enough, every stack gets an `mprotect` guard: the mode says so.
    func testOlderKernelPathWithinTheBudgetUsesProtectedGuards() throws {
        let pool = try StackPool(configuration: .init(stackSize: 64 << 10, initialCount: 8, maximumCount: 8,
                                                      protectedGuardBudget: 100, lightweightGuards: false))
        XCTAssertEqual(pool.guardMode, .protectedGuard)
        XCTAssertEqual(pool.guardMode.rawValue, "mprotect")
        let stack = try XCTUnwrap(pool.allocate())
        XCTAssertTrue(stack.hasGuardPage)
        XCTAssertNil(stack.canaryWord)
        pool.release(stack)
    }

    func testZeroGuardSizeUsesCanary() throws {
        let pool = try StackPool(configuration: .init(stackSize: 64 << 10, guardSize: 0, initialCount: 1, maximumCount: 1, warmCount: 0))
        XCTAssertEqual(pool.guardMode, .canary)
        let stack = try XCTUnwrap(pool.allocate())
        XCTAssertFalse(stack.hasGuardPage)
        XCTAssertTrue(stack.isIntact)
        let lowest = (stack.top - stack.size).assumingMemoryBound(to: UInt64.self)
        XCTAssertEqual(lowest.pointee, StackPool.canaryValue, "the lowest usable word holds the canary")
        lowest.pointee = 0  // what an overflowing fiber would do
        XCTAssertFalse(stack.isIntact)
        // Discarding the stack (warmCount 0) rewrites the canary for the next owner.
        pool.release(stack)
        let again = try XCTUnwrap(pool.allocate())
        XCTAssertEqual(again.slot, stack.slot)
        XCTAssertTrue(again.isIntact)
        pool.release(again)
    }

    func testConfigurationSizesAreRoundedToPages() throws {
        let pool = try StackPool(configuration: .init(stackSize: 100_000, guardSize: 1, initialCount: 1, maximumCount: 1))
        XCTAssertEqual(pool.configuration.stackSize, 102_400)  // 25 pages of 4 KiB
        XCTAssertEqual(pool.configuration.guardSize, page)
        XCTAssertEqual(pool.configuration.initialCount, 1)
        let stack = try XCTUnwrap(pool.allocate())
        XCTAssertEqual(stack.size, 102_400 - StackPool.controlSize)
        pool.release(stack)
    }

    func testDefaultConfiguration() {
        let c = StackPool.Configuration()
        XCTAssertEqual(c.stackSize, 256 << 10)
        XCTAssertEqual(c.guardSize, 16 << 10)
        XCTAssertEqual(c.initialCount, 64)
        XCTAssertEqual(c.maximumCount, 1 << 21)
        XCTAssertEqual(c.warmCount, 1024)
        XCTAssertEqual(c.protectedGuardBudget, 65530 / 8, "vm.max_map_count is 65530 on this machine kind")
    }

    func testMappingTheKernelRefusesThrowsSystemCallError() {
        // 2^18 stacks of 1 GiB: 256 TiB, more than the 128 TiB of user address space.
        let huge = StackPool.Configuration(stackSize: 1 << 30, initialCount: 1 << 18, maximumCount: 1 << 18)
        do {
            _ = try StackPool(configuration: huge)
            XCTFail("mapping 256 TiB must fail")
        } catch {
            XCTAssertEqual(error, SystemCallError("mmap", errno: ENOMEM))
            XCTAssertEqual(error.description, "mmap failed: ENOMEM (Cannot allocate memory)")
        }
    }

    // MARK: - High-water

    /// The high-water is the depth of the lowest word written: 0 on a fresh stack, each depth in
    /// the table once written there (never lower afterwards), and 0 again once the pool gave the
    /// pages back to the kernel.
    func testHighWaterIsTheDeepestWordWritten() throws {
        let pool = try StackPool(configuration: .init(stackSize: 64 << 10, initialCount: 1, maximumCount: 4, warmCount: 0))
        let stack = try XCTUnwrap(pool.allocate())
        XCTAssertEqual(pool.highWaterBytes(of: stack), 0, "a fresh stack reads as zeros")
        // (depth written, in bytes below the top; expected high-water afterwards)
        let cases: [(depth: Int, expected: Int)] = [
            (64, 64), (5000, 5000), (100, 5000), (stack.size - 8, stack.size - 8), (8, stack.size - 8),
        ]
        for (index, item) in cases.enumerated() {
            (stack.top - item.depth).storeBytes(of: 0xFEED as UInt64, as: UInt64.self)
            XCTAssertEqual(pool.highWaterBytes(of: stack), item.expected, "case \(index): wrote at \(item.depth)")
        }
        pool.release(stack)  // warmCount 0: its pages go back to the kernel
        let again = try XCTUnwrap(pool.allocate())
        XCTAssertEqual(again.top, stack.top, "the same stack, reused")
        XCTAssertEqual(pool.highWaterBytes(of: again), 0, "returned pages read as zeros again")
        pool.release(again)
    }

    /// `releasePages(of:below:)` gives back the pages wholly below a stack pointer: what was
    /// written there reads as zero again (the high-water falls to the deepest word at or above
    /// the pointer's page), the page holding the pointer is kept, a canary is rewritten, and a
    /// pointer outside the stack releases nothing.
    func testReleasingPagesBelowAStackPointerKeepsItsPageAndTheCanary() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pool = try StackPool(configuration: .init(stackSize: 64 << 10, guardSize: 0, initialCount: 1, maximumCount: 1, warmCount: 1))
        let stack = try XCTUnwrap(pool.allocate())
        XCTAssertNotNil(stack.canaryWord, "no guard: a canary")
        (stack.top - 40_000).storeBytes(of: 0xFEED as UInt64, as: UInt64.self)
        (stack.top - 1_000).storeBytes(of: 0xBEEF as UInt64, as: UInt64.self)
        XCTAssertEqual(pool.highWaterBytes(of: stack), 40_000)
        let stackPointer = UnsafeRawPointer(stack.top - 1_500)
        let pointerPage = UInt(bitPattern: stackPointer) & ~UInt(page - 1)
        let low = UInt(bitPattern: stack.top - stack.size) & ~UInt(page - 1)
        XCTAssertEqual(pool.releasePages(of: stack, below: stackPointer), Int(pointerPage - low))
        XCTAssertEqual(pool.highWaterBytes(of: stack), 1_000, "the deep word is gone, the shallow one kept")
        XCTAssertEqual((stack.top - 1_000).load(as: UInt64.self), 0xBEEF)
        XCTAssertTrue(stack.isIntact, "the canary was rewritten")
        XCTAssertEqual(pool.releasePages(of: stack, below: UnsafeRawPointer(stack.top + 64)), 0, "not this stack's pointer")
        XCTAssertEqual(pool.releasePages(of: stack, below: UnsafeRawPointer(stack.top - stack.size)), 0, "nothing below the lowest page")
        pool.release(stack)
    }
}
