// 100,000 fibers parked at once on one Event, then released: every one finishes, and the
// memory each parked fiber costs is reported.
import SpindleFibers
import SpindleMemory
import SpindleTestSupport
import XCTest

final class ScalabilityTests: XCTestCase {
    func testHundredThousandParkedFibers() throws {
        let count = 100_000
        let before = ProcessMemory.current()
        var parkedMemory = before
        let start = Deadline.now
        let (finished, peak, mapped) = try Scheduler.run { () throws -> (Int, Int, Int) in
            let scheduler = Scheduler.current!
            let event = Event()
            var waiting = 0
            var finished = 0
            var sum = 0
            for i in 0..<count {
                Fiber.spawn {
                    waiting += 1
                    try event.wait()
                    sum += i
                    finished += 1
                }
            }
            Fiber.yield()  // every fiber runs once and parks
            XCTAssertEqual(waiting, count)
            XCTAssertEqual(finished, 0)
            XCTAssertEqual(scheduler.liveFibers, count + 1)
            XCTAssertEqual(scheduler.stacks.inUse, count + 1)
            parkedMemory = ProcessMemory.current()
            event.set()
            while finished < count { Fiber.yield() }
            XCTAssertEqual(sum, count * (count - 1) / 2)
            XCTAssertEqual(scheduler.liveFibers, 1)
            return (finished, scheduler.stacks.peakInUse, scheduler.stacks.mapped)
        }
        let elapsed = milliseconds(since: start)
        XCTAssertEqual(finished, count)
        XCTAssertEqual(peak, count + 1)
        XCTAssertGreaterThanOrEqual(mapped, count + 1)
        let perFiber = (parkedMemory.residentBytes - before.residentBytes) / count
        let pagesPerFiber = Double(parkedMemory.residentBytes - before.residentBytes) / Double(count) / 4096
        print("""
            ScalabilityTests: \(count) parked fibers in \(Int(elapsed)) ms; \
            RSS +\(formatBytes(parkedMemory.residentBytes - before.residentBytes)) \
            = \(formatBytes(perFiber)) per fiber (\((pagesPerFiber * 10).rounded() / 10) pages); \
            page tables +\(formatBytes(parkedMemory.pageTableBytes - before.pageTableBytes)); \
            mappings \(before.mappings) → \(parkedMemory.mappings)
            """)
        XCTAssertGreaterThan(perFiber, 0)
        if AddressSanitizer.isActive {
            // Each fiber then has a fake stack of ASan's own (its switches are announced to ASan,
            // Docs/fiber-model.md), and ASan's shadow of every page touched: not the fiber's cost.
            print("ScalabilityTests: under AddressSanitizer, the per-fiber memory bound is not checked")
        } else {
            XCTAssertLessThan(perFiber, 64 << 10, "a parked fiber should cost a few pages, not its whole stack")
        }
        XCTAssertLessThan(parkedMemory.mappings - before.mappings, 200, "stacks must not cost a mapping each")
        XCTAssertNil(Scheduler.current)
    }
}
