// Fibers: spawn and join (values, errors, several joiners), the FIFO run queue, yield,
// identity (current fiber, names, ids).
import SpindleFibers
import XCTest

final class FiberTests: XCTestCase {
    func testJoinReturnsTheValue() throws {
        let value = try Scheduler.run { () throws -> Int in
            let handle = Fiber.spawn { () -> Int in
                Fiber.yield()
                return 6 * 7
            }
            XCTAssertFalse(handle.isFinished)
            let value = try handle.join()
            XCTAssertTrue(handle.isFinished)
            return value
        }
        XCTAssertEqual(value, 42)
    }

    func testJoinReturnsValuesOfAnyType() throws {
        struct Point: Equatable { var x: Int; var y: Int }
        try Scheduler.run {
            let a = Fiber.spawn { "hello, " + "fiber" }
            let b = Fiber.spawn { Point(x: 3, y: 4) }
            let c = Fiber.spawn { [1, 2, 3].map { $0 * 10 } }
            let d = Fiber.spawn { Optional<Int>.none }
            XCTAssertEqual(try a.join(), "hello, fiber")
            XCTAssertEqual(try b.join(), Point(x: 3, y: 4))
            XCTAssertEqual(try c.join(), [10, 20, 30])
            XCTAssertEqual(try d.join(), nil)
        }
    }

    func testJoinRethrowsTheFibersError() throws {
        try Scheduler.run {
            let handle = Fiber.spawn { () throws -> Int in
                Fiber.yield()
                throw TestError.boom(7)
            }
            XCTAssertThrows(TestError.boom(7), try handle.join())
            // Joining again gives the same error.
            XCTAssertThrows(TestError.boom(7), try handle.join())
            XCTAssertTrue(handle.isFinished)
        }
    }

    func testWaitOnVoidFiber() throws {
        try Scheduler.run {
            let log = Log()
            let ok = Fiber.spawn { log("ran") }
            let failing = Fiber.spawn { throw TestError.other("void") }
            try ok.wait()
            XCTAssertEqual(log.entries, ["ran"])
            XCTAssertThrows(TestError.other("void"), try failing.wait())
        }
    }

    func testJoinOfFinishedFiberReturnsAtOnce() throws {
        try Scheduler.run {
            let handle = Fiber.spawn { 5 }
            Fiber.yield()  // it runs and finishes
            XCTAssertTrue(handle.isFinished)
            let log = Log()
            Fiber.spawn { log("other") }
            // Does not park: the other fiber has not run yet when join returns.
            XCTAssertEqual(try handle.join(), 5)
            XCTAssertEqual(log.entries, [])
        }
    }

    func testJoinFromSeveralFibers() throws {
        try Scheduler.run {
            let log = Log()
            let target = Fiber.spawn { () throws -> Int in
                try Fiber.sleep(for: .milliseconds(10))
                log("target done")
                return 99
            }
            let joiners = (0..<3).map { i in
                Fiber.spawn { () throws -> Int in
                    log("joiner \(i) waits")
                    let value = try target.join()
                    log("joiner \(i) got \(value)")
                    return value
                }
            }
            XCTAssertEqual(try joiners.map { try $0.join() }, [99, 99, 99])
            XCTAssertEqual(try target.join(), 99)
            XCTAssertEqual(log.entries, [
                "joiner 0 waits", "joiner 1 waits", "joiner 2 waits",
                "target done",
                "joiner 0 got 99", "joiner 1 got 99", "joiner 2 got 99",  // woken in FIFO order
            ])
        }
    }

    func testSeveralFibersJoinAFailingFiber() throws {
        try Scheduler.run {
            let target = Fiber.spawn { () throws -> Int in
                Fiber.yield()
                throw TestError.boom(3)
            }
            let joiners = (0..<3).map { _ in
                Fiber.spawn { () -> String in
                    do { return "value \(try target.join())" } catch { return "error \(error)" }
                }
            }
            XCTAssertEqual(try joiners.map { try $0.join() }, Array(repeating: "error boom(3)", count: 3))
        }
    }

    func testSpawnOrderIsFirstRunOrder() throws {
        try Scheduler.run {
            let log = Log()
            let handles = (0..<10).map { i in Fiber.spawn { log("\(i)") } }
            log("spawner")  // the spawner keeps running until it suspends
            for h in handles { try h.join() }
            XCTAssertEqual(log.entries, ["spawner"] + (0..<10).map(String.init))
        }
    }

    func testYieldInterleavesInExactOrder() throws {
        try Scheduler.run {
            let log = Log()
            let a = Fiber.spawn {
                for i in 1...3 { log("a\(i)"); Fiber.yield() }
            }
            let b = Fiber.spawn {
                for i in 1...3 { log("b\(i)"); Fiber.yield() }
            }
            let c = Fiber.spawn {
                log("c1"); Fiber.yield(); log("c2")
            }
            try a.join(); try b.join(); try c.join()
            XCTAssertEqual(log.entries, ["a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3"])
        }
    }

    func testYieldLetsTheSpawnerInterleave() throws {
        try Scheduler.run {
            let log = Log()
            let child = Fiber.spawn {
                log("child 1"); Fiber.yield(); log("child 2"); Fiber.yield(); log("child 3")
            }
            log("main 1"); Fiber.yield()
            log("main 2"); Fiber.yield()
            log("main 3")
            try child.join()
            XCTAssertEqual(log.entries, ["main 1", "child 1", "main 2", "child 2", "main 3", "child 3"])
        }
    }

    func testYieldAloneReturnsAtOnce() {
        let count = Scheduler.run { () -> Int in
            var n = 0
            for _ in 0..<1_000 { Fiber.yield(); n += 1 }
            return n
        }
        XCTAssertEqual(count, 1_000)
    }

    func testLongYieldChainsBeyondTheSwitchBudget() throws {
        // More fibers and rounds than the per-batch switch budget: order stays round-robin.
        let configuration = Scheduler.Configuration(switchBudget: 4)
        try Scheduler.run(configuration: configuration) {
            var sequence: [Int] = []
            let handles = (0..<10).map { i in
                Fiber.spawn {
                    for _ in 0..<20 { sequence.append(i); Fiber.yield() }
                }
            }
            for h in handles { try h.join() }
            XCTAssertEqual(sequence, Array(repeating: Array(0..<10), count: 20).flatMap { $0 })
        }
    }

    func testCurrentFiberIdentityAndNames() throws {
        XCTAssertNil(Fiber.current, "no fiber outside a scheduler")
        try Scheduler.run {
            let main = try XCTUnwrap(Fiber.current)
            XCTAssertEqual(main.name, "main")
            let worker = Fiber.spawn(name: "worker") { () -> UInt64 in
                let me = Fiber.current!
                XCTAssertEqual(me.name, "worker")
                XCTAssertTrue(me.description.hasPrefix("Fiber #\(me.id) \"worker\""), me.description)
                return me.id
            }
            let anonymous = Fiber.spawn { Fiber.current!.name }
            let workerID = try worker.join()
            XCTAssertEqual(workerID, worker.fiber.id)
            XCTAssertEqual(try anonymous.join(), nil)
            XCTAssertNotEqual(workerID, main.id)
            XCTAssertNotEqual(anonymous.fiber.id, workerID)
            XCTAssertTrue(Fiber.current === main, "still the main fiber after joins")
            XCTAssertTrue(worker.fiber.isFinished)
            XCTAssertFalse(main.isFinished)
        }
        XCTAssertNil(Fiber.current)
    }

    func testFiberIDsAreUniqueAcrossSchedulers() throws {
        func ids() -> [UInt64] {
            Scheduler.run { (0..<50).map { _ in Fiber.spawn { }.fiber.id } }
        }
        let first = ids(), second = ids()
        XCTAssertEqual(Set(first + second).count, 100)
    }

    func testFibersSpawnFibers() throws {
        func tree(_ depth: Int) throws -> Int {
            if depth == 0 { return 1 }
            let left = Fiber.spawn { try tree(depth - 1) }
            let right = Fiber.spawn { try tree(depth - 1) }
            return try left.join() + right.join()
        }
        let leaves = try Scheduler.run { try tree(8) }
        XCTAssertEqual(leaves, 256)
    }

    func testHandleOutlivesTheFibersStack() throws {
        try Scheduler.run {
            var handles: [FiberHandle<String>] = []
            for i in 0..<200 { handles.append(Fiber.spawn { "result \(i)" }) }
            for h in handles { _ = try h.join() }
            // Stacks went back to the pool; the results stay with the handles.
            XCTAssertEqual(try handles[137].join(), "result 137")
            XCTAssertEqual(Scheduler.current!.stacks.inUse, 1, "only the main fiber holds a stack")
        }
    }
}
