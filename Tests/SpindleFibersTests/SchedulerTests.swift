// The scheduler: run's result and errors, waiting for every fiber, timers (sleep ordering and
// bounds, timer removal), cross-thread submit while idle, stack reuse.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleFibers
import SpindleMemory
import SpindleTestSupport
import Synchronization
import XCTest

final class SchedulerTests: XCTestCase {
    // MARK: - run

    func testRunReturnsTheBodysValue() {
        XCTAssertEqual(Scheduler.run { 17 }, 17)
        XCTAssertEqual(Scheduler.run { "text" }, "text")
    }

    func testRunRethrowsTheBodysError() {
        XCTAssertThrows(TestError.boom(11), try Scheduler.run { () throws -> Int in
            Fiber.yield()
            throw TestError.boom(11)
        })
        // Typed throws are kept.
        do {
            try Scheduler.run { () throws(TestError) in throw TestError.other("typed") }
            XCTFail("expected a throw")
        } catch {
            XCTAssertEqual(error, TestError.other("typed"))  // `error` is a TestError
        }
    }

    func testRunWaitsForEveryFiber() {
        let log = Log()
        Scheduler.run {
            for i in 0..<5 {
                Fiber.spawn {
                    try Fiber.sleep(for: .milliseconds(5 * (5 - i)))
                    log("slept \(i)")
                    Fiber.spawn {  // a grandchild spawned late must be waited for too
                        Fiber.yield()
                        log("grandchild \(i)")
                    }
                }
            }
            log("body returns")
        }
        XCTAssertEqual(log.entries.first, "body returns")
        XCTAssertEqual(log.entries.count, 11)
        XCTAssertEqual(Set(log.entries.dropFirst()), Set((0..<5).flatMap { ["slept \($0)", "grandchild \($0)"] }))
        XCTAssertNil(Scheduler.current, "the scheduler is detached once run returns")
    }

    // MARK: - The loop turn's clock

    /// `Deadline.runNow` is read once per loop turn: a fiber that keeps the CPU while the coarse
    /// clock moves on gets the same value; after a sleep (a new turn) a value no older than the
    /// time it went to sleep.
    func testRunNowIsTheLoopTurnsCoarseTime() throws {
        try Scheduler.run {
            let first = Deadline.runNow
            let giveUp = Deadline.now + .seconds(3)
            while Deadline.coarseNow < first + .milliseconds(30) && Deadline.now < giveUp {}  // no park
            XCTAssertGreaterThanOrEqual(Deadline.coarseNow, first + .milliseconds(30), "the coarse clock moved on")
            XCTAssertEqual(Deadline.runNow, first, "the same turn")
            let beforeSleep = Deadline.coarseNow
            try Fiber.sleep(for: .milliseconds(1))
            XCTAssertGreaterThanOrEqual(Deadline.runNow, beforeSleep, "a new turn reads the clock")
        }
    }

    /// On a thread without a running scheduler (before one, and after it returned)
    /// `Deadline.runNow` is the coarse clock at every use.
    func testRunNowOutsideASchedulerFollowsTheClock() {
        func followsTheClock(_ when: String) {
            let first = Deadline.runNow
            let giveUp = Deadline.now + .seconds(3)
            while Deadline.coarseNow < first + .milliseconds(20) && Deadline.now < giveUp { usleep(1_000) }
            XCTAssertGreaterThanOrEqual(Deadline.runNow, first + .milliseconds(20), when)
        }
        followsTheClock("before a scheduler ran on this thread")
        Scheduler.run { _ = Deadline.runNow }
        followsTheClock("after Scheduler.run returned")
    }

    func testRunWaitsForFibersEvenWhenTheBodyThrows() {
        let log = Log()
        XCTAssertThrows(TestError.boom(1), try Scheduler.run { () throws in
            Fiber.spawn {
                try Fiber.sleep(for: .milliseconds(10))
                log("child finished")
            }
            throw TestError.boom(1)
        })
        XCTAssertEqual(log.entries, ["child finished"])
    }

    func testSchedulerCurrentAndCounters() throws {
        XCTAssertNil(Scheduler.current)
        let number = try Scheduler.run { () throws -> UInt64 in
            let scheduler = try XCTUnwrap(Scheduler.current)
            XCTAssertEqual(scheduler.liveFibers, 1, "the body runs as the first fiber")
            XCTAssertEqual(scheduler.spawnedFibers, 1)
            let handles = (0..<3).map { _ in Fiber.spawn { Fiber.yield() } }
            XCTAssertEqual(scheduler.liveFibers, 4)
            XCTAssertEqual(scheduler.spawnedFibers, 4)
            let switchesBefore = scheduler.switches
            for h in handles { try h.join() }
            XCTAssertEqual(scheduler.liveFibers, 1)
            XCTAssertGreaterThanOrEqual(scheduler.switches - switchesBefore, 6, "each fiber switched in at least twice")
            XCTAssertTrue(Scheduler.current === scheduler)
            return scheduler.number
        }
        // A second run gets a new scheduler with a new number.
        let next = Scheduler.run { Scheduler.current!.number }
        XCTAssertGreaterThan(next, number)
    }

    func testCustomStackConfiguration() throws {
        let configuration = Scheduler.Configuration(stacks: .init(stackSize: 64 << 10, initialCount: 2, maximumCount: 100))
        try Scheduler.run(configuration: configuration) {
            let scheduler = Scheduler.current!
            XCTAssertEqual(scheduler.stacks.configuration.stackSize, 64 << 10)
            XCTAssertEqual(scheduler.stacks.mapped, 2)
            let handles = (0..<50).map { i in Fiber.spawn { () -> Int in Fiber.yield(); return i } }
            XCTAssertEqual(try handles.map { try $0.join() }, Array(0..<50))
            XCTAssertEqual(scheduler.stacks.peakInUse, 51)
            XCTAssertLessThanOrEqual(scheduler.stacks.mapped, 100)
        }
    }

    func testStacksAreRecycled() throws {
        try Scheduler.run {
            let stacks = Scheduler.current!.stacks
            let mappedBefore = stacks.mapped
            for i in 0..<10_000 {
                let h = Fiber.spawn { i &* 2 }
                XCTAssertEqual(try h.join(), i &* 2)
            }
            XCTAssertEqual(stacks.mapped, mappedBefore, "sequential fibers reuse stacks")
            XCTAssertLessThanOrEqual(stacks.peakInUse, 2)
            XCTAssertEqual(stacks.inUse, 1)
        }
    }

    // MARK: - sleep and timers

    func testSleepWakesInDeadlineOrder() throws {
        try Scheduler.run {
            let log = Log()
            // 30 ms apart, so even a stalled machine starts all three sleeps before one is due.
            let handles = [90, 30, 60].map { ms in
                Fiber.spawn {
                    try Fiber.sleep(for: .milliseconds(ms))
                    log("\(ms)")
                }
            }
            for h in handles { try h.join() }
            XCTAssertEqual(log.entries, ["30", "60", "90"])
        }
    }

    func testManyAbsoluteDeadlinesWakeSorted() throws {
        // Deadlines from one base, spawned in shuffled order: the timer heap must hand them
        // back sorted, whatever the machine's timing.
        try Scheduler.run {
            var generator = SplitMix(seed: 42)
            let offsets = Array(0..<300).shuffled(using: &generator)
            let base = Deadline.now + .milliseconds(100)
            var woken: [Int] = []
            let handles = offsets.map { offset in
                Fiber.spawn {
                    try Fiber.sleep(until: base + .microseconds(offset * 100))
                    woken.append(offset)
                }
            }
            for h in handles { try h.join() }
            XCTAssertEqual(woken, Array(0..<300))
        }
    }

    func testSleepLastsAtLeastTheRequestedDuration() throws {
        try Scheduler.run {
            for ms in [1, 20, 50] {
                let start = Deadline.now
                try Fiber.sleep(for: .milliseconds(ms))
                let elapsed = milliseconds(since: start)
                XCTAssertGreaterThanOrEqual(elapsed, Double(ms), "sleep(\(ms) ms) returned early")
                XCTAssertLessThan(elapsed, 2_000, "sleep(\(ms) ms) took far too long")
            }
        }
    }

    func testSleepUntilDeadlineInThePastYields() throws {
        try Scheduler.run {
            let log = Log()
            let other = Fiber.spawn { log("other") }
            try Fiber.sleep(until: Deadline.now + .milliseconds(-5))
            log("main")
            try Fiber.sleep(for: .zero)
            try other.join()
            XCTAssertEqual(log.entries, ["other", "main"], "a past deadline yields once")
        }
    }

    func testSleepingFiberDoesNotBlockOthers() throws {
        try Scheduler.run {
            var ticks = 0
            let sleeper = Fiber.spawn { () throws -> Int in
                try Fiber.sleep(for: .milliseconds(300))
                return ticks
            }
            let ticker = Fiber.spawn {
                for _ in 0..<5 {
                    try Fiber.sleep(for: .milliseconds(1))
                    ticks += 1
                }
            }
            try ticker.join()
            XCTAssertEqual(ticks, 5)
            XCTAssertGreaterThanOrEqual(try sleeper.join(), 5, "the ticker ran while the sleeper slept")
        }
    }

    func testTimerRemovedWhenSleepIsCancelled() throws {
        // If the cancelled 30 ms timer stayed armed, it would later end the unrelated park
        // below with `.timedOut` instead of the `.ready` its waker gives.
        try Scheduler.run {
            let start = Deadline.now
            let parked = Box<Fiber?>(nil)
            let sleeper = Fiber.spawn { () -> WakeReason in
                do {
                    try Fiber.sleep(for: .milliseconds(30))
                    XCTFail("the sleep was cancelled")
                } catch {
                    XCTAssertTrue(error is CancellationError, "\(error)")
                }
                parked.value = Fiber.current
                return Fiber.park(cancellable: false)
            }
            Fiber.yield()  // the sleeper is now asleep
            sleeper.cancel()
            Fiber.yield()  // it catches CancellationError and parks without a timer
            XCTAssertNotNil(parked.value)
            try Fiber.sleep(for: .milliseconds(100))  // well past the cancelled timer's deadline
            XCTAssertFalse(sleeper.isFinished, "nothing may wake the fiber but its waker")
            XCTAssertTrue(Scheduler.current!.unpark(parked.value!, with: .ready))
            XCTAssertEqual(try sleeper.join(), .ready)
            XCTAssertGreaterThanOrEqual(milliseconds(since: start), 100)
        }
    }

    func testTimerRemovedWhenWaitEndsEarly() throws {
        try Scheduler.run {
            let event = Event()
            let parked = Box<Fiber?>(nil)
            let waiter = Fiber.spawn { () throws -> WakeReason in
                try event.wait(deadline: .after(.milliseconds(30)))  // set long before the deadline
                parked.value = Fiber.current
                return Fiber.park(cancellable: false)
            }
            Fiber.yield()
            event.set()
            Fiber.yield()
            XCTAssertNotNil(parked.value, "the waiter got the event and parked again")
            try Fiber.sleep(for: .milliseconds(100))
            XCTAssertFalse(waiter.isFinished, "the stale 30 ms timer must not fire")
            XCTAssertTrue(Scheduler.current!.unpark(parked.value!, with: .ready))
            XCTAssertEqual(try waiter.join(), .ready)
        }
    }

    func testUnparkOfARunnableFiberIsRefused() throws {
        try Scheduler.run {
            let other = Fiber.spawn { Fiber.yield() }
            let scheduler = Scheduler.current!
            XCTAssertFalse(scheduler.unpark(other.fiber, with: .ready), "not parked: queued to run")
            XCTAssertFalse(scheduler.unpark(Fiber.current!, with: .ready), "the running fiber")
            try other.join()
            XCTAssertFalse(scheduler.unpark(other.fiber, with: .ready), "finished")
        }
    }

    func testParkWithDeadlineTimesOut() {
        Scheduler.run {
            let start = Deadline.now
            let reason = Fiber.park(cancellable: true, deadline: .after(.milliseconds(20)))
            XCTAssertEqual(reason, .timedOut)
            XCTAssertGreaterThanOrEqual(milliseconds(since: start), 20)
        }
    }

    // MARK: - submit from other threads

    func testSubmitFromAnotherThreadSpawnsAFiber() throws {
        let log = Log()
        try Scheduler.run {
            let scheduler = UncheckedSendable(Scheduler.current!)
            let done = Event()
            let shared = UncheckedSendable((log, done))
            let schedulerThread = pthread_self()
            let thread = OSThread {
                usleep(50_000)  // the scheduler is idle-waiting in the kernel by now
                let accepted = scheduler.value.submit {
                    XCTAssertTrue(pthread_equal(pthread_self(), schedulerThread) != 0, "submitted work runs on the scheduler thread")
                    XCTAssertNil(Fiber.current, "submitted work runs in the loop, outside fibers")
                    shared.value.0("submitted work")
                    Fiber.spawn {
                        shared.value.0("spawned fiber")
                        Fiber.yield()
                        shared.value.1.set()
                    }
                }
                XCTAssertTrue(accepted)
            }
            log("main waits")
            try done.wait()
            log("main woken")
            thread.join()
        }
        XCTAssertEqual(log.entries, ["main waits", "submitted work", "spawned fiber", "main woken"])
    }

    func testSubmitFromAnotherThreadSetsAnEvent() throws {
        try Scheduler.run {
            let scheduler = UncheckedSendable(Scheduler.current!)
            let event = Event()
            let sendableEvent = UncheckedSendable(event)
            let start = Deadline.now
            let cpuStart = threadCPUTime()
            let thread = OSThread {
                usleep(200_000)
                scheduler.value.submit { sendableEvent.value.set() }
            }
            try event.wait()
            let cpu = threadCPUTime() - cpuStart
            XCTAssertTrue(event.isSet)
            XCTAssertGreaterThanOrEqual(milliseconds(since: start), 200)
            // Waiting in the kernel, not spinning: the scheduler thread used little CPU while idle.
            XCTAssertLessThan(cpu, 100, "the idle scheduler thread burned \(cpu) ms of CPU in 200 ms")
            thread.join()
        }
    }

    func testSubmitFromSeveralThreadsRunsEveryItemOnce() throws {
        let threads = 4, perThread = 500
        let total = try Scheduler.run { () throws -> Int in
            let scheduler = UncheckedSendable(Scheduler.current!)
            let group = WaitGroup()
            group.add(threads * perThread)
            let counter = Box(0)
            let shared = UncheckedSendable((group, counter))
            let workers = (0..<threads).map { _ in
                OSThread {
                    for _ in 0..<perThread {
                        scheduler.value.submit {
                            shared.value.1.value += 1  // on the scheduler thread: no race
                            shared.value.0.done()
                        }
                        if Int.random(in: 0..<50) == 0 { usleep(200) }  // let the loop go idle now and then
                    }
                }
            }
            try group.wait()
            for w in workers { w.join() }
            return counter.value
        }
        XCTAssertEqual(total, threads * perThread)
    }

    func testSubmitAfterTheSchedulerStoppedIsRefused() {
        let scheduler = Scheduler.run { Scheduler.current! }
        XCTAssertFalse(scheduler.submit { XCTFail("work submitted to a stopped scheduler ran") })
    }

    func testSubmitNeverAcceptsWorkThatWillNotRun() {
        // `submit` returns true only for work that will run. A thread submits to schedulers
        // that finish quickly one after another; every accepted item must have run by the time
        // its scheduler's `run` returned (rejected ones are fine: that scheduler had stopped).
        final class Shared: @unchecked Sendable {
            // @unchecked Sendable: every field is a Mutex or an Atomic.
            let current = Mutex<Scheduler?>(nil)
            let accepted = Atomic<Int>(0)
            let ran = Atomic<Int>(0)
            let stop = Atomic<Bool>(false)
        }
        let shared = Shared()
        let submitter = OSThread {
            var target: ObjectIdentifier? = nil
            var sent = 0
            while !shared.stop.load(ordering: .relaxed) {
                guard let scheduler = shared.current.withLock({ $0 }) else { continue }
                if ObjectIdentifier(scheduler) != target { target = ObjectIdentifier(scheduler); sent = 0 }
                guard sent < 100 else { continue }
                sent += 1
                if scheduler.submit({ shared.ran.add(1, ordering: .relaxed) }) {
                    shared.accepted.add(1, ordering: .relaxed)
                }
            }
        }
        let start = Deadline.now
        var runs = 0
        while milliseconds(since: start) < 1_000 {
            runs += 1
            Scheduler.run {
                shared.current.withLock { $0 = Scheduler.current }
                Fiber.yield()
            }
            shared.current.withLock { $0 = nil }
        }
        shared.stop.store(true, ordering: .relaxed)
        submitter.join()
        let accepted = shared.accepted.load(ordering: .relaxed), ran = shared.ran.load(ordering: .relaxed)
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertEqual(accepted, ran, "\(accepted - ran) submitted items were accepted (submit returned true) but never ran, over \(runs) scheduler runs")
    }

    func testSubmittedWorkCanCancelAFiber() throws {
        try Scheduler.run {
            let scheduler = UncheckedSendable(Scheduler.current!)
            let sleeper = Fiber.spawn { try Fiber.sleep(for: .seconds(60)) }
            let fiber = UncheckedSendable(sleeper.fiber)
            let start = Deadline.now
            let thread = OSThread {
                usleep(20_000)
                scheduler.value.submit { fiber.value.cancel() }
            }
            XCTAssertThrowsCancellation(try sleeper.join())
            XCTAssertLessThan(milliseconds(since: start), 5_000)
            thread.join()
        }
    }
}

/// CPU time consumed by the calling thread, in milliseconds.
func threadCPUTime() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
}
