// Fiber.offload: blocking work on the offload pool's threads while only the calling fiber parks.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import Synchronization
import XCTest

enum OffloadFailure: Error, Equatable {
    case boom(Int)
}

final class OffloadTests: IOTestCase {
    /// The closure's value comes back to the fiber, computed on another OS thread.
    func testResultReturnedFromAnotherThread() throws {
        let result = try onWorker { _ -> (Int, Bool) in
            let workerThread = pthread_self()
            let (value, thread) = try Fiber.offload { (6 * 7, pthread_self()) }
            return (value, thread != workerThread)
        }
        XCTAssertEqual(result.0, 42)
        XCTAssertTrue(result.1, "offloaded work ran on the worker thread")
    }

    /// The closure's error is rethrown unchanged.
    func testErrorRethrown() throws {
        let caught = try onWorker { _ -> OffloadFailure? in
            do {
                _ = try Fiber.offload { () throws -> Int in throw OffloadFailure.boom(7) }
                return nil
            } catch let error as OffloadFailure {
                return error
            }
        }
        XCTAssertEqual(caught, .boom(7))
    }

    /// While one fiber's offloaded work sleeps 300 ms (usleep: the thread is blocked), another
    /// fiber on the same worker keeps running.
    func testParksOnlyTheFiber() throws {
        let ticks = try onWorker { _ -> Int in
            var ticks = 0
            var done = false
            let ticker = Fiber.spawn {
                while !done {
                    try Fiber.sleep(for: .milliseconds(5))
                    ticks += 1
                }
            }
            let start = Deadline.now
            let value = try Fiber.offload { usleep(300_000); return 1 }
            XCTAssertEqual(value, 1)
            XCTAssertGreaterThanOrEqual(milliseconds(since: start), 300)
            done = true
            try ticker.wait()
            return ticks
        }
        // 300 ms / 5 ms = 60 ticks if the worker is never held up; a blocked worker gives ≤ 1.
        XCTAssertGreaterThanOrEqual(ticks, 5)
    }

    /// The offloaded closure blocks its thread until a *fiber on the same worker* releases it:
    /// this can only finish if the worker thread keeps running fibers meanwhile.
    func testOffloadedWorkWaitsForAnotherFiber() throws {
        let released = try onWorker { _ -> Bool in
            let gate = DispatchSemaphore(value: 0)
            let opener = Fiber.spawn {
                try Fiber.sleep(for: .milliseconds(20))
                gate.signal()
            }
            let released = try Fiber.offload { gate.wait(timeout: .now() + 5) == .success }
            try opener.wait()
            return released
        }
        XCTAssertTrue(released)
    }

    /// A pool with one thread and a queue of one: one job running, one queued, the third is
    /// rejected with OffloadRejectedError at once; the first two still complete.
    func testQueueFullRejects() throws {
        let outcome = try onWorker { _ -> [String] in
            let pool = OffloadPool(configuration: .init(threads: 1, queueLimit: 1))
            let gate = DispatchSemaphore(value: 0)
            let running = Atomic<Bool>(false)
            var log: [String] = []
            let first = Fiber.spawn { () throws -> Int in
                try Fiber.offload(pool: pool) {
                    running.store(true, ordering: .releasing)
                    return gate.wait(timeout: .now() + 10) == .success ? 1 : -1
                }
            }
            while !running.load(ordering: .acquiring) { try Fiber.sleep(for: .milliseconds(1)) }
            let second = Fiber.spawn { () throws -> Int in try Fiber.offload(pool: pool) { 2 } }
            Fiber.yield()  // the second fiber has queued its job (it is parked now)
            // "At once" is that the calling fiber never parked: a fiber made ready just before
            // the call has not run when the call returns. (A time bound alone fails when the
            // worker thread is merely preempted on a loaded machine.)
            var othersRan = false
            Fiber.spawn { othersRan = true }
            let start = Deadline.now
            do {
                _ = try Fiber.offload(pool: pool) { 3 }
                log.append("third accepted")
            } catch let error as OffloadRejectedError {
                let took = milliseconds(since: start)
                log.append("rejected limit=\(error.queueLimit)")
                log.append(error.description.contains("offload queue full (1 waiting)") ? "described" : error.description)
                log.append(!othersRan && took < 2_000 ? "at once" : "slow (parked: \(othersRan), \(Int(took)) ms)")
            }
            gate.signal()
            log.append("first=\(try first.join())")
            log.append("second=\(try second.join())")
            // The pool accepts again once its queue has drained.
            log.append("again=\(try Fiber.offload(pool: pool) { 4 })")
            return log
        }
        XCTAssertEqual(outcome, ["rejected limit=1", "described", "at once", "first=1", "second=2", "again=4"])
    }

    /// `OffloadPool.statistics` (what the metrics export) while one job runs, one waits and one
    /// is refused, and after they are done.
    func testStatisticsCountQueuedRunningCompletedAndRejectedJobs() throws {
        let snapshots = try onWorker { _ -> [OffloadPool.Statistics] in
            let pool = OffloadPool(configuration: .init(threads: 1, queueLimit: 1))
            let gate = DispatchSemaphore(value: 0)
            let running = Atomic<Bool>(false)
            var snapshots = [pool.statistics]
            let first = Fiber.spawn { () throws -> Int in
                try Fiber.offload(pool: pool) {
                    running.store(true, ordering: .releasing)
                    return gate.wait(timeout: .now() + 10) == .success ? 1 : -1
                }
            }
            while !running.load(ordering: .acquiring) { try Fiber.sleep(for: .milliseconds(1)) }
            let second = Fiber.spawn { () throws -> Int in try Fiber.offload(pool: pool) { 2 } }
            Fiber.yield()  // the second fiber has queued its job
            _ = try? Fiber.offload(pool: pool) { 3 }  // refused: the queue is full
            snapshots.append(pool.statistics)
            gate.signal()
            _ = try first.join()
            _ = try second.join()
            // A job's result reaches its fiber just before the thread counts it finished.
            let end = Deadline.now + .seconds(5)
            while pool.statistics.completed < 2 && Deadline.now < end { try Fiber.sleep(for: .milliseconds(1)) }
            snapshots.append(pool.statistics)
            return snapshots
        }
        // The counts (the times have a test of their own below).
        let counts = snapshots.map { OffloadPool.Statistics(queued: $0.queued, running: $0.running, completed: $0.completed, rejected: $0.rejected) }
        XCTAssertEqual(counts, [
            OffloadPool.Statistics(queued: 0, running: 0, completed: 0, rejected: 0),
            OffloadPool.Statistics(queued: 1, running: 1, completed: 0, rejected: 1),
            OffloadPool.Statistics(queued: 0, running: 0, completed: 2, rejected: 1),
        ])
    }

    /// Cancelling a fiber while its work is offloaded: it still waits for the work (which cannot
    /// be interrupted); a successful result is returned, a failure becomes CancellationError;
    /// the fiber stays cancelled afterwards. The work waits on a gate the test opens only after
    /// cancelling, so a slow machine cannot let it finish first.
    func testCancellationWhileOffloaded() throws {
        let outcome = try onWorker { _ -> [String] in
            var log: [String] = []
            let gate = DispatchSemaphore(value: 0)
            let started = Atomic<Int>(0)
            let released = Atomic<Bool>(false)
            let succeeding = Fiber.spawn { () throws -> String in
                let value = try Fiber.offload { () -> Int in
                    started.add(1, ordering: .releasing)
                    return gate.wait(timeout: .now() + 10) == .success ? 5 : -1
                }
                let afterWork = released.load(ordering: .acquiring) ? "after the work" : "before the work"
                do { try Fiber.sleep(for: .milliseconds(1)) } catch is CancellationError { return "\(value * 10) \(afterWork)" }
                return "\(value) \(afterWork)"
            }
            let failingReturnedAfterTheWork = Atomic<Bool>(false)
            let failing = Fiber.spawn { () throws -> Int in
                defer { failingReturnedAfterTheWork.store(released.load(ordering: .acquiring), ordering: .releasing) }
                return try Fiber.offload { () throws -> Int in
                    started.add(1, ordering: .releasing)
                    _ = gate.wait(timeout: .now() + 10)
                    throw OffloadFailure.boom(1)
                }
            }
            let end = Deadline.now + .seconds(10)
            while started.load(ordering: .acquiring) < 2 && Deadline.now < end { try Fiber.sleep(for: .milliseconds(1)) }
            succeeding.cancel()
            failing.cancel()
            // Cancelled fibers keep waiting for their work: give them time to return early if
            // they wrongly would, then let the work finish.
            try Fiber.sleep(for: .milliseconds(30))
            released.store(true, ordering: .releasing)
            gate.signal()
            gate.signal()
            // 5 returned by offload, then the next wait saw the cancellation: 50.
            log.append("succeeding=\(try succeeding.join())")
            do {
                log.append("failing=\(try failing.join())")
            } catch {
                log.append("failing threw \(type(of: error))")
            }
            log.append(failingReturnedAfterTheWork.load(ordering: .acquiring) ? "after the work" : "before the work")
            return log
        }
        XCTAssertEqual(outcome, ["succeeding=50 after the work", "failing threw CancellationError", "after the work"])
    }

    /// The statistics add up how long closures waited for a thread and how long they ran: two
    /// closures of 100 ms on one thread, queued together, ran 200 ms in all, and the second
    /// waited for the first (about 100 ms); the metrics export both.
    func testStatisticsAddUpQueueWaitAndRunTime() throws {
        let pool = OffloadPool(configuration: .init(threads: 1, queueLimit: 4))
        let statistics = try onWorker { _ -> OffloadPool.Statistics in
            let jobs = (0..<2).map { index in
                Fiber.spawn { () throws -> Int in try Fiber.offload(pool: pool) { usleep(100_000); return index } }
            }
            for job in jobs { _ = try job.join() }
            let end = Deadline.now + .seconds(5)
            while pool.statistics.completed < 2 && Deadline.now < end { try Fiber.sleep(for: .milliseconds(1)) }
            return pool.statistics
        }
        XCTAssertEqual(statistics.completed, 2)
        XCTAssertGreaterThanOrEqual(statistics.runNanoseconds, 200_000_000, "two closures of 100 ms each")
        XCTAssertLessThan(statistics.runNanoseconds, 2_000_000_000)
        XCTAssertGreaterThanOrEqual(statistics.queueWaitNanoseconds, 90_000_000, "the second waited for the first")
        XCTAssertLessThan(statistics.queueWaitNanoseconds, 2_000_000_000)
    }

    /// A fiber already cancelled when it calls Fiber.offload gets CancellationError at once, and
    /// its work is never queued (the pool's statistics count nothing).
    func testAFiberCancelledBeforeTheCallQueuesNothing() throws {
        let pool = OffloadPool(configuration: .init(threads: 1, queueLimit: 4))
        let ran = Atomic<Bool>(false)
        let outcome = try onWorker { _ -> String in
            let gate = Event()
            let offloading = Fiber.spawn { () throws -> Int in
                try? gate.wait()  // cancelled here; the cancellation stays requested
                return try Fiber.offload(pool: pool) { ran.store(true, ordering: .releasing); return 1 }
            }
            try Fiber.sleep(for: .milliseconds(10))
            offloading.cancel()
            do { return "returned \(try offloading.join())" } catch { return "\(type(of: error))" }
        }
        XCTAssertEqual(outcome, "CancellationError")
        XCTAssertFalse(ran.load(ordering: .acquiring), "the work of a cancelled fiber is not run")
        XCTAssertEqual(pool.statistics.completed, 0)
        XCTAssertEqual(pool.statistics.queued, 0)
    }

    /// Many fibers offloading at once (more than the pool has threads) all get their own result.
    func testManyConcurrentOffloads() throws {
        let results = try onWorker { _ -> [Int] in
            let pool = OffloadPool(configuration: .init(threads: 3, queueLimit: 1000))
            var results = [Int](repeating: -1, count: 200)
            let group = WaitGroup()
            for i in 0..<200 {
                group.add()
                Fiber.spawn {
                    defer { group.done() }
                    results[i] = (try? Fiber.offload(pool: pool) { usleep(100); return i * i }) ?? -2
                }
            }
            try group.wait()
            return results
        }
        XCTAssertEqual(results, (0..<200).map { $0 * $0 })
    }
}
