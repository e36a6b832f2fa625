// Deadlines (io_uring linked timeouts for reads and writes, scheduler timers for accept) and
// cancellation of fibers parked in I/O: the right error, at the right time, and the connection
// (and everything else) in a usable, leak-free state afterwards.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import XCTest

/// What a timed operation ended with, and when.
struct TimedOutcome: CustomStringConvertible {
    var error: String
    var milliseconds: Double
    var description: String { "\(error) after \(milliseconds) ms" }
}

/// Runs `body`, returning the name of the error type it threw (or "returned") and the time it took.
func timed(_ body: () throws -> Void) -> TimedOutcome {
    let start = Deadline.now
    do {
        try body()
        return TimedOutcome(error: "returned", milliseconds: milliseconds(since: start))
    } catch {
        return TimedOutcome(error: "\(type(of: error))", milliseconds: milliseconds(since: start))
    }
}

final class DeadlineCancelTests: IOTestCase {
    /// A read with a 50 ms deadline on an idle connection throws TimeoutError after ≥ 50 ms and
    /// < 2 s; the connection then still reads data normally (the linked timeout consumed nothing).
    func testReadDeadlineFiresAndConnectionStaysUsable() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let outcomes = Locked<[String: TimedOutcome]>([:])
        let afterwards = Locked<String?>(nil)
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            let connection = try listener.accept()
            defer { connection.close() }
            var buffer = [UInt8](repeating: 0, count: 64)
            let explicit = timed { _ = try buffer.withUnsafeMutableBytes { try connection.read(into: $0, deadline: .now + .milliseconds(50)) } }
            outcomes.withLock { $0["explicit"] = explicit }
            // The per-connection `timeout` applies to calls without a deadline.
            connection.timeout = .milliseconds(50)
            let implicit = timed { _ = try connection.read(upTo: 64) }
            outcomes.withLock { $0["timeout property"] = implicit }
            connection.timeout = nil
            try connection.write(Array("ready".utf8))
            let data = try connection.read(upTo: 64, deadline: .now + .seconds(10))
            afterwards.set(String(decoding: data, as: UTF8.self))
        }
        let client = try TestClient(port: listener.address.port)
        XCTAssertEqual(try client.receiveString(exactly: 5), "ready")
        try client.send("late data")
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { afterwards.current != nil })
        try server.stop()
        for (name, outcome) in outcomes.current {
            XCTAssertEqual(outcome.error, "TimeoutError", "\(name): \(outcome)")
            XCTAssertGreaterThanOrEqual(outcome.milliseconds, 50, "\(name): \(outcome)")
            XCTAssertLessThan(outcome.milliseconds, 2000, "\(name): \(outcome)")
        }
        XCTAssertEqual(outcomes.current.count, 2)
        XCTAssertEqual(afterwards.current, "late data")
    }

    /// A deadline that has already passed: a read with no data times out at once; a read with
    /// data waiting returns the data (the operation completes before its linked timeout).
    func testPastDeadline() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let outcomes = Locked<[String]>([])
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            let connection = try listener.accept()
            defer { connection.close() }
            let idle = timed { _ = try connection.read(upTo: 10, deadline: .now + .milliseconds(-10)) }
            // Without "at once" the read would wait for data the client sends only after "go".
            outcomes.withLock { $0.append(idle.error); $0.append(idle.milliseconds < 1000 ? "at once" : "after \(idle.milliseconds) ms") }
            try connection.write(Array("go".utf8))
            // Until the client's bytes are in the socket (its thread may be slow to send them).
            func bytesInTheSocket() -> Int32 {
                var count: Int32 = 0
                return withUnsafeMutablePointer(to: &count) { ioctl(connection.fd, UInt(FIONREAD), $0) } == 0 ? count : -1
            }
            let sentBy = Deadline.now + .seconds(10)
            while bytesInTheSocket() < 4 && Deadline.now < sentBy { try Fiber.sleep(for: .milliseconds(1)) }
            let data = try connection.read(upTo: 10, deadline: .now + .milliseconds(-10))
            outcomes.withLock { $0.append(String(decoding: data, as: UTF8.self)) }
        }
        let client = try TestClient(port: listener.address.port)
        XCTAssertEqual(try client.receiveString(exactly: 2), "go")
        try client.send("data")
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { outcomes.current.count == 3 })
        try server.stop()
        XCTAssertEqual(outcomes.current, ["TimeoutError", "at once", "data"])
    }

    /// accept with a 50 ms deadline and no client throws TimeoutError after ≥ 50 ms and < 2 s;
    /// the listener then still accepts.
    func testAcceptDeadlineFires() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let outcome = Locked<TimedOutcome?>(nil)
        let accepted = Locked<String?>(nil)
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            outcome.set(timed { _ = try listener.accept(deadline: .now + .milliseconds(50)) })
            let connection = try listener.accept(deadline: .now + .seconds(10))
            defer { connection.close() }
            accepted.set(String(decoding: try connection.read(upTo: 10, deadline: .now + .seconds(10)), as: UTF8.self))
        }
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { outcome.current != nil })
        let client = try TestClient(port: listener.address.port)
        try client.send("hi")
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { accepted.current != nil })
        try server.stop()
        let result = try XCTUnwrap(outcome.current)
        XCTAssertEqual(result.error, "TimeoutError", "\(result)")
        XCTAssertGreaterThanOrEqual(result.milliseconds, 50, "\(result)")
        XCTAssertLessThan(result.milliseconds, 2000, "\(result)")
        XCTAssertEqual(accepted.current, "hi")
    }

    /// connect with a deadline to a listener whose accept queue is full (backlog 1, nobody
    /// accepting: the kernel drops further SYNs) throws TimeoutError after ≥ 200 ms and < 2 s,
    /// and closes the socket it made.
    func testConnectDeadlineFires() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0, backlog: 1)
        defer { listener.close() }
        let address = listener.address
        let outcomes = try onWorker { _ -> [TimedOutcome] in
            var outcomes: [TimedOutcome] = []
            var open: [TCPConnection] = []
            for _ in 0..<5 {
                var connection: TCPConnection? = nil
                outcomes.append(timed { connection = try TCPConnection.connect(to: address, deadline: .now + .milliseconds(200)) })
                if let connection { open.append(connection) }
                if outcomes.last!.error == "TimeoutError" { break }
            }
            for connection in open { connection.close() }
            return outcomes
        }
        XCTAssertEqual(outcomes.first?.error, "returned", "\(outcomes)")
        let last = try XCTUnwrap(outcomes.last)
        XCTAssertEqual(last.error, "TimeoutError", "\(outcomes)")
        XCTAssertGreaterThanOrEqual(last.milliseconds, 200, "\(outcomes)")
        XCTAssertLessThan(last.milliseconds, 2000, "\(outcomes)")
    }

    /// A write to a peer that does not read parks once the socket buffers are full; its
    /// 200 ms deadline then throws TimeoutError (< 2 s).
    func testWriteDeadlineFiresWhenPeerDoesNotRead() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let outcome = Locked<TimedOutcome?>(nil)
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            let connection = try listener.accept()
            defer { connection.close() }
            let big = [UInt8](repeating: 7, count: 64 << 20)
            outcome.set(timed { try connection.write(big, deadline: .now + .milliseconds(200)) })
        }
        let client = try TestClient(port: listener.address.port)
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { outcome.current != nil })
        client.close()
        try server.stop()
        let result = try XCTUnwrap(outcome.current)
        XCTAssertEqual(result.error, "TimeoutError", "\(result)")
        XCTAssertGreaterThanOrEqual(result.milliseconds, 200, "\(result)")
        XCTAssertLessThan(result.milliseconds, 2000, "\(result)")
    }

    /// Cancelling a fiber parked in `read` wakes it with CancellationError (promptly); the
    /// connection is then used by another fiber, which reads the client's data and replies;
    /// no fiber and no descriptor is left over.
    func testCancelWakesParkedRead() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let result = Locked<[String]>([])
        let liveFibersAtEnd = Locked<Int?>(nil)
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            let connection = try listener.accept()
            defer { connection.close() }
            let inRead = Event()
            let reader = Fiber.spawn { () throws -> Int in
                inRead.set()
                return try connection.read(upTo: 100).count
            }
            try inRead.wait()
            try Fiber.sleep(for: .milliseconds(20))  // the reader is parked in the kernel by now
            let start = Deadline.now
            reader.cancel()
            let outcome: String
            do {
                outcome = "returned \(try reader.join())"
            } catch is CancellationError {
                outcome = "CancellationError"
            }
            let took = milliseconds(since: start)
            result.withLock { $0.append(outcome); $0.append(took < 1000 ? "prompt" : "slow: \(took) ms") }
            // The connection still works, from this fiber.
            try connection.write(Array("send".utf8))
            let data = try connection.read(upTo: 100, deadline: .now + .seconds(10))
            try connection.write(Array("got:".utf8) + data)
            result.withLock { $0.append(String(decoding: data, as: UTF8.self)) }
            liveFibersAtEnd.set(Scheduler.current!.liveFibers)
        }
        let client = try TestClient(port: listener.address.port)
        XCTAssertEqual(try client.receiveString(exactly: 4), "send")
        try client.send("after cancel")
        XCTAssertEqual(try client.receiveString(exactly: 16), "got:after cancel")
        try server.stop()
        XCTAssertEqual(result.current, ["CancellationError", "prompt", "after cancel"])
        XCTAssertEqual(liveFibersAtEnd.current, 1, "only the body fiber is left")
    }

    /// Cancellation racing a completion: the client's bytes arrive while the reader is still
    /// parked (the worker thread is busy, so nothing is reaped), then the reader is cancelled.
    /// Either the read completes with the bytes or it is cancelled and the bytes stay in the
    /// socket for the next read — never lost, never delivered twice.
    func testCancelRacingCompletionLosesNoData() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let rounds = 20
        let summary = Locked<[String]>([])
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            let connection = try listener.accept()
            defer { connection.close() }
            for round in 0..<rounds {
                let inRead = Event()
                let reader = Fiber.spawn { () throws -> [UInt8] in
                    inRead.set()
                    return try connection.read(upTo: 100)
                }
                try inRead.wait()
                try Fiber.sleep(for: .milliseconds(5))
                try connection.write([UInt8(round)])  // asks the client for this round's bytes
                // Block the thread (not just the fiber) so the bytes arrive but no CQE is reaped.
                usleep(20_000)
                reader.cancel()
                var got: [UInt8]
                var how: String
                do {
                    got = try reader.join()
                    how = "completed"
                } catch is CancellationError {
                    got = try connection.read(upTo: 100, deadline: .now + .seconds(5))
                    how = "cancelled"
                }
                summary.withLock { $0.append("\(how):\(String(decoding: got, as: UTF8.self))") }
            }
        }
        let client = try TestClient(port: listener.address.port)
        for round in 0..<rounds {
            XCTAssertEqual(try client.receive(exactly: 1), [UInt8(round)])
            try client.send("round \(round)")
        }
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { summary.current.count == rounds })
        client.close()
        try server.stop()
        let lines = summary.current
        XCTAssertEqual(lines.count, rounds)
        for (round, line) in lines.enumerated() {
            XCTAssertTrue(line == "completed:round \(round)" || line == "cancelled:round \(round)", "round \(round): \(line)")
        }
    }

    /// Cancelling a fiber parked in accept wakes it with CancellationError; the listener still
    /// accepts afterwards from another fiber.
    func testCancelWakesParkedAccept() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let result = Locked<[String]>([])
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            let acceptor = Fiber.spawn { _ = try listener.accept() }
            try Fiber.sleep(for: .milliseconds(20))
            acceptor.cancel()
            do { try acceptor.wait(); result.withLock { $0.append("returned") } } catch {
                result.withLock { $0.append("\(type(of: error))") }
            }
            let connection = try listener.accept(deadline: .now + .seconds(10))
            defer { connection.close() }
            let data = try connection.read(upTo: 10, deadline: .now + .seconds(10))
            result.withLock { $0.append(String(decoding: data, as: UTF8.self)) }
        }
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { result.current.count == 1 })
        let client = try TestClient(port: listener.address.port)
        try client.send("next")
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { result.current.count == 2 })
        try server.stop()
        XCTAssertEqual(result.current, ["CancellationError", "next"])
    }
}
