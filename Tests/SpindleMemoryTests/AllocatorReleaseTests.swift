// Allocator.givingBack / prepareForRelease / releaseFreeMemory against the real allocator: memory freed
// after a spike, in segments that still hold a live block each, goes back to the kernel.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleMemory
import XCTest

final class AllocatorReleaseTests: XCTestCase {
    /// The periodic trim's window (`Allocator.givingBack`) with mimalloc's default delay: 2,048
    /// blocks of 64 KiB + 64 B touched; every 64th stays live (a segment that still holds
    /// blocks, as pools and long-lived objects keep after a spike), every 64th at offset 32 is
    /// freed inside the window (what a trim drops), all the others before it, under the 25 ms
    /// delay, which only marks their spans. Each block freed inside the window empties a page
    /// whose span coalesces with the marked free spans on both sides; at least three quarters of
    /// all the freed bytes must leave the resident set (with a plain `mi_collect`, none did).
    /// Named to run before the test below, whose `prepareForRelease` sets the delay to 0 for
    /// the rest of the process. A ratio within this test: no timing.
    func testBlocksFreedUnderTheDelayLeaveTheResidentSetWhenATrimGivesBack() throws {
        let delay = try requireMimallocWithItsDelay()
        let count = 2048, size = 65536 + 64, keepEvery = 64
        let blocks = touchedBlocks(count, size)
        let peak = ProcessMemory.current().residentBytes
        var freed = 0
        for (i, block) in blocks.enumerated() where i % keepEvery != 0 && i % keepEvery != keepEvery / 2 {
            free(block)
            freed += size
        }
        let droppedInWindow = Allocator.givingBack {
            var dropped = 0
            for (i, block) in blocks.enumerated() where i % keepEvery == keepEvery / 2 {
                free(block)
                dropped += 1
            }
            return dropped
        }
        freed += droppedInWindow * size
        let after = ProcessMemory.current().residentBytes
        XCTAssertEqual(Allocator.mimallocDecommitDelay, delay, "the window restores the delay")
        for (i, block) in blocks.enumerated() where i % keepEvery == 0 { free(block) }
        XCTAssertEqual(droppedInWindow, count / keepEvery)
        XCTAssertGreaterThanOrEqual(peak - after, freed * 3 / 4,
                                    "resident \(formatBytes(peak)) before the frees, \(formatBytes(after)) after freeing "
                                        + "\(formatBytes(freed)), the last \(droppedInWindow) blocks inside the window")
    }

    /// The sweep of the trim's window: the same 2,048 blocks, every 64th kept live, all the
    /// others freed before the window under mimalloc's default delay (their spans only marked);
    /// the window drops one small unrelated block, so no span next to the marked ones is freed
    /// inside it. Only the sweep (large blocks taken from the free spans, which makes mimalloc
    /// act on each visited segment's marks) can return them: at least three quarters of the
    /// freed bytes must leave the resident set. Runs before `prepareForRelease` (see above).
    func testBlocksFreedBeforeATrimThatDropsNothingNearThemLeaveTheResidentSet() throws {
        _ = try requireMimallocWithItsDelay()
        let count = 2048, size = 65536 + 64, keepEvery = 64
        let unrelated = malloc(48)!
        let blocks = touchedBlocks(count, size)
        let peak = ProcessMemory.current().residentBytes
        var freed = 0
        for (i, block) in blocks.enumerated() where i % keepEvery != 0 {
            free(block)
            freed += size
        }
        let dropped = Allocator.givingBack {
            free(unrelated)
            return 1
        }
        let after = ProcessMemory.current().residentBytes
        for (i, block) in blocks.enumerated() where i % keepEvery == 0 { free(block) }
        XCTAssertEqual(dropped, 1)
        XCTAssertGreaterThanOrEqual(peak - after, freed * 3 / 4,
                                    "resident \(formatBytes(peak)) before the frees, \(formatBytes(after)) after freeing "
                                        + "\(formatBytes(freed)) before the window")
    }

    /// Skips unless mimalloc serves malloc with a decommit delay other than 0 (not under ASan,
    /// not after `prepareForRelease`); returns the delay.
    private func requireMimallocWithItsDelay() throws -> Int {
        try XCTSkipIf(addressSanitizerIsActive, "under AddressSanitizer, ASan's allocator serves malloc")
        try XCTSkipUnless(Allocator.kind == .mimalloc, "the decommit delay is mimalloc's; allocator: \(Allocator.kind)")
        let delay = Allocator.mimallocDecommitDelay ?? 0
        try XCTSkipIf(delay == 0, "mimalloc's decommit delay is already 0 in this process (environment or prepareForRelease)")
        return delay
    }

    /// `count` blocks of `size` bytes from malloc, every byte written (resident).
    private func touchedBlocks(_ count: Int, _ size: Int) -> [UnsafeMutableRawPointer] {
        let blocks = (0..<count).map { _ in malloc(size)! }
        for block in blocks { memset(block, 1, size) }
        return blocks
    }

    /// A spike in miniature: 2,048 blocks of 64 KiB + 64 B (the size of the benchmark's request
    /// bodies, a medium block for mimalloc) touched, then all but every 64th freed, so every
    /// mimalloc segment keeps a live block and none goes back whole. With the default 25 ms
    /// decommit delay such spans stay resident on a quiet process, `mi_collect` or not (with
    /// prepareForRelease left out, none of the 126 MiB freed here left the resident set); after
    /// prepareForRelease, at least three quarters of the freed bytes must. A ratio within this
    /// test: no timing. The live blocks are freed at the end.
    func testFreedSpansLeaveTheResidentSetOnceReleaseIsPrepared() throws {
        try XCTSkipIf(addressSanitizerIsActive, "under AddressSanitizer, ASan's allocator serves malloc")
        try XCTSkipUnless(Allocator.kind == .mimalloc, "the decommit delay is mimalloc's; allocator: \(Allocator.kind)")
        try XCTSkipIf(getenv("MIMALLOC_DECOMMIT_DELAY") != nil || getenv("MIMALLOC_PURGE_DELAY") != nil,
                      "the environment sets mimalloc's decommit delay, which prepareForRelease keeps")
        Allocator.prepareForRelease()
        XCTAssertEqual(Allocator.mimallocDecommitDelay, 0)

        let count = 2048, size = 65536 + 64, keepEvery = 64
        let blocks = (0..<count).map { _ in malloc(size)! }
        for block in blocks { memset(block, 1, size) }
        let peak = ProcessMemory.current().residentBytes
        var freed = 0
        for (i, block) in blocks.enumerated() where i % keepEvery != 0 {
            free(block)
            freed += size
        }
        Allocator.releaseFreeMemory()
        let after = ProcessMemory.current().residentBytes
        for (i, block) in blocks.enumerated() where i % keepEvery == 0 { free(block) }
        XCTAssertGreaterThanOrEqual(peak - after, freed * 3 / 4,
                                    "resident \(formatBytes(peak)) before the frees, \(formatBytes(after)) after freeing "
                                        + "\(formatBytes(freed)) and releasing")
    }

    /// releaseFreeMemory may run on any thread at any time without breaking later allocation.
    func testReleaseFreeMemoryLeavesTheHeapUsable() {
        Allocator.releaseFreeMemory()
        let p = malloc(1 << 20)!
        memset(p, 7, 1 << 20)
        free(p)
        Allocator.releaseFreeMemory()
        XCTAssertNotNil(malloc(16).map { free($0) })
    }
}
