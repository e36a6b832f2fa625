// The process-wide pools switch (`SPINDLE_POOLS`, `MemoryOptions.pooling`): ObjectPool and
// RequestArena behave correctly both pooled (recycling) and unpooled (plain heap allocation).
// The switch is read once per process, so both modes are exercised through the explicit
// `pooling:` arguments the environment default feeds; `make -C bench alloc` runs the server
// with SPINDLE_POOLS=off and shows the extra allocations per request.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleMemory
import XCTest

// `@_silgen_name`: glibc's <malloc.h> is not part of the Glibc module; this is its plain C
// declaration (`size_t malloc_usable_size(void *)`), valid only for pointers malloc returned.
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer) -> Int

final class PoolingSwitchTests: XCTestCase {
    final class Buffer {
        var bytes = 0
        let onDeinit: () -> Void
        init(onDeinit: @escaping () -> Void = {}) { self.onDeinit = onDeinit }
        deinit { onDeinit() }
    }

    func testDefaultsFollowTheProcessSwitch() {
        unsetenv("SPINDLE_POOLS")
        XCTAssertEqual(MemoryOptions.pooling, Environment.flag("SPINDLE_POOLS") ?? true)
        XCTAssertEqual(ObjectPool<Buffer>(preallocate: 0, make: { Buffer() }).pooling, MemoryOptions.pooling)
        XCTAssertEqual(RequestArena.Configuration().pooling, MemoryOptions.pooling)
        XCTAssertEqual(RequestArena().configuration.pooling, MemoryOptions.pooling)
    }

    func testPooledObjectsAreKeptAndReused() {
        var made = 0, prepared = 0
        let pool = ObjectPool<Buffer>(preallocate: 2, pooling: true, make: { made += 1; return Buffer() },
                                      prepareForReuse: { prepared += 1; $0.bytes = 0 })
        XCTAssertEqual(made, 2)
        XCTAssertEqual(pool.available, 2)
        let a = pool.take()!
        a.bytes = 7
        pool.giveBack(a)
        XCTAssertTrue(pool.take()! === a, "a pooled object comes back")
        XCTAssertEqual(a.bytes, 0)
        XCTAssertEqual(prepared, 1)
        XCTAssertEqual(made, 2)
        XCTAssertEqual(pool.misses, 0)
    }

    func testUnpooledTakeMakesAndGiveBackDrops() {
        var made = 0, prepared = 0, freed = 0
        let pool = ObjectPool<Buffer>(preallocate: 3, maximumCount: 3, retainedCount: 100, pooling: false,
                                      make: { made += 1; return Buffer(onDeinit: { freed += 1 }) },
                                      prepareForReuse: { _ in prepared += 1 })
        XCTAssertFalse(pool.pooling)
        XCTAssertEqual(made, 0, "nothing is preallocated")
        XCTAssertEqual(pool.available, 0)
        XCTAssertEqual(pool.retainedCount, 0)
        var first: Buffer? = pool.take()
        XCTAssertEqual(made, 1)
        pool.giveBack(first!)
        first = nil
        XCTAssertEqual(freed, 1, "the object given back was dropped, not kept")
        XCTAssertEqual(prepared, 0, "nothing is prepared for a reuse that never comes")
        XCTAssertEqual(pool.available, 0)
        let taken = (0..<3).map { _ in pool.take()! }
        XCTAssertEqual(made, 4, "every take() makes a new object")
        XCTAssertNil(pool.take(), "maximumCount still caps the objects in use")
        XCTAssertEqual(pool.inUse, 3)
        XCTAssertEqual(pool.peakInUse, 3)
        XCTAssertEqual(pool.misses, 4)
        taken.forEach(pool.giveBack)
        XCTAssertEqual(pool.inUse, 0)
        XCTAssertEqual(pool.available, 0)
    }

    func testPooledArenaBumpsInBlocks() {
        let arena = RequestArena(configuration: .init(blockSize: 4096, pooling: true))
        let a = arena.allocate(byteCount: 32, alignment: 16)
        let b = arena.allocate(byteCount: 32, alignment: 16)
        XCTAssertEqual(b - a, 32, "consecutive allocations are adjacent in the block")
        XCTAssertEqual(arena.statistics.heapAllocations, 0)
        arena.reset()
        XCTAssertEqual(arena.allocate(byteCount: 32, alignment: 16), a, "reset rewinds to the same block")
    }

    func testUnpooledArenaMallocsEveryAllocationAndFreesAtReset() {
        let arena = RequestArena(configuration: .init(blockSize: 4096, pooling: false))
        var pointers: [(UnsafeMutableRawPointer, Int)] = []
        for (i, size) in [1, 8, 24, 100, 2000, 64 << 10].enumerated() {
            let alignment = [1, 2, 4, 8, 16, 16][i]
            let p = arena.allocate(byteCount: size, alignment: alignment)
            XCTAssertEqual(Int(bitPattern: p) % alignment, 0, "alignment \(alignment)")
            XCTAssertGreaterThanOrEqual(mallocUsableSize(p), size, "each allocation is its own malloc block")
            p.initializeMemory(as: UInt8.self, repeating: UInt8(i), count: size)
            pointers.append((p, size))
        }
        for (i, (p, size)) in pointers.enumerated() {
            XCTAssertEqual(p.load(fromByteOffset: size - 1, as: UInt8.self), UInt8(i), "allocations do not overlap")
        }
        XCTAssertEqual(arena.statistics.heapAllocations, 6)
        XCTAssertEqual(arena.statistics.overflows, 0)
        XCTAssertEqual(arena.statistics.largeAllocations, 0)
        XCTAssertEqual(arena.bytesInUse, 1 + 8 + 24 + 100 + 2000 + (64 << 10))
        let zero = arena.allocate(byteCount: 0)
        XCTAssertGreaterThan(mallocUsableSize(zero), 0, "a zero-byte allocation is a (1-byte) malloc block too")
        XCTAssertEqual(arena.statistics.heapAllocations, 7, "zero bytes also take the heap path")

        let message = Array("request".utf8)
        let copy = message.withUnsafeBytes { arena.copy($0) }
        XCTAssertEqual(copy.withUnsafeBytes { Array($0) }, message)
        let generation = arena.generation
        arena.reset()
        XCTAssertFalse(copy.isValid, "a reset ends the request's memory in heap mode too")
        XCTAssertEqual(arena.generation, generation + 1)
        XCTAssertEqual(arena.bytesInUse, 0)
        XCTAssertEqual(arena.statistics.resets, 1)
        XCTAssertEqual(arena.statistics.peakBytes, 1 + 8 + 24 + 100 + 2000 + (64 << 10) + message.count)
        let again = arena.allocate(byteCount: 16)
        XCTAssertEqual(arena.bytesInUse, 16)
        XCTAssertEqual(arena.statistics.heapAllocations, 9)
        again.storeBytes(of: 42, as: Int.self)
        XCTAssertEqual(again.load(as: Int.self), 42)
    }

    func testUnpooledArenasDoNotLeak() throws {
        try XCTSkipIf(addressSanitizerIsActive, "ASan's quarantine keeps freed blocks resident: RSS cannot show that they were freed")
        // Many requests through heap-mode arenas: RSS must not grow by what they allocated.
        let before = ProcessMemory.current().residentBytes
        for _ in 0..<200 {
            let arena = RequestArena(configuration: .init(pooling: false))
            for _ in 0..<100 { arena.allocate(byteCount: 4096).initializeMemory(as: UInt8.self, repeating: 1, count: 4096) }
            arena.reset()
            for _ in 0..<10 { arena.allocate(byteCount: 4096).initializeMemory(as: UInt8.self, repeating: 2, count: 4096) }
        }  // deinit frees what the last request allocated
        let grown = ProcessMemory.current().residentBytes - before
        XCTAssertLessThan(grown, 200 * 110 * 4096 / 4, "freed at reset and deinit (grew \(grown) bytes)")
    }

    func testFlagValues() {
        let name = "SPINDLE_TEST_FLAG"
        defer { unsetenv(name) }
        unsetenv(name)
        XCTAssertNil(Environment.flag(name))
        for (text, expected) in [("on", true), ("ON", true), ("1", true), ("true", true), ("yes", true), (" on\n", true),
                                 ("off", false), ("Off", false), ("0", false), ("false", false), ("no", false), ("", nil)] as [(String, Bool?)] {
            setenv(name, text, 1)
            XCTAssertEqual(Environment.flag(name), expected, text.debugDescription)
        }
    }
}
