// Scheduler.fiberSnapshots(): each parked fiber with what it waits for, its timer, its state;
// Scheduler.fiberStateCounts(): the same fibers counted by state and wait reason.
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

    /// The counts without snapshots agree with the snapshots, fiber for fiber: two sleepers,
    /// three fibers on an event, one on a channel, two spawned and not started, and the main
    /// fiber running.
    func testStateCountsAgreeWithTheSnapshots() throws {
        try Scheduler.run {
            let event = Event()
            let channel = Channel<Int>(capacity: 1)
            var handles: [FiberHandle<Void>] = []
            for _ in 0..<2 { handles.append(Fiber.spawn { try Fiber.sleep(for: .seconds(30)) }) }
            for _ in 0..<3 { handles.append(Fiber.spawn { try event.wait() }) }
            handles.append(Fiber.spawn { _ = try channel.receive() })
            Fiber.yield()  // each runs up to its park
            let late = (0..<2).map { _ in Fiber.spawn {} }  // spawned, not started: runnable
            let scheduler = Scheduler.current!
            let counts = scheduler.fiberStateCounts()
            let snapshots = scheduler.fiberSnapshots()
            XCTAssertEqual(counts.running, 1)
            XCTAssertEqual(counts.runnable, 2)
            XCTAssertEqual(counts.parked(waitingFor: .sleep), 2)
            XCTAssertEqual(counts.parked(waitingFor: .event), 3)
            XCTAssertEqual(counts.parked(waitingFor: .channel), 1)
            XCTAssertEqual(counts.parked, 6)
            XCTAssertEqual(counts.running, snapshots.filter { $0.state == .running }.count)
            XCTAssertEqual(counts.runnable, snapshots.filter { $0.state == .runnable }.count)
            for reason in FiberWaitReason.allCases {
                XCTAssertEqual(counts.parked(waitingFor: reason), snapshots.filter { $0.waitReason == reason }.count, reason.name)
            }
            var doubled = counts
            doubled.add(counts)
            XCTAssertEqual(doubled.parked, 12)
            XCTAssertEqual(doubled.runnable, 4)
            for handle in handles { handle.cancel() }
            event.set()
            try channel.send(1)
            for handle in handles { _ = try? handle.join() }
            for handle in late { try handle.join() }
        }
    }
}
