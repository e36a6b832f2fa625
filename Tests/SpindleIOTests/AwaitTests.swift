// Fiber.await: calling Swift concurrency (async functions, actors) from a fiber, which parks
// while the task runs on the concurrency pool.
import Dispatch
import Foundation
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import Synchronization
import XCTest

actor Tally {
    private var total = 0
    private var calls = 0

    func add(_ value: Int) -> Int {
        total += value
        calls += 1
        return total
    }

    var snapshot: (total: Int, calls: Int) { (total, calls) }
}

enum AwaitFailure: Error, Equatable {
    case failed(String)
}

final class AwaitTests: IOTestCase {
    /// `Task.sleep` for 20 ms then 42: the value comes back after ≥ 20 ms, and another fiber ran
    /// meanwhile (only the awaiting fiber parked).
    func testAwaitReturnsValueAndParksOnlyTheFiber() throws {
        let (value, elapsed, otherFiberRan) = try onWorker { _ -> (Int, Double, Bool) in
            var ran = false
            let other = Fiber.spawn { ran = true }
            let start = Deadline.now
            let value = try Fiber.await { () async throws -> Int in
                try await Task.sleep(for: .milliseconds(20))
                return 42
            }
            let elapsed = milliseconds(since: start)
            try other.wait()
            return (value, elapsed, ran)
        }
        XCTAssertEqual(value, 42)
        XCTAssertGreaterThanOrEqual(elapsed, 20)
        XCTAssertLessThan(elapsed, 2000)
        XCTAssertTrue(otherFiberRan)
    }

    /// Actor method calls from many fibers: every call happens exactly once, results are the
    /// actor's running totals.
    func testActorMethodCalls() throws {
        let tally = Tally()
        let (results, snapshot) = try onWorker { _ -> ([Int], Int) in
            var results: [Int] = []
            let group = WaitGroup()
            for i in 1...50 {
                group.add()
                Fiber.spawn {
                    defer { group.done() }
                    if let total = try? Fiber.await({ await tally.add(i) }) { results.append(total) }
                }
            }
            try group.wait()
            let total = try Fiber.await { await tally.snapshot.total }
            return (results, total)
        }
        XCTAssertEqual(results.count, 50)
        XCTAssertEqual(snapshot, 1275)
        XCTAssertEqual(results.max(), 1275)
        XCTAssertEqual(Set(results).count, 50, "each call saw a different running total")
    }

    /// An error thrown by the async operation is rethrown unchanged.
    func testErrorRethrown() throws {
        let caught = try onWorker { _ -> AwaitFailure? in
            do {
                _ = try Fiber.await { () async throws -> Int in
                    await Task.yield()
                    throw AwaitFailure.failed("from async")
                }
                return nil
            } catch let error as AwaitFailure {
                return error
            }
        }
        XCTAssertEqual(caught, .failed("from async"))
    }

    /// Cancelling the fiber cancels the task: Task.sleep(10 s) throws CancellationError inside
    /// the task promptly, and the fiber gets CancellationError.
    func testCancellationCancelsTheTask() throws {
        let taskSawCancellation = Atomic<Bool>(false)
        let (outcome, elapsed) = try onWorker { _ -> (String, Double) in
            let awaiting = Fiber.spawn { () throws -> Int in
                try Fiber.await { () async throws -> Int in
                    do {
                        try await Task.sleep(for: .seconds(10))
                    } catch is CancellationError {
                        taskSawCancellation.store(true, ordering: .releasing)
                        throw CancellationError()
                    }
                    return 1
                }
            }
            try Fiber.sleep(for: .milliseconds(20))
            let start = Deadline.now
            awaiting.cancel()
            let outcome: String
            do { outcome = "returned \(try awaiting.join())" } catch { outcome = "\(type(of: error))" }
            return (outcome, milliseconds(since: start))
        }
        XCTAssertEqual(outcome, "CancellationError")
        XCTAssertLessThan(elapsed, 2000)
        XCTAssertTrue(taskSawCancellation.load(ordering: .acquiring))
    }

    /// A fiber already cancelled when it calls Fiber.await (the cancellation came while it did
    /// something else) gets CancellationError at once, and the operation never starts.
    func testAFiberCancelledBeforeTheCallGetsCancellationErrorWithoutATask() throws {
        let operationStarted = Atomic<Bool>(false)
        let (outcome, elapsed) = try onWorker { _ -> (String, Double) in
            let gate = Event()
            let awaiting = Fiber.spawn { () throws -> Int in
                try? gate.wait()  // cancelled here; the cancellation stays requested
                return try Fiber.await { () async throws -> Int in
                    operationStarted.store(true, ordering: .releasing)
                    try await Task.sleep(for: .seconds(10))
                    return 1
                }
            }
            try Fiber.sleep(for: .milliseconds(10))
            let start = Deadline.now
            awaiting.cancel()
            let outcome: String
            do { outcome = "returned \(try awaiting.join())" } catch { outcome = "\(type(of: error))" }
            return (outcome, milliseconds(since: start))
        }
        XCTAssertEqual(outcome, "CancellationError")
        XCTAssertLessThan(elapsed, 2000)
        // Had a task been started, the fiber would have waited for its end, so after its first line.
        XCTAssertFalse(operationStarted.load(ordering: .acquiring), "no task is started for a cancelled fiber")
    }

    /// An operation that finishes successfully despite the cancellation: its value is returned
    /// (nothing computed is lost), as Fiber.await documents.
    func testSuccessDespiteCancellationIsReturned() throws {
        let value = try onWorker { _ -> Int in
            let awaiting = Fiber.spawn { () throws -> Int in
                try Fiber.await { () async -> Int in
                    try? await Task.sleep(for: .seconds(10))  // cancelled early, swallowed
                    return Task.isCancelled ? 7 : 0
                }
            }
            try Fiber.sleep(for: .milliseconds(20))
            awaiting.cancel()
            return try awaiting.join()
        }
        XCTAssertEqual(value, 7)
    }
}
