// Swift's exclusivity checker keeps its set of active accesses per thread. A fiber that parks
// inside a `modify` access of a class property must not make another fiber's read of that
// property look like a simultaneous access (DESIGN.md, "Verified on this machine kind"): the
// scheduler swaps the access set per fiber. Without the swap these tests crash the test
// process with "Simultaneous accesses … requires exclusive access", in debug and release.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleFibers
import XCTest

private final class Holder {
    var array: [Int] = [1, 2, 3]
    var counter = 0
}

/// Parks inside the inout access: the caller's `modify` of `object.array` stays open.
@inline(never)
private func mutate(_ array: inout [Int], log: Log, name: String) {
    log("\(name) inside access")
    Fiber.yield()
    array.append(4)
    log("\(name) appended")
}

@inline(never)
private func mutateSleeping(_ array: inout [Int], for duration: Duration) throws {
    array.append(100)
    try Fiber.sleep(for: duration)
    array.append(200)
}

@inline(never)
private func mutateWaiting(_ array: inout [Int], for event: Event) throws {
    array.append(100)
    try event.wait()
    array.append(200)
}

@inline(never)
private func increment(_ value: inout Int, times: Int) {
    for _ in 0..<times {
        value += 1
        Fiber.yield()
    }
}

final class ExclusivityTests: XCTestCase {
    /// The DESIGN.md scenario: fiber A parks inside `mutate(&object.array)`; fiber B reads
    /// `object.array.count` meanwhile.
    private func readerWhileParkedInsideModify(configuration: Scheduler.Configuration = .init(),
                                               file: StaticString = #filePath, line: UInt = #line) throws {
        let object = Holder()
        try Scheduler.run(configuration: configuration) {
            let log = Log()
            let a = Fiber.spawn { mutate(&object.array, log: log, name: "A") }
            let b = Fiber.spawn { () -> Int in
                log("B reads")
                let count = object.array.count  // A is parked inside its modify access
                log("B read \(count)")
                return count
            }
            try a.join()
            XCTAssertEqual(try b.join(), 3, "B saw the array before A's append", file: file, line: line)
            XCTAssertEqual(object.array, [1, 2, 3, 4], file: file, line: line)
            XCTAssertEqual(log.entries, ["A inside access", "B reads", "B read 3", "A appended"], file: file, line: line)
        }
    }

    func testReaderWhileAnotherFiberIsParkedInsideAModifyAccess() throws {
        try readerWhileParkedInsideModify()
    }

    func testReaderWhileParkedInsideModifySwitchingThroughTheLoop() throws {
        // switchBudget 1: every switch goes fiber → loop → fiber instead of fiber → fiber.
        try readerWhileParkedInsideModify(configuration: .init(switchBudget: 1))
    }

    func testReaderWhileParkedInsideModifyWithoutTheSwapFastPath() throws {
        // SPINDLE_EXCLUSIVITY_FASTPATH=0 makes every switch call the runtime's exit/enter.
        setenv("SPINDLE_EXCLUSIVITY_FASTPATH", "0", 1)
        defer { unsetenv("SPINDLE_EXCLUSIVITY_FASTPATH") }
        try readerWhileParkedInsideModify()
        try readerWhileParkedInsideModify(configuration: .init(switchBudget: 1))
    }

    func testReaderWhileAnotherFiberSleepsInsideAModifyAccess() throws {
        let object = Holder()
        try Scheduler.run {
            let a = Fiber.spawn { try mutateSleeping(&object.array, for: .milliseconds(20)) }
            let b = Fiber.spawn { () -> [Int] in
                var counts = [object.array.count]  // A has just parked inside its access
                while !a.isFinished {
                    try? Fiber.sleep(for: .milliseconds(1))
                    counts.append(object.array.count)
                    _ = object.array.first  // another read access
                }
                return counts
            }
            try a.join()
            let counts = try b.join()
            XCTAssertEqual(counts.first, 4, "A parked after appending 100")
            XCTAssertGreaterThan(counts.count, 1, "B read again while A slept")
            XCTAssertTrue(counts.allSatisfy { $0 == 4 || $0 == 5 }, "\(counts)")
            XCTAssertEqual(object.array, [1, 2, 3, 100, 200])
        }
    }

    func testTwoFibersParkedInModifyAccessesOfDifferentObjects() throws {
        let first = Holder(), second = Holder()
        try Scheduler.run {
            let release = Event()
            let a = Fiber.spawn { try mutateWaiting(&first.array, for: release) }
            let b = Fiber.spawn { try mutateWaiting(&second.array, for: release) }
            let reader = Fiber.spawn { () -> [Int] in
                Fiber.yield()
                return [first.array.count, second.array.count, first.counter, second.counter]
            }
            // A and B are now both parked inside their accesses; the main fiber reads the arrays
            // and writes other properties of the same objects, then C reads everything.
            Fiber.yield()
            XCTAssertEqual(first.array.count, 4)
            XCTAssertEqual(second.array.last, 100)
            first.counter = 1
            second.counter = 2
            XCTAssertEqual(try reader.join(), [4, 4, 1, 2])
            XCTAssertFalse(a.isFinished)
            XCTAssertFalse(b.isFinished)
            release.set()
            try a.join()
            try b.join()
            XCTAssertEqual(first.array, [1, 2, 3, 100, 200])
            XCTAssertEqual(second.array, [1, 2, 3, 100, 200])
        }
    }

    func testTwoFibersParkedInAccessesAlternate() throws {
        let first = Holder(), second = Holder()
        try Scheduler.run {
            let log = Log()
            let a = Fiber.spawn { mutate(&first.array, log: log, name: "A") }
            let b = Fiber.spawn { mutate(&second.array, log: log, name: "B") }
            let c = Fiber.spawn { log("C reads \(first.array.count) \(second.array.count)") }
            try a.join()
            try b.join()
            try c.join()
            XCTAssertEqual(log.entries, ["A inside access", "B inside access", "C reads 3 3", "A appended", "B appended"])
        }
    }

    func testNestedAccessesParkedInManyFibers() throws {
        // Each fiber holds two nested accesses (its own object's array and counter) while it
        // parks repeatedly; every other fiber reads all objects in between.
        let objects = (0..<8).map { _ in Holder() }
        try Scheduler.run {
            let writers = objects.map { object in
                Fiber.spawn {
                    increment(&object.counter, times: 3)
                    mutateNested(&object.array, &object.counter)
                }
            }
            let readers = (0..<4).map { _ in
                Fiber.spawn { () -> Int in
                    var total = 0
                    for _ in 0..<10 {
                        total += objects.reduce(0) { $0 + $1.array.count + $1.counter }
                        Fiber.yield()
                    }
                    return total
                }
            }
            for w in writers { try w.join() }
            for r in readers { XCTAssertGreaterThan(try r.join(), 0) }
            for object in objects {
                XCTAssertEqual(object.array, [1, 2, 3, 4, 5])
                XCTAssertEqual(object.counter, 4)
            }
        }
    }

    func testAccessSetIsCleanAfterFibersFinishInsideAccesses() throws {
        // After fibers that parked inside accesses have finished, the thread (outside any
        // fiber) and a later scheduler can access the same properties.
        let objects = (0..<3).map { _ in Holder() }
        try Scheduler.run {
            let log = Log()
            let handles = objects.enumerated().map { i, object in
                Fiber.spawn { mutate(&object.array, log: log, name: "F\(i)") }
            }
            for h in handles { try h.join() }
        }
        for object in objects {
            object.array.append(5)
            XCTAssertEqual(object.array, [1, 2, 3, 4, 5])
        }
        Scheduler.run {
            objects[0].array.removeAll()
            XCTAssertEqual(objects[0].array.count, 0)
        }
    }
}

@inline(never)
private func mutateNested(_ array: inout [Int], _ counter: inout Int) {
    array.append(4)
    Fiber.yield()
    counter += 1
    Fiber.yield()
    array.append(5)
}

/// Runs `body` inside a modify access of `array`.
@inline(never)
private func whileModifying(_ array: inout [Int], _ body: () throws -> Void) rethrows {
    array.append(-1)
    try body()
    array.append(-2)
}

final class ExclusivityOuterAccessTests: XCTestCase {
    func testSchedulerRunInsideAnOuterAccess() throws {
        // The thread already has an access open when the scheduler starts: fibers that park
        // inside their own accesses must leave it in place, and it must end cleanly.
        let outer = Holder(), inner = Holder()
        try whileModifying(&outer.array) {
            try Scheduler.run {
                let log = Log()
                let a = Fiber.spawn { mutate(&inner.array, log: log, name: "A") }
                let b = Fiber.spawn { log("B reads \(inner.array.count) \(outer.counter)") }
                try a.join()
                try b.join()
                XCTAssertEqual(log.entries, ["A inside access", "B reads 3 0", "A appended"])
            }
        }
        XCTAssertEqual(outer.array, [1, 2, 3, -1, -2])
        XCTAssertEqual(inner.array, [1, 2, 3, 4])
    }

    func testViolationAfterResumingInsideAnAccessIsStillCaught() throws {
        // A fiber resumed inside its access must get that access back: reading the property it
        // is modifying is then a real overlap, and the checker must still stop the process.
        let result = try Probe.run("exclusivity-violation-after-yield")
        XCTAssertNotNil(result.signal, result.summary)
        XCTAssertTrue(result.stdout.contains("probe: other fiber ran, count 7\n"), result.summary)
        XCTAssertTrue(result.stdout.contains("probe: resumed inside the access\n"), result.summary)
        XCTAssertTrue(result.stderr.contains("Simultaneous accesses"), result.summary)
        XCTAssertFalse(result.stdout.contains("probe: done"), result.summary)
    }
}
