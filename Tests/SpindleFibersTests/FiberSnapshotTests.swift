// Scheduler.fiberSnapshots(): each parked fiber with what it waits for, its timer, its state.
import SpindleFibers
import SpindleTestSupport
import XCTest

final class FiberSnapshotTests: XCTestCase {
    /// One fiber parked in each kind of wait (and one runnable): the snapshot, taken by the
    /// main fiber, names each one's wait reason and shows a timer only where one is armed.
    func testSnapshotsShowEachParkedFibersWaitReason() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 1)
            let mutex = FiberMutex()
            let event = Event()
            let group = WaitGroup()
            group.add(1)
            let blocker = Fiber.spawn(name: "blocker") { try event.wait() }
            mutex.lock()
            // (name, what it waits for, whether its wait has a timer)
            let cases: [(name: String, waiting: FiberWaitReason, timer: Bool, body: () throws -> Void)] = [
                ("sleeper", .sleep, true, { try Fiber.sleep(for: .seconds(30)) }),
                ("receiver", .channel, false, { _ = try channel.receive() }),
                ("receiver-with-deadline", .channel, true, { _ = try channel.receive(deadline: .now + .seconds(30)) }),
                ("locker", .mutex, false, { mutex.lock(); mutex.unlock() }),
                ("event-waiter", .event, false, { try event.wait() }),
                ("group-waiter", .event, false, { try group.wait() }),
                ("joiner", .join, false, { try blocker.join() }),
            ]
            let handles = cases.map { item in Fiber.spawn(name: item.name, item.body) }
            let queued = Fiber.spawn(name: "queued") {}
            Fiber.yield()  // every case runs up to its park; "queued" ran and ended
            let late = Fiber.spawn(name: "late") {}  // spawned, not started: runnable
            let snapshots = Scheduler.current!.fiberSnapshots()
            let byName = Dictionary(snapshots.compactMap { s in s.name.map { ($0, s) } }, uniquingKeysWith: { a, _ in a })
            for item in cases {
                let snapshot = try XCTUnwrap(byName[item.name], item.name)
                XCTAssertEqual(snapshot.state, .parked, item.name)
                XCTAssertEqual(snapshot.waitReason, item.waiting, item.name)
                XCTAssertEqual(snapshot.timer != nil, item.timer, item.name)
                XCTAssertGreaterThan(snapshot.stackHighWaterBytes, 0, item.name)
                XCTAssertLessThan(snapshot.stackHighWaterBytes, snapshot.stackSize, item.name)
            }
            XCTAssertEqual(byName["blocker"]?.waitReason, .event)
            XCTAssertEqual(byName["late"]?.state, .runnable)
            XCTAssertNil(byName["late"]?.waitReason)
            XCTAssertNil(byName["queued"], "a finished fiber is not listed")
            XCTAssertEqual(snapshots.map(\.id), snapshots.map(\.id).sorted())
            let main = try XCTUnwrap(snapshots.first { $0.id == Fiber.current!.id })
            XCTAssertEqual(main.state, .running)
            // Release everyone.
            for handle in handles { handle.cancel() }
            mutex.unlock()
            event.set()
            group.done()
            try channel.send(1)
            for handle in handles { _ = try? handle.join() }
            try late.join()
            try queued.join()
        }
    }
}
