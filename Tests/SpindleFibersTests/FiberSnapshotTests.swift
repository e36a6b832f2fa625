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

    /// A fiber that went deep (about 40 KiB of frames) and parked near its stack's top: its
    /// high-water shows the deep pages; `releaseParkedStackPages` gives them back (the high-water
    /// drops to within the pages it is parked on), once per park (a second call releases
    /// nothing), and the fiber, resumed, goes as deep again on fresh zero pages and computes the
    /// same result.
    func testParkedFibersGiveBackTheStackBelowWhereTheyWait() throws {
        try Scheduler.run {
            let parked = Event()
            let resume = Event()
            let expected = stackHungryChecksum(depth: 64)
            let deep = Fiber.spawn(name: "deep") { () throws -> UInt64 in
                let first = stackHungryChecksum(depth: 64)
                parked.set()
                try resume.wait()
                return first &+ stackHungryChecksum(depth: 64)
            }
            try parked.wait()
            Fiber.yield()  // "deep" is parked in resume.wait()
            let scheduler = Scheduler.current!
            func highWater() throws -> Int {
                try XCTUnwrap(scheduler.fiberSnapshots().first { $0.name == "deep" }).stackHighWaterBytes
            }
            let before = try highWater()
            XCTAssertGreaterThan(before, 32 << 10, "the deep calls reached \(before) bytes")
            XCTAssertEqual(scheduler.releaseParkedStackPages(atMost: 0), 0, "a batch of none releases nothing")
            XCTAssertEqual(try highWater(), before)
            let released = scheduler.releaseParkedStackPages()
            XCTAssertGreaterThanOrEqual(released, before - 8192, "released \(released) of \(before)")
            let after = try highWater()
            XCTAssertLessThan(after, 8192, "parked, the fiber keeps only its top pages (\(after) bytes)")
            XCTAssertEqual(scheduler.releaseParkedStackPages(), 0, "each park is handled once")
            resume.set()
            XCTAssertEqual(try deep.join(), expected &* 2)
        }
    }
}

/// Calls itself `depth` times, each frame holding 512 bytes written through a pointer (so they
/// are on the stack, not in registers); returns a sum of them all.
@inline(never)
private func stackHungryChecksum(depth: Int) -> UInt64 {
    var block = SIMD64<UInt64>(repeating: UInt64(depth) &* 0x9E37_79B9 | 1)
    let sum = withUnsafeMutableBytes(of: &block) { scribble($0, seed: UInt64(depth)) }
    return depth == 0 ? sum : sum &+ stackHungryChecksum(depth: depth - 1)
}

@inline(never)
private func scribble(_ bytes: UnsafeMutableRawBufferPointer, seed: UInt64) -> UInt64 {
    let words = bytes.bindMemory(to: UInt64.self)
    var sum: UInt64 = 0
    for i in words.indices {
        words[i] = words[i] &* 31 &+ seed &+ UInt64(i)
        sum &+= words[i]
    }
    return sum
}
