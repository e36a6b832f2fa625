// ObjectPool.trim: the objects a spike made go back once a window passes without them being
// needed; a steady load keeps what it uses; the preallocated floor always stays.
import SpindleMemory
import XCTest

final class ObjectPoolTrimTests: XCTestCase {
    final class Buffer {
        static let lock = NSLock()
        nonisolated(unsafe) static var live = 0
        init() { Self.lock.withLock { Self.live += 1 } }
        deinit { Self.lock.withLock { Self.live -= 1 } }
    }

    func testASpikeIsReleasedAfterAWindowWithoutItAndTheFloorStays() {
        let liveBefore = Buffer.lock.withLock { Buffer.live }
        let pool = ObjectPool<Buffer>(preallocate: 4, retainedCount: 1024, pooling: true, make: { Buffer() })
        // A spike of 300 at once.
        var held = (0..<300).map { _ in pool.take()! }
        for object in held { pool.giveBack(object) }
        held = []
        XCTAssertEqual(pool.available, 300)
        XCTAssertEqual(pool.trim(keepingAtLeast: 4), 0, "the spike was in this window")
        // A steady load of 10 at a time.
        held = (0..<10).map { _ in pool.take()! }
        for object in held { pool.giveBack(object) }
        held = []
        XCTAssertEqual(pool.trim(keepingAtLeast: 4), 290, "what the last window did not need")
        XCTAssertEqual(pool.available, 10)
        XCTAssertEqual(Buffer.lock.withLock { Buffer.live } - liveBefore, 10, "the dropped objects are freed")
        // The steady load again: nothing more goes.
        held = (0..<10).map { _ in pool.take()! }
        for object in held { pool.giveBack(object) }
        held = []
        XCTAssertEqual(pool.trim(keepingAtLeast: 4), 0)
        // Idle: down to the floor, never below.
        XCTAssertEqual(pool.trim(keepingAtLeast: 4), 6)
        XCTAssertEqual(pool.trim(keepingAtLeast: 4), 0)
        XCTAssertEqual(pool.available, 4)
        // Still a working pool.
        let object = pool.take()
        XCTAssertNotNil(object)
        pool.giveBack(object!)
        XCTAssertEqual(pool.available, 4)
    }

    func testObjectsInUseAreNeverTouched() {
        let pool = ObjectPool<Buffer>(preallocate: 0, retainedCount: 64, pooling: true, make: { Buffer() })
        let held = (0..<50).map { _ in pool.take()! }
        XCTAssertEqual(pool.trim(keepingAtLeast: 0), 0)
        XCTAssertEqual(pool.trim(keepingAtLeast: 0), 0)
        XCTAssertEqual(pool.inUse, 50)
        for object in held { pool.giveBack(object) }
        XCTAssertEqual(pool.available, 50)
        XCTAssertEqual(pool.trim(keepingAtLeast: 0), 0, "given back during this window: its low water was 0")
        XCTAssertEqual(pool.trim(keepingAtLeast: 0), 50)
    }
}
