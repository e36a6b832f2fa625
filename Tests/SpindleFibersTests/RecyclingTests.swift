// Recycled fiber objects: a finished fiber nobody references is reused by a later spawn with a
// fresh id and name, its value and error are dropped, and a fiber still referenced by a handle
// keeps its identity and result however many spawns follow. A kept object keeps its stack, which
// goes back to the pool when the scheduler stops.
import SpindleFibers
import XCTest

final class RecyclingTests: XCTestCase {
    final class Payload {}

    func testAHeldHandleKeepsItsFiber() throws {
        try Scheduler.run {
            let kept = Fiber.spawn(name: "kept") { 42 }
            let id = kept.fiber.id
            XCTAssertEqual(try kept.join(), 42)
            for _ in 0..<200 { Fiber.spawn {} }
            Fiber.yield()
            XCTAssertEqual(kept.fiber.id, id)
            XCTAssertEqual(kept.fiber.name, "kept")
            XCTAssertTrue(kept.isFinished)
            XCTAssertEqual(try kept.join(), 42)
        }
    }

    func testDroppedFibersAreReusedWithAFreshIdentity() {
        var ids = Set<UInt64>()
        var names: [String?] = []
        Scheduler.run {
            let scheduler = Scheduler.current!
            XCTAssertEqual(scheduler.recycledFiberCount, 0)
            for i in 0..<100 {
                Fiber.spawn(name: i % 2 == 0 ? "even \(i)" : nil) {
                    let me = Fiber.current!
                    ids.insert(me.id)
                    names.append(me.name)
                    XCTAssertFalse(me.isFinished)
                    XCTAssertFalse(me.isCancelled)
                }
                Fiber.yield()
                XCTAssertEqual(scheduler.recycledFiberCount, 1, "the finished fiber's object is kept, and reused by the next spawn")
            }
        }
        XCTAssertEqual(ids.count, 100, "every spawn gets a new id")
        XCTAssertEqual(names, (0..<100).map { $0 % 2 == 0 ? "even \($0)" : nil }, "names do not leak into the next fiber")
    }

    func testAFinishedUnreferencedFiberDropsItsValueAndError() {
        weak var value: Payload? = nil
        weak var error: ErrorPayload? = nil
        Scheduler.run {
            Fiber.spawn { () -> Payload in
                let payload = Payload()
                value = payload
                return payload
            }
            Fiber.spawn { () throws -> Void in
                let failure = ErrorPayload()
                error = failure
                throw failure
            }
            Fiber.yield()
            XCTAssertNil(value, "the value of a fiber nobody can join is released")
            XCTAssertNil(error, "the error of a fiber nobody can join is released")
        }
    }

    func testAReusedObjectStartsWithoutTheLastError() throws {
        try Scheduler.run {
            Fiber.spawn { () throws -> Void in throw ErrorPayload() }
            Fiber.yield()
            XCTAssertEqual(Scheduler.current!.recycledFiberCount, 1)
            let next = Fiber.spawn { 7 }
            XCTAssertEqual(try next.join(), 7)
            let failing = Fiber.spawn { () throws -> Int in throw ErrorPayload() }
            XCTAssertThrowsError(try failing.join()) { XCTAssertTrue($0 is ErrorPayload) }
        }
    }

    func testDetachedFibersRunInOrderAndTheirObjectsAreReused() {
        var order: [Int] = []
        Scheduler.run {
            let scheduler = Scheduler.current!
            for i in 0..<50 { Fiber.spawnDetached { order.append(i) } }
            XCTAssertEqual(scheduler.liveFibers, 51, "queued, not yet run")
            Fiber.yield()
            XCTAssertEqual(order, Array(0..<50))
            XCTAssertEqual(scheduler.recycledFiberCount, 50, "nothing else references a detached fiber")
            for i in 50..<100 { Fiber.spawnDetached(name: "d\(i)") { order.append(i) } }
            XCTAssertEqual(scheduler.recycledFiberCount, 0, "the second batch runs on the kept objects")
            Fiber.yield()
        }
        XCTAssertEqual(order, Array(0..<100))
    }

    func testADetachedFiberThatParksKeepsTheSchedulerRunningAndItsErrorIsDropped() {
        weak var error: ErrorPayload? = nil
        var woke = false
        Scheduler.run {
            Fiber.spawnDetached {
                try Fiber.sleep(for: .milliseconds(5))
                woke = true
                let failure = ErrorPayload()
                error = failure
                throw failure
            }
        }
        XCTAssertTrue(woke, "Scheduler.run waits for detached fibers too")
        XCTAssertNil(error, "the error of a detached fiber is released with it")
    }

    func testKeptObjectsHoldTheirStacksUntilTheSchedulerStops() {
        var scheduler: Scheduler? = nil
        Scheduler.run {
            let current = Scheduler.current!
            scheduler = current
            for _ in 0..<10 { Fiber.spawn {} }
            Fiber.yield()
            XCTAssertEqual(current.recycledFiberCount, 10)
            XCTAssertEqual(current.stacks.inUse, 11, "the main fiber's stack, and one kept with each recycled object")
            for _ in 0..<10 { Fiber.spawn {} }
            XCTAssertEqual(current.recycledFiberCount, 0)
            XCTAssertEqual(current.stacks.inUse, 11, "the spawns run on the kept objects' stacks")
            Fiber.yield()
        }
        XCTAssertEqual(scheduler?.stacks.inUse, 0, "every stack is back in the pool once the scheduler stopped")
        XCTAssertEqual(scheduler?.recycledFiberCount, 0)
    }

    /// After a burst of spawns, the recycled fibers no later spawn took go, and their stacks'
    /// pages with them (beyond the warm floor); the fibers a steady trickle uses stay.
    func testTrimMemoryDropsRecycledFibersAndStacksABurstLeftBehind() {
        Scheduler.run {
            let current = Scheduler.current!
            // Fibers without a handle kept (only those are recycled), alive at the same time.
            for _ in 0..<100 { Fiber.spawn { Fiber.yield() } }
            Fiber.yield()
            Fiber.yield()
            XCTAssertEqual(current.recycledFiberCount, 100)
            XCTAssertEqual(current.trimMemory(keepingAtLeast: 0).fibers, 0, "the burst was in this window")
            // A trickle: 5 fibers at a time.
            for _ in 0..<5 { Fiber.spawn { Fiber.yield() } }
            Fiber.yield()
            Fiber.yield()
            let inUseBefore = current.stacks.inUse
            let discardedBefore = current.stacks.discardedCount
            let first = current.trimMemory(keepingAtLeast: 0)
            XCTAssertEqual(first.fibers, 95, "the recycled fibers the trickle did not take")
            XCTAssertEqual(current.recycledFiberCount, 5)
            XCTAssertEqual(current.stacks.inUse, inUseBefore - 95, "their stacks went back to the pool")
            XCTAssertGreaterThanOrEqual(first.stacks, 95, "their stacks, unused for a window, are discarded at once")
            XCTAssertEqual(current.stacks.discardedCount - discardedBefore, first.stacks)
            for _ in 0..<5 { Fiber.spawn { Fiber.yield() } }  // the trickle goes on
            Fiber.yield()
            Fiber.yield()
            let second = current.trimMemory(keepingAtLeast: 0)
            XCTAssertEqual(second.fibers, 0)
            XCTAssertEqual(second.stacks, 0, "nothing left over")
            // The kept fibers still serve spawns.
            let again = Fiber.spawn { 7 }
            XCTAssertEqual(try? again.join(), 7)
        }
    }

    /// A trim keeps `keepingAtLeast` of a burst's stacks warm (the pages of the rest go back).
    func testTrimMemoryKeepsTheFloorOfStacksWarm() {
        Scheduler.run {
            let current = Scheduler.current!
            for _ in 0..<50 { Fiber.spawn { Fiber.yield() } }
            Fiber.yield()
            Fiber.yield()
            _ = current.trimMemory(keepingAtLeast: 20)  // the burst was in this window
            let discardedBefore = current.stacks.discardedCount
            let trimmed = current.trimMemory(keepingAtLeast: 20)
            XCTAssertEqual(trimmed.fibers, 50)
            XCTAssertGreaterThanOrEqual(current.stacks.warmFree, 20, "the floor stays warm")
            XCTAssertEqual(trimmed.stacks, 30, "the other 30 stacks' pages went back")
            XCTAssertEqual(current.stacks.discardedCount - discardedBefore, trimmed.stacks)
        }
    }

    func testACancelledFiberDoesNotPassItsStateOn() throws {
        try Scheduler.run {
            let sleeper = Fiber.spawn { try Fiber.sleep(for: .seconds(60)) }
            Fiber.yield()
            sleeper.cancel()
            XCTAssertThrowsError(try sleeper.join())
            XCTAssertTrue(sleeper.fiber.isCancelled)
            _ = consume sleeper
            let next = Fiber.spawn { Fiber.isCancelled }
            XCTAssertFalse(try next.join())
            XCTAssertFalse(next.fiber.isCancelled)
        }
    }
}

final class ErrorPayload: Error {}
