// FiberLocal: one value per fiber, defaults, withValue, values dropped with their fiber.
import SpindleFibers
import XCTest

final class FiberLocalTests: XCTestCase {
    func testEachFiberHasItsOwnValue() throws {
        let requestID = FiberLocal<Int>(defaultValue: -1)
        try Scheduler.run {
            let handles = (0..<5).map { i in
                Fiber.spawn { () -> [Int] in
                    var seen = [requestID.value]
                    requestID.value = i * 10
                    for _ in 0..<3 {
                        Fiber.yield()  // the others write their own values meanwhile
                        seen.append(requestID.value)
                    }
                    requestID.value += 1
                    seen.append(requestID.value)
                    return seen
                }
            }
            for (i, h) in handles.enumerated() {
                XCTAssertEqual(try h.join(), [-1, i * 10, i * 10, i * 10, i * 10 + 1])
            }
            XCTAssertEqual(requestID.value, -1, "the main fiber never wrote it")
        }
    }

    func testDefaultValueInAFreshFiber() throws {
        let name = FiberLocal<String>(defaultValue: "anonymous")
        let tags = FiberLocal<[String]>(defaultValue: [])
        try Scheduler.run {
            name.value = "main"
            tags.value.append("main-tag")
            let child = Fiber.spawn { (name.value, tags.value) }
            let (childName, childTags) = try child.join()
            XCTAssertEqual(childName, "anonymous", "a child does not inherit")
            XCTAssertEqual(childTags, [])
            XCTAssertEqual(name.value, "main")
            XCTAssertEqual(tags.value, ["main-tag"])
        }
        // A new scheduler's main fiber starts from the default again.
        XCTAssertEqual(Scheduler.run { name.value }, "anonymous")
    }

    func testSeveralLocalsAreIndependent() throws {
        let a = FiberLocal<Int>(defaultValue: 1)
        let b = FiberLocal<Int>(defaultValue: 2)
        let c = FiberLocal<String?>(defaultValue: nil)
        try Scheduler.run {
            a.value = 10
            XCTAssertEqual(b.value, 2)
            b.value = 20
            c.value = "x"
            XCTAssertEqual([a.value, b.value], [10, 20])
            c.value = nil
            XCTAssertEqual(c.value, nil)
            XCTAssertEqual(a.value, 10)
            _ = try Fiber.spawn { XCTAssertEqual(c.value, nil) }.join()
        }
    }

    func testWithValueRestoresThePreviousValue() throws {
        let depth = FiberLocal<Int>(defaultValue: 0)
        try Scheduler.run {
            let seen = depth.withValue(1) { () -> [Int] in
                var inner = [depth.value]
                inner += depth.withValue(2) { () -> [Int] in
                    Fiber.yield()
                    return [depth.value]
                }
                inner.append(depth.value)
                return inner
            }
            XCTAssertEqual(seen, [1, 2, 1])
            XCTAssertEqual(depth.value, 0)

            XCTAssertThrows(TestError.boom(5), try depth.withValue(9) { () throws -> Int in
                XCTAssertEqual(depth.value, 9)
                throw TestError.boom(5)
            })
            XCTAssertEqual(depth.value, 0, "restored after a throw")

            // withValue in one fiber is invisible to another running meanwhile.
            let other = Fiber.spawn { () -> Int in
                Fiber.yield()
                return depth.value
            }
            let mine = depth.withValue(7) { () -> Int in
                Fiber.yield()
                Fiber.yield()
                return depth.value
            }
            XCTAssertEqual(mine, 7)
            XCTAssertEqual(try other.join(), 0)
        }
    }

    func testValuesAreDroppedWhenTheFiberFinishes() throws {
        final class Resource {
            let onDeinit: () -> Void
            init(onDeinit: @escaping () -> Void) { self.onDeinit = onDeinit }
            deinit { onDeinit() }
        }
        let local = FiberLocal<Resource?>(defaultValue: nil)
        try Scheduler.run {
            let log = Log()
            weak var weakResource: Resource?
            let handle = Fiber.spawn {
                let resource = Resource { log("deinit") }
                weakResource = resource
                local.value = resource
                Fiber.yield()
                log("fiber ends")
            }
            Fiber.yield()
            XCTAssertNotNil(weakResource, "held by the fiber's local while it runs")
            try handle.join()
            XCTAssertNil(weakResource, "dropped when the fiber finished")
            XCTAssertEqual(log.entries, ["fiber ends", "deinit"])
        }
    }
}
