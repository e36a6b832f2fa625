// FiberMutex (exclusion across a critical section that parks, FIFO handoff, tryLock),
// WaitGroup, Event (set, reset, wait with deadline).
import SpindleFibers
import SpindleTestSupport
import XCTest

final class SyncTests: XCTestCase {
    // MARK: - FiberMutex

    func testMutexExcludesAcrossASleepingCriticalSection() throws {
        try Scheduler.run {
            let mutex = FiberMutex()
            let log = Log()
            var inside = 0
            var maxInside = 0
            let workers = (0..<5).map { i in
                Fiber.spawn {
                    mutex.lock()
                    inside += 1
                    maxInside = max(maxInside, inside)
                    log("enter \(i)")
                    try? Fiber.sleep(for: .milliseconds(3))  // parks while holding the lock
                    Fiber.yield()
                    log("exit \(i)")
                    inside -= 1
                    mutex.unlock()
                }
            }
            for w in workers { try w.join() }
            XCTAssertEqual(maxInside, 1)
            XCTAssertEqual(log.entries, (0..<5).flatMap { ["enter \($0)", "exit \($0)"] }, "FIFO handoff")
            XCTAssertFalse(mutex.isLocked)
        }
    }

    func testUnlockHandsTheLockToTheLongestWaiter() throws {
        try Scheduler.run {
            let mutex = FiberMutex()
            let log = Log()
            mutex.lock()
            let waiters = (0..<3).map { i in
                Fiber.spawn {
                    mutex.lock()
                    log("waiter \(i)")
                    mutex.unlock()
                }
            }
            Fiber.yield()  // all three wait now
            mutex.unlock()
            XCTAssertTrue(mutex.isLocked, "ownership went straight to waiter 0")
            XCTAssertFalse(mutex.tryLock(), "the unlocker cannot barge back in")
            mutex.lock()  // queues behind the three waiters
            log("main again")
            mutex.unlock()
            for w in waiters { try w.join() }
            XCTAssertEqual(log.entries, ["waiter 0", "waiter 1", "waiter 2", "main again"])
        }
    }

    func testTryLock() throws {
        try Scheduler.run {
            let mutex = FiberMutex()
            XCTAssertFalse(mutex.isLocked)
            XCTAssertTrue(mutex.tryLock())
            XCTAssertTrue(mutex.isLocked)
            let other = Fiber.spawn { mutex.tryLock() }
            XCTAssertEqual(try other.join(), false, "held by another fiber")
            mutex.unlock()
            XCTAssertFalse(mutex.isLocked)
            let again = Fiber.spawn { () -> Bool in
                let got = mutex.tryLock()
                if got { mutex.unlock() }
                return got
            }
            XCTAssertEqual(try again.join(), true)
        }
    }

    func testWithLockReturnsAndRethrowsAndAlwaysUnlocks() throws {
        try Scheduler.run {
            let mutex = FiberMutex()
            XCTAssertEqual(mutex.withLock { 5 }, 5)
            XCTAssertFalse(mutex.isLocked)
            XCTAssertThrows(TestError.boom(2), try mutex.withLock { () throws -> Int in
                Fiber.yield()
                throw TestError.boom(2)
            })
            XCTAssertFalse(mutex.isLocked, "unlocked after the throw")
        }
    }

    func testMutexProtectsAReadModifyWriteThatParks() throws {
        try Scheduler.run {
            let mutex = FiberMutex()
            var balance = 0
            let workers = (0..<20).map { _ in
                Fiber.spawn {
                    for _ in 0..<10 {
                        mutex.withLock {
                            let read = balance
                            Fiber.yield()  // without the lock, others would interleave here
                            balance = read + 1
                        }
                    }
                }
            }
            for w in workers { try w.join() }
            XCTAssertEqual(balance, 200)
        }
    }

    // MARK: - WaitGroup

    func testWaitGroupWaitsForAll() throws {
        try Scheduler.run {
            let group = WaitGroup()
            let log = Log()
            let base = Deadline.now + .milliseconds(20)
            for ms in [15, 5, 10] {
                group.add()
                Fiber.spawn {
                    defer { group.done() }
                    try Fiber.sleep(until: base + .milliseconds(ms))
                    log("done \(ms)")
                }
            }
            XCTAssertEqual(group.count, 3)
            try group.wait()
            XCTAssertEqual(group.count, 0)
            log("waited")
            XCTAssertEqual(log.entries, ["done 5", "done 10", "done 15", "waited"])
        }
    }

    func testWaitGroupAtZeroReturnsAtOnce() throws {
        try Scheduler.run {
            let group = WaitGroup()
            let log = Log()
            Fiber.spawn { log("other") }
            try group.wait()
            XCTAssertEqual(log.entries, [], "did not park")
            group.add(2)
            group.done()
            group.done()
            try group.wait()
            XCTAssertEqual(log.entries, [])
        }
    }

    func testWaitGroupWakesEveryWaiter() throws {
        try Scheduler.run {
            let group = WaitGroup()
            group.add(2)
            var woken: [Int] = []
            let waiters = (0..<3).map { i in
                Fiber.spawn {
                    try group.wait()
                    woken.append(i)
                }
            }
            Fiber.yield()
            group.done()
            Fiber.yield()
            XCTAssertEqual(woken, [], "count 1: still waiting")
            group.done()
            for w in waiters { try w.join() }
            XCTAssertEqual(woken, [0, 1, 2])
        }
    }

    func testWaitGroupCanBeReused() throws {
        try Scheduler.run {
            let group = WaitGroup()
            var total = 0
            for round in 1...3 {
                group.add(round)
                for _ in 0..<round {
                    Fiber.spawn {
                        Fiber.yield()
                        total += 1
                        group.done()
                    }
                }
                try group.wait()
            }
            XCTAssertEqual(total, 6)
        }
    }

    // MARK: - Event

    func testEventSetWakesAllWaitersInOrder() throws {
        try Scheduler.run {
            let event = Event()
            let log = Log()
            let waiters = (0..<3).map { i in
                Fiber.spawn {
                    log("wait \(i)")
                    try event.wait()
                    log("woke \(i)")
                }
            }
            Fiber.yield()
            XCTAssertFalse(event.isSet)
            log("set")
            event.set()
            XCTAssertTrue(event.isSet)
            for w in waiters { try w.join() }
            XCTAssertEqual(log.entries, ["wait 0", "wait 1", "wait 2", "set", "woke 0", "woke 1", "woke 2"])
        }
    }

    func testSetEventDoesNotParkUntilReset() throws {
        try Scheduler.run {
            let event = Event()
            let log = Log()
            event.set()
            Fiber.spawn { log("other") }
            try event.wait()
            try event.wait()
            XCTAssertEqual(log.entries, [], "a set event returns at once")
            event.reset()
            XCTAssertFalse(event.isSet)
            let waiter = Fiber.spawn {
                try event.wait()
                log("waiter woke")
            }
            Fiber.yield()
            XCTAssertEqual(log.entries, ["other"], "after reset, waits park again")
            event.set()
            try waiter.join()
            XCTAssertEqual(log.entries, ["other", "waiter woke"])
        }
    }

    func testEventResetBeforeTheWaiterRunsParksItAgain() throws {
        try Scheduler.run {
            let event = Event()
            let waiter = Fiber.spawn { () throws -> String in
                do {
                    try event.wait(deadline: .after(.milliseconds(30)))
                    return "woke"
                } catch is TimeoutError {
                    return "timed out"
                }
            }
            Fiber.yield()
            event.set()
            event.reset()  // the waiter was made runnable but re-checks the flag
            XCTAssertEqual(try waiter.join(), "timed out")
        }
    }

    func testEventWaitDeadline() throws {
        try Scheduler.run {
            let event = Event()
            let start = Deadline.now
            XCTAssertThrows(TimeoutError(), try event.wait(deadline: .after(.milliseconds(20))))
            let elapsed = milliseconds(since: start)
            XCTAssertGreaterThanOrEqual(elapsed, 20)
            XCTAssertLessThan(elapsed, 2_000)

            // Set before the deadline: returns without error.
            let setter = Fiber.spawn {
                try Fiber.sleep(for: .milliseconds(5))
                event.set()
            }
            XCTAssertNoThrow(try event.wait(deadline: .after(.seconds(10))))
            try setter.join()
            // A deadline in the past on a set event still returns at once.
            XCTAssertNoThrow(try event.wait(deadline: .after(.milliseconds(-1))))
        }
    }
}
