// Runtime life cycle: stop() ends workers blocked in accept, errors from a body end run, fibers
// spawned by the body are waited for, and stop() racing the start-up of a worker.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import XCTest

/// Carries a worker's scheduler out of the runtime, read only after run returned (the join of
/// the worker thread orders the accesses).
final class SchedulerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var schedulers: [Int: Scheduler] = [:]
    func set(_ index: Int, _ scheduler: Scheduler?) { lock.lock(); schedulers[index] = scheduler; lock.unlock() }
    var all: [Int: Scheduler] { lock.lock(); defer { lock.unlock() }; return schedulers }
}

final class RuntimeTests: IOTestCase {
    /// Two workers whose bodies block in accept: run returns within 2 s of stop(), each body saw
    /// CancellationError, and no fiber is left on either scheduler.
    func testStopEndsWorkersBlockedInAccept() throws {
        let first = try TCPListener(host: "127.0.0.1", port: 0)
        let listeners = [first, try TCPListener(address: first.address)]
        let schedulers = SchedulerBox()
        let endings = Locked<[String]>([])
        let server = BackgroundRuntime(workers: 2) { worker in
            schedulers.set(worker.index, Scheduler.current)
            let listener = listeners[worker.index]
            defer { listener.close() }
            do {
                _ = try listener.accept()
                endings.withLock { $0.append("accepted") }
            } catch {
                endings.withLock { $0.append("\(type(of: error))") }
                throw error
            }
        }
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { schedulers.all.count == 2 })
        usleep(50_000)  // both bodies are parked in accept
        XCTAssertFalse(server.hasFinished)
        let start = Deadline.now
        try server.stop(timeout: .seconds(2))
        XCTAssertLessThan(milliseconds(since: start), 2000)
        XCTAssertEqual(endings.current, ["CancellationError", "CancellationError"])
        XCTAssertEqual(schedulers.all.count, 2)
        for (index, scheduler) in schedulers.all {
            XCTAssertEqual(scheduler.liveFibers, 0, "worker \(index)")
            XCTAssertEqual(scheduler.spawnedFibers, 1, "worker \(index)")
        }
    }

    /// stop() lets the fibers a body spawned finish: a connection fiber parked in read keeps
    /// the runtime running after stop() until its client closes, then run returns.
    func testStopWaitsForSpawnedFibers() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let ended = Locked<[String]>([])
        let reading = Locked(0)
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            while true {
                let connection = try listener.accept()
                Fiber.spawn {
                    defer { connection.close() }
                    reading.withLock { $0 += 1 }
                    let bytes = try connection.read(upTo: 100, deadline: .now + .seconds(20))
                    ended.withLock { $0.append("read \(bytes.count)") }
                }
            }
        }
        let client = try TestClient(port: listener.address.port)
        // Stop only once the connection fiber runs: a stop before the accept completes
        // cancels the accept, and there is no fiber to wait for (a loaded machine showed it).
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { reading.current == 1 })
        usleep(20_000)  // the fiber is parked in read
        server.runtime.stop()
        XCTAssertThrowsError(try server.waitUntilFinished(timeout: .milliseconds(300)), "run returned while a connection fiber was still reading")
        XCTAssertEqual(ended.current, [])
        client.close()
        try server.waitUntilFinished(timeout: .seconds(2))
        XCTAssertEqual(ended.current, ["read 0"])
    }

    /// A body that throws ends run with that error, and the other worker is stopped too.
    func testBodyErrorEndsRun() throws {
        struct BodyFailed: Error, Equatable { let worker: Int }
        let server = BackgroundRuntime(workers: 2) { worker in
            if worker.index == 1 {
                try Fiber.sleep(for: .milliseconds(20))
                throw BodyFailed(worker: 1)
            }
            try Fiber.sleep(for: .seconds(30))  // cancelled by the stop that the failure causes
        }
        do {
            try server.waitUntilFinished(timeout: .seconds(2))
            XCTFail("run returned normally")
        } catch let error as BodyFailed {
            XCTAssertEqual(error, BodyFailed(worker: 1))
        }
    }

    /// Every worker runs its body on its own thread, and fibers stay on their worker's thread.
    func testWorkersRunOnTheirOwnThreads() throws {
        let threads = Locked<[Int: [pthread_t]]>([:])
        let server = BackgroundRuntime(workers: 2) { worker in
            var seen: [pthread_t] = [pthread_self()]
            for _ in 0..<3 {
                seen.append(try Fiber.spawn { () -> pthread_t in Fiber.yield(); return pthread_self() }.join())
            }
            threads.withLock { $0[worker.index] = seen }
        }
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { threads.current.count == 2 })
        try server.stop()
        let seen = threads.current
        XCTAssertEqual(Set(seen[0]!).count, 1, "worker 0's fibers ran on several threads: \(seen[0]!)")
        XCTAssertEqual(Set(seen[1]!).count, 1, "worker 1's fibers ran on several threads: \(seen[1]!)")
        XCTAssertNotEqual(seen[0]![0], seen[1]![0])
        XCTAssertNotEqual(seen[0]![0], pthread_self(), "a worker ran on the test thread")
    }

    /// Closing a listener wakes a fiber parked in its accept with an IOError (EBADF), and
    /// later accepts fail the same way.
    func testClosingListenerWakesParkedAccept() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let outcome = try onWorker { _ -> [String] in
            let acceptor = Fiber.spawn { () throws -> String in
                do { _ = try listener.accept(); return "accepted" } catch let error as IOError { return "errno=\(error.errno)" }
            }
            try Fiber.sleep(for: .milliseconds(20))
            listener.close()
            let first = try acceptor.join()
            var second = "accepted"
            do { _ = try listener.accept() } catch let error as IOError { second = "errno=\(error.errno)" }
            return [first, second]
        }
        XCTAssertEqual(outcome, ["errno=\(EBADF)", "errno=\(EBADF)"])
    }

    /// A cancelled fiber's accept throws CancellationError even when a connection is already
    /// queued, as its read does (the backends check first) and as `Fiber.cancel` documents
    /// ("the next cancellable wait (… I/O) throws"). Otherwise a body whose accept queue is
    /// non-empty (a burst, a steady stream) does not see `Runtime.stop()` and keeps accepting
    /// and spawning connection fibers after it.
    func testAcceptInCancelledFiberThrowsEvenWithAQueuedConnection() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let port = listener.address.port
        let clientConnected = Locked(false)
        let outcome = Locked<[String]?>(nil)
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            // Arm the multishot accept and take a first connection.
            let first = try listener.accept(deadline: .now + .seconds(10))
            first.close()
            while !clientConnected.current { try Fiber.sleep(for: .milliseconds(1)) }
            try Fiber.sleep(for: .milliseconds(50))  // the second connection is queued by now
            let me = Fiber.current!
            me.cancel()
            var log: [String] = []
            do {
                let c = try listener.accept()
                c.close()
                log.append("accept returned a connection")
            } catch {
                log.append("accept: \(type(of: error))")
            }
            let connection = try? TCPConnection.connect(host: "127.0.0.1", port: port)
            log.append(connection == nil ? "connect: threw" : "connect: returned")
            outcome.set(log)
        }
        let a = try TestClient(port: port)
        usleep(20_000)
        let b = try TestClient(port: port)
        clientConnected.set(true)
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { outcome.current != nil })
        a.close()
        b.close()
        try server.stop()
        XCTAssertEqual(outcome.current, ["accept: CancellationError", "connect: threw"])
    }

    /// Connections the kernel accepts (multishot accept) while the listener is being closed at
    /// shutdown must be closed, not left open in the process when the ring is torn down.
    func testConnectionsAcceptedDuringShutdownAreClosed() throws {
        let before = openFileDescriptors().count
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let port = listener.address.port
        let phase = Locked(0)
        let server = BackgroundRuntime { worker in
            // Arm the multishot accept with a first connection.
            try listener.accept(deadline: .now + .seconds(10)).close()
            phase.set(1)
            // Keep the worker thread busy (nothing reaped) while more clients connect.
            _ = waitUntil(timeout: .seconds(5)) { phase.current == 2 }
            usleep(50_000)
            worker.runtime.stop()
            listener.close()
        }
        let first = try TestClient(port: port)
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { phase.current == 1 })
        var late: [TestClient] = []
        for _ in 0..<5 { late.append(try TestClient(port: port)) }
        phase.set(2)
        try server.waitUntilFinished(timeout: .seconds(5))
        first.close()
        late.removeAll()
        let after = openFileDescriptors()
        XCTAssertEqual(after.count, before, "descriptors left open after the runtime ended: \(after.values.filter { $0.hasPrefix("socket:") }.count) sockets")
    }

    /// stop() called while a worker is starting up must still end run. Runs in a subprocess for
    /// up to 20 s, aiming stop() at the moments a worker registers with the runtime (see
    /// spindle-io-probe stop-race); each run must end within 5 s of its stop().
    func testStopDuringWorkerStartupAlwaysEndsRun() throws {
        let result = try IOProbe.run(["stop-race", "20", "1"], timeout: .seconds(90))
        XCTAssertTrue(result.exited && result.status == 0 && result.stdout.hasPrefix("ok "), "\(result.stdout)\(result.stderr)")
    }

    /// A TCPListener created outside run (as in Examples/Echo) and closed — or released — after
    /// run returned must not touch the worker's freed ring. Runs in a subprocess (it may crash).
    func testListenerClosedAfterRuntimeEnded() throws {
        let result = try IOProbe.run(["listener-outlives-runtime"], timeout: .seconds(30))
        XCTAssertTrue(result.exited && result.status == 0 && result.stdout.hasSuffix("ok\n"),
                      (result.exited ? "exit status \(result.status)" : "killed by signal \(result.status)") + "\n\(result.stdout)\(result.stderr)")
    }
}
