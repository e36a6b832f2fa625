// Allocator.prepareForRelease / releaseFreeMemory against the real allocator: memory freed
// after a spike, in segments that still hold a live block each, goes back to the kernel.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleMemory
import XCTest

final class AllocatorReleaseTests: XCTestCase {
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
