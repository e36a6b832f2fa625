import SpindleMemory
import XCTest

final class RequestArenaTests: XCTestCase {
    func testBumpAllocationIsContiguousAndAligned() {
        let arena = RequestArena(configuration: .init(blockSize: 4096))
        let a = arena.allocate(byteCount: 10, alignment: 1)
        let b = arena.allocate(byteCount: 8, alignment: 8)
        XCTAssertEqual(Int(bitPattern: b) % 8, 0)
        XCTAssertEqual(b - a, 16, "10 bytes then 8-byte alignment puts b at offset 16")
        XCTAssertEqual(arena.bytesInUse, 24)
    }

    func testResetReusesTheSameMemory() {
        let arena = RequestArena(configuration: .init(blockSize: 4096))
        let first = arena.allocate(byteCount: 100)
        arena.reset()
        let again = arena.allocate(byteCount: 100)
        XCTAssertEqual(first, again, "after reset the next request starts at the same address")
        XCTAssertEqual(arena.statistics.resets, 1)
        XCTAssertEqual(arena.bytesInUse, 100)
    }

    func testOverflowChainsBlocksAndIsCounted() {
        let arena = RequestArena(configuration: .init(blockSize: 1024, retainedBlocks: 1))
        var pointers: [UnsafeMutableRawPointer] = []
        for _ in 0..<10 { pointers.append(arena.allocate(byteCount: 200, alignment: 8)) }  // 5 per block: 1 overflow
        XCTAssertEqual(arena.statistics.overflows, 1)
        XCTAssertEqual(Set(pointers).count, 10)
        for (i, p) in pointers.enumerated() { p.storeBytes(of: UInt64(i), as: UInt64.self) }
        for (i, p) in pointers.enumerated() { XCTAssertEqual(p.load(as: UInt64.self), UInt64(i), "blocks must not overlap") }
        XCTAssertEqual(arena.bytesInUse, 2000)
        arena.reset()
        XCTAssertEqual(arena.statistics.peakBytes, 2000)
        XCTAssertEqual(arena.bytesInUse, 0)
        _ = arena.allocate(byteCount: 900)  // fits the first block: the fast path takes it
        XCTAssertEqual(arena.statistics.largeAllocations, 0)
        _ = arena.allocate(byteCount: 600)  // does not fit, and is over a quarter block: malloc
        XCTAssertEqual(arena.statistics.largeAllocations, 1)
        _ = arena.allocate(byteCount: 250)  // does not fit, small: chains the next block
        XCTAssertEqual(arena.statistics.overflows, 2)
    }

    func testLargeAllocationsBypassBlocksAndAreCounted() {
        let arena = RequestArena(configuration: .init(blockSize: 1024))
        let big = arena.allocate(byteCount: 64 << 10)
        big.initializeMemory(as: UInt8.self, repeating: 7, count: 64 << 10)
        XCTAssertEqual(arena.statistics.largeAllocations, 1)
        XCTAssertEqual(arena.statistics.overflows, 0)
        arena.reset()
        XCTAssertEqual(arena.statistics.resets, 1)
    }

    /// `reset` returns early when the request handed nothing out; every other case still takes
    /// the whole path: a large allocation (the cursor never moved), a chained block, pooling off.
    func testResetOfAnUntouchedRequestStillEndsItAndKeepsEveryRule() {
        let arena = RequestArena(configuration: .init(blockSize: 1024, retainedBlocks: 0, pooling: true))
        arena.reset()  // never used: no block yet
        XCTAssertEqual(arena.statistics.resets, 1)
        let first = arena.allocate(byteCount: 100)
        arena.reset()
        arena.reset()  // untouched since
        XCTAssertEqual(arena.statistics.resets, 3)
        XCTAssertEqual(arena.statistics.peakBytes, 100)
        XCTAssertEqual(arena.allocate(byteCount: 8), first, "the first block, from its start")
        arena.reset()

        let empty = arena.copy(UnsafeRawBufferPointer(start: nil, count: 0))  // moves no cursor
        XCTAssertTrue(empty.isValid)
        let generation = arena.generation
        arena.reset()
        XCTAssertEqual(arena.generation, generation &+ 1)
        XCTAssertFalse(empty.isValid, "an untouched request's reset still ends its handles")

        _ = arena.allocate(byteCount: 2000)  // larger than the block: malloc, the cursor stays
        XCTAssertEqual(arena.usage.largeAllocations, 1)
        arena.reset()
        XCTAssertEqual(arena.usage.largeAllocations, 0, "the large allocation was freed")

        for _ in 0..<6 { _ = arena.allocate(byteCount: 200) }  // 5 per block: chains a second
        XCTAssertEqual(arena.usage.overflowBlocks, 1)
        arena.reset()
        XCTAssertEqual(arena.usage.bytes, 0)
        XCTAssertEqual(arena.usage.overflowBlocks, 0)
        XCTAssertEqual(arena.statistics.peakBytes, 1200)
        XCTAssertEqual(arena.allocate(byteCount: 8), first, "rewound to the first block")

        let unpooled = RequestArena(configuration: .init(blockSize: 1024, pooling: false))
        _ = unpooled.allocate(byteCount: 10)
        XCTAssertEqual(unpooled.usage.bytes, 10)
        unpooled.reset()
        XCTAssertEqual(unpooled.usage.bytes, 0)
        unpooled.reset()
        XCTAssertEqual(unpooled.statistics.resets, 2)
        XCTAssertEqual(unpooled.statistics.peakBytes, 10)
    }

    func testBytesDoNotOutliveTheirRequest() {
        let arena = RequestArena()
        let message = Array("hello".utf8)
        let copy = message.withUnsafeBytes { arena.copy($0) }
        XCTAssertTrue(copy.isValid)
        XCTAssertEqual(copy.withUnsafeBytes { Array($0) }, message)
        let raw = copy.withUnsafeBytes { UnsafeRawPointer($0.baseAddress!) }
        arena.reset()
        XCTAssertFalse(copy.isValid, "an arena reset ends every handle of the request")
        #if DEBUG
        XCTAssertEqual(raw.load(as: UInt8.self), 0xDE, "debug builds poison released arena memory")
        #endif
    }
}

final class ObjectPoolTests: XCTestCase {
    final class Connection { var bytes = 0 }

    func testPreallocatedObjectsAreReusedLIFOAndPrepared() {
        var made = 0
        let pool = ObjectPool<Connection>(preallocate: 2, make: { made += 1; return Connection() },
                                          prepareForReuse: { $0.bytes = 0 })
        XCTAssertEqual(made, 2)
        let a = pool.take()!
        a.bytes = 42
        pool.giveBack(a)
        let b = pool.take()!
        XCTAssertTrue(a === b, "the most recently returned object is reused first")
        XCTAssertEqual(b.bytes, 0, "prepareForReuse ran")
        XCTAssertEqual(pool.misses, 0)
    }

    func testMissesMaximumAndRetention() {
        let pool = ObjectPool<Connection>(preallocate: 1, maximumCount: 3, retainedCount: 1, make: { Connection() })
        let objects = (0..<3).map { _ in pool.take()! }
        XCTAssertNil(pool.take(), "at maximumCount take() refuses")
        XCTAssertEqual(pool.misses, 2)
        XCTAssertEqual(pool.peakInUse, 3)
        objects.forEach(pool.giveBack)
        XCTAssertEqual(pool.available, 1, "only retainedCount free objects are kept")
        XCTAssertEqual(pool.inUse, 0)
    }
}
