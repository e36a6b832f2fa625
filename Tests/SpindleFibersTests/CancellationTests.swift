// Cancellation: a fiber parked in sleep, channel receive/send, join, event wait or waitgroup
// wait throws CancellationError; cancelling before it parks; checkCancellation; what cancel
// does not interrupt.
import SpindleFibers
import SpindleTestSupport
import XCTest

final class CancellationTests: XCTestCase {
    /// Spawns `body`, lets it park, cancels it, and checks it ended with CancellationError soon
    /// (long before the 60 s its wait would otherwise take).
    private func assertCancelsWhileParked(
        file: StaticString = #filePath, line: UInt = #line,
        _ body: @escaping () throws -> Void
    ) throws {
        try Scheduler.run {
            let log = Log()
            let handle = Fiber.spawn {
                log("parking")
                do {
                    try body()
                    log("returned")
                } catch is CancellationError {
                    log("cancelled")
                    XCTAssertTrue(Fiber.isCancelled, file: file, line: line)
                    throw CancellationError()
                }
            }
            Fiber.yield()
            XCTAssertEqual(log.entries, ["parking"], file: file, line: line)
            XCTAssertFalse(handle.isFinished, file: file, line: line)
            let start = Deadline.now
            handle.cancel()
            XCTAssertTrue(handle.fiber.isCancelled, file: file, line: line)
            XCTAssertThrowsCancellation(try handle.join(), file: file, line: line)
            XCTAssertEqual(log.entries, ["parking", "cancelled"], file: file, line: line)
            XCTAssertLessThan(milliseconds(since: start), 5_000, file: file, line: line)
        }
    }

    func testCancelSleepingFiber() throws {
        try assertCancelsWhileParked { try Fiber.sleep(for: .seconds(60)) }
    }

    func testCancelFiberParkedInChannelReceive() throws {
        let channel = Channel<Int>(capacity: 4)
        try assertCancelsWhileParked { _ = try channel.receive() }
    }

    func testCancelFiberParkedInChannelReceiveWithDeadline() throws {
        let channel = Channel<Int>.unbounded()
        try assertCancelsWhileParked { _ = try channel.receive(deadline: .after(.seconds(60))) }
    }

    func testCancelFiberParkedInChannelSend() throws {
        let channel = Channel<Int>(capacity: 1)
        try assertCancelsWhileParked {
            try channel.send(1)
            try channel.send(2)  // full: parks
        }
        XCTAssertEqual(channel.count, 1, "the cancelled send did not enqueue")
    }

    func testCancelFiberParkedInJoin() throws {
        let release = Event()
        try Scheduler.run {
            let target = Fiber.spawn { () throws -> Int in
                try release.wait()
                return 1
            }
            let joiner = Fiber.spawn { try target.join() }
            Fiber.yield()
            joiner.cancel()
            XCTAssertThrowsCancellation(try joiner.join())
            XCTAssertFalse(target.isFinished, "cancelling the joiner does not touch the target")
            XCTAssertFalse(target.fiber.isCancelled)
            release.set()
            XCTAssertEqual(try target.join(), 1)
        }
    }

    func testCancelFiberParkedInEventWait() throws {
        let event = Event()
        try assertCancelsWhileParked { try event.wait() }
        XCTAssertFalse(event.isSet)
    }

    func testCancelFiberParkedInEventWaitWithDeadline() throws {
        let event = Event()
        try assertCancelsWhileParked { try event.wait(deadline: .after(.seconds(60))) }
    }

    func testCancelFiberParkedInWaitGroupWait() throws {
        let group = WaitGroup()
        group.add(1)
        try assertCancelsWhileParked { try group.wait() }
        XCTAssertEqual(group.count, 1)
    }

    func testCancelOneOfSeveralWaitersLeavesTheOthersWaiting() throws {
        try Scheduler.run {
            let event = Event()
            var woken: [Int] = []
            let waiters = (0..<3).map { i in
                Fiber.spawn {
                    try event.wait()
                    woken.append(i)
                }
            }
            Fiber.yield()
            waiters[1].cancel()
            XCTAssertThrowsCancellation(try waiters[1].join())
            event.set()
            try waiters[0].join()
            try waiters[2].join()
            XCTAssertEqual(woken, [0, 2])
        }
    }

    func testCancelBeforeTheFiberRuns() throws {
        try Scheduler.run {
            let log = Log()
            let handle = Fiber.spawn {
                log("started, cancelled=\(Fiber.isCancelled)")
                try Fiber.sleep(for: .seconds(60))
                log("slept")
            }
            handle.cancel()  // still queued, never ran
            XCTAssertThrowsCancellation(try handle.join())
            XCTAssertEqual(log.entries, ["started, cancelled=true"])
        }
    }

    func testCancelledFiberRunsOnUntilItWaits() throws {
        try Scheduler.run {
            let log = Log()
            let handle = Fiber.spawn {
                log("a")
                Fiber.yield()  // yield is not a cancellation point
                log("b, cancelled=\(Fiber.isCancelled)")
                var sum = 0
                for i in 0..<1_000 { sum += i }
                log("sum \(sum)")
                let event = Event()
                event.set()
                try event.wait()  // set: returns without parking
                log("event")
                try Fiber.sleep(for: .milliseconds(1))
                log("never")
            }
            Fiber.yield()
            handle.cancel()
            XCTAssertThrowsCancellation(try handle.join())
            XCTAssertEqual(log.entries, ["a", "b, cancelled=true", "sum 499500", "event"])
        }
    }

    func testEveryCancellableWaitThrowsOnceCancelled() throws {
        try Scheduler.run {
            let handle = Fiber.spawn { () -> [String] in
                var outcomes: [String] = []
                func attempt(_ name: String, _ body: () throws -> Void) {
                    do { try body(); outcomes.append("\(name): returned") }
                    catch is CancellationError { outcomes.append("\(name): cancelled") }
                    catch { outcomes.append("\(name): \(error)") }
                }
                Fiber.current!.cancel()  // a fiber may cancel itself
                let channel = Channel<Int>(capacity: 1)
                let full = Channel<Int>(capacity: 1)
                _ = full.trySend(0)
                let group = WaitGroup()
                group.add()
                let other = Fiber.spawn { }
                attempt("check") { try Fiber.checkCancellation() }
                attempt("sleep") { try Fiber.sleep(for: .seconds(60)) }
                attempt("receive") { _ = try channel.receive() }
                attempt("send") { try full.send(1) }
                attempt("event") { try Event().wait() }
                attempt("group") { try group.wait() }
                attempt("join") { try other.join() }
                return outcomes
            }
            XCTAssertEqual(try handle.join(), [
                "check: cancelled", "sleep: cancelled", "receive: cancelled", "send: cancelled",
                "event: cancelled", "group: cancelled", "join: cancelled",
            ])
        }
    }

    func testCheckCancellation() throws {
        try Scheduler.run {
            XCTAssertNoThrow(try Fiber.checkCancellation())
            XCTAssertFalse(Fiber.isCancelled)
            let handle = Fiber.spawn { () throws -> Int in
                var rounds = 0
                while true {
                    try Fiber.checkCancellation()
                    rounds += 1
                    if rounds == 1_000_000 { return rounds }
                    Fiber.yield()
                }
            }
            for _ in 0..<5 { Fiber.yield() }
            handle.cancel()
            XCTAssertThrowsCancellation(try handle.join())
        }
        XCTAssertFalse(Fiber.isCancelled, "false outside fibers")
        XCTAssertNoThrow(try Fiber.checkCancellation(), "no-op outside fibers")
    }

    func testCancelIsIdempotentAndIgnoredOnceFinished() throws {
        try Scheduler.run {
            let finished = Fiber.spawn { 3 }
            XCTAssertEqual(try finished.join(), 3)
            finished.cancel()
            XCTAssertFalse(finished.fiber.isCancelled, "cancelling a finished fiber does nothing")
            XCTAssertEqual(try finished.join(), 3)

            let sleeper = Fiber.spawn { try Fiber.sleep(for: .seconds(60)) }
            Fiber.yield()
            sleeper.cancel()
            sleeper.cancel()
            XCTAssertThrowsCancellation(try sleeper.join())
        }
    }

    func testMutexWaitIsNotCancellable() throws {
        try Scheduler.run {
            let mutex = FiberMutex()
            let log = Log()
            mutex.lock()
            let waiter = Fiber.spawn {
                mutex.withLock { log("locked, cancelled=\(Fiber.isCancelled)") }
            }
            Fiber.yield()
            waiter.cancel()
            try Fiber.sleep(for: .milliseconds(5))
            XCTAssertEqual(log.entries, [], "still waiting for the lock")
            mutex.unlock()
            try waiter.join()
            XCTAssertEqual(log.entries, ["locked, cancelled=true"])
        }
    }

    func testCancelledFiberCanCatchAndCleanUp() throws {
        try Scheduler.run {
            let log = Log()
            let handle = Fiber.spawn { () -> String in
                defer { log("defer ran") }
                do {
                    try Fiber.sleep(for: .seconds(60))
                    return "slept"
                } catch {
                    log("caught \(type(of: error))")
                    Fiber.yield()  // still usable after cancellation
                    return "cleaned up"
                }
            }
            Fiber.yield()
            handle.cancel()
            XCTAssertEqual(try handle.join(), "cleaned up")
            XCTAssertEqual(log.entries, ["caught CancellationError", "defer ran"])
        }
    }
}
