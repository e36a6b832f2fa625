// The pre-fork supervisor (`ServerConfiguration.processes` > 1), with real processes and
// sockets: a worker that crashes or is killed is replaced while the others keep serving;
// SIGTERM stops everything without losing a request; SIGHUP replaces every worker without a
// failed request; workers that die at start make the supervisor give up; workers end with
// their supervisor. Then the restart policy and the exit decoding, without processes.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Spindle
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import XCTest

final class SupervisorTests: ServerTestCase {
    private var probes: [SupervisorProbe] = []

    /// Starts a supervisor probe with two worker processes of one worker thread each (unless
    /// `arguments` say otherwise); tearDown stops it.
    private func startSupervisor(_ arguments: [String] = [], environment: [String: String] = [:],
                                 ioUringBlocked: Bool = false, waitForReady: Int = 2) throws -> SupervisorProbe {
        let probe = try SupervisorProbe(["--processes", "2", "--workers", "1"] + arguments, environment: environment,
                                        ioUringBlocked: ioUringBlocked, waitForReady: waitForReady)
        probes.append(probe)
        return probe
    }

    override func tearDown() {
        for probe in probes { probe.stopAndWait() }
        probes.removeAll()
        super.tearDown()
    }

    // MARK: - A worker dies

    enum Death: CustomStringConvertible {
        /// A handler traps (`GET /crash`).
        case crashingHandler
        /// `kill -9` of the worker process.
        case sigkill

        var description: String { self == .crashingHandler ? "a trapping handler" : "kill -9" }
    }

    func testAWorkerWhoseHandlerTrapsIsReplacedWhileTheOtherKeepsServing() throws {
        try replaceWorker(after: .crashingHandler)
    }

    func testAWorkerKilledWithSIGKILLIsReplacedWhileTheOtherKeepsServing() throws {
        try replaceWorker(after: .sigkill)
    }

    /// Three clients loop on `GET /pid` while one worker dies: the supervisor logs the worker,
    /// its pid and how it ended, a new worker is started at once (no back-off), it serves, and of the
    /// clients' requests only those in flight on the dying worker may fail (at most one per
    /// client).
    private func replaceWorker(after death: Death) throws {
        let probe = try startSupervisor()
        let original = Set(probe.readyWorkers)
        XCTAssertEqual(original.count, 2)
        let clients = 3
        let loop = ClientLoop(port: probe.port, threads: clients)
        try loop.waitForMoreSuccesses(50, timeout: .seconds(10))

        let victim: Int32
        let died: Deadline
        switch death {
        case .crashingHandler:
            let client = try TestClient(port: probe.port)
            died = .now  // (an upper bound: from the request that makes it die)
            try client.send("GET /crash HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertThrowsError(try client.readResponse(), "GET /crash answered")  // the process is gone
            try probe.waitFor("log line about the crash", timeout: .seconds(5)) { !probe.unexpectedEnds.isEmpty }
            let line = probe.unexpectedEnds[0]
            victim = try XCTUnwrap(original.first { line.contains("(pid \($0))") }, line)
            XCTAssertTrue(line.contains("signal SIGILL") || line.contains("signal SIGTRAP"), line)
        case .sigkill:
            victim = original.sorted()[0]
            died = .now
            XCTAssertEqual(kill(victim, SIGKILL), 0)
            try probe.waitFor("log line about the kill", timeout: .seconds(5)) { !probe.unexpectedEnds.isEmpty }
            XCTAssertTrue(probe.unexpectedEnds[0].contains("(pid \(victim)) ended unexpectedly (signal SIGKILL)"), probe.unexpectedEnds[0])
        }
        // A first death restarts the worker at once, without a back-off (which would log
        // "restarting it in …"); how long the new process takes to be ready is the machine's.
        let end = probe.unexpectedEnds[0]
        XCTAssertTrue(end.contains("; restarting it") && !end.contains("restarting it in"), end)
        try probe.waitFor("replacement worker", timeout: .seconds(10)) { probe.readyWorkers.count >= 3 }
        let replacedAfter = milliseconds(since: died)
        let replacement = probe.readyWorkers[2]
        XCTAssertFalse(original.contains(replacement))
        XCTAssertLessThan(replacedAfter, 5_000, "the replacement was ready \(Int(replacedAfter)) ms after \(death)")
        XCTAssertTrue(probe.lines.contains { $0.contains("worker process") && $0.contains("started: pid \(replacement)") })
        // The survivor never stopped serving; the replacement serves too.
        try loop.waitForMoreSuccesses(100, timeout: .seconds(10))
        try probe.waitFor("a response from the replacement", timeout: .seconds(5)) { loop.current.answeredBy[replacement] != nil }
        let results = try loop.stop()
        XCTAssertNil(results.answeredBy.keys.first { !original.contains($0) && $0 != replacement }, "\(results.answeredBy)")
        XCTAssertLessThanOrEqual(results.failures.count, clients, "failures: \(results.failures)")
        XCTAssertEqual(probe.unexpectedEnds.count, 1, probe.stdout)
        print("SupervisorTests: after \(death): replacement ready in \(Int(replacedAfter)) ms; \(results.succeeded) requests succeeded, \(results.failures.count) failed (in flight on the dying worker): \(results.failures.prefix(3)); answered by \(results.answeredBy)")
    }

    // MARK: - Signals to the supervisor

    /// SIGTERM to the supervisor with slow requests in flight on both workers: every one is
    /// answered, new connections are refused, the supervisor exits 0 once both workers have.
    func testSigtermStopsEveryWorkerGracefully() throws {
        let probe = try startSupervisor(["--grace", "5000"])
        let workers = probe.readyWorkers
        let count = 8
        let results = Locked<[String]>([])
        let finished = DispatchGroup()
        for _ in 0..<count {
            finished.enter()
            Thread { [port = probe.port] in
                defer { finished.leave() }
                do {
                    let client = try TestClient(port: port)
                    try client.send("GET /sleep?ms=700 HTTP/1.1\r\nHost: a\r\n\r\n")
                    let response = try client.readResponse()
                    results.withLock { $0.append("\(response.status) \(response.bodyString.split(separator: " ").prefix(2).joined(separator: " "))") }
                } catch {
                    results.withLock { $0.append("error: \(error)") }
                }
            }.start()
        }
        try probe.waitFor("\(count) requests in flight", timeout: .seconds(5)) {
            probe.lines.filter { $0.hasPrefix("info sleeping ") }.count == count
        }
        let sleepingOn = Set(probe.lines.filter { $0.hasPrefix("info sleeping ") }.compactMap { Int32($0.dropFirst("info sleeping ".count)) })
        let stopAt = Deadline.now
        try probe.send(signal: SIGTERM)
        // New connections are refused once every process has closed its listeners.
        let refused = waitUntil(timeout: .seconds(1)) {
            do { try TestClient(port: probe.port).close(); usleep(5_000); return false } catch { return true }
        }
        XCTAssertTrue(refused, "connections still accepted 1 s after SIGTERM")
        let outcome = try probe.waitForExit(timeout: .seconds(10))
        let stoppedAfter = milliseconds(since: stopAt)
        XCTAssertEqual(finished.wait(timeout: .now() + 5), .success)
        XCTAssertTrue(outcome.exited && outcome.status == 0, outcome.summary)
        XCTAssertEqual(results.current.sorted(), Array(repeating: "200 slept 700", count: count))
        XCTAssertTrue(outcome.stdout.contains("supervisor stopped"), outcome.stdout)
        XCTAssertFalse(outcome.stdout.contains("after SIGTERM: SIGKILL"), "a worker was killed: \(outcome.stdout)")
        for pid in workers { XCTAssertTrue(processHasEnded(pid), "worker \(pid) still runs") }
        XCTAssertLessThan(stoppedAfter, 3000)
        print("SupervisorTests: SIGTERM with \(count) requests in flight on workers \(sleepingOn.sorted()): all answered, supervisor exited after \(Int(stoppedAfter)) ms")
    }

    /// SIGQUIT to the supervisor: every ready worker prints its fiber dump (a parked request
    /// in it) and goes on serving; nothing stops.
    func testSigquitAsksEveryWorkerForItsFiberDump() throws {
        let probe = try startSupervisor()
        let workers = probe.readyWorkers
        let sleeper = Thread { [port = probe.port] in
            _ = try? TestClient(port: port).send("GET /sleep?ms=3000 HTTP/1.1\r\nHost: a\r\n\r\n")
        }
        sleeper.start()
        try probe.waitFor("a request in flight", timeout: .seconds(5)) {
            probe.lines.contains { $0.hasPrefix("info sleeping ") }
        }
        try probe.send(signal: SIGQUIT)
        try probe.waitFor("two dumps", timeout: .seconds(10)) {
            probe.stderr.components(separatedBy: "Spindle fiber dump:").count - 1 >= 2
        }
        XCTAssertTrue(probe.stderr.contains("request GET /sleep?ms=3000"), "the parked request is in a dump:\n\(probe.stderr.suffix(3000))")
        XCTAssertTrue(probe.stdout.contains("SIGQUIT: asking 2 worker process(es)"), probe.stdout)
        for pid in workers { XCTAssertFalse(processHasEnded(pid), "worker \(pid) ended on SIGQUIT") }
        let client = try TestClient(port: probe.port)
        defer { client.close() }
        try client.send("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 200, "still serving after the dumps")
        XCTAssertEqual(Set(probe.readyWorkers), Set(workers), "no worker was replaced")
    }

    /// SIGHUP twice while clients loop: every worker is replaced each time, the old ones stop,
    /// and not one request fails.
    func testSighupReplacesEveryWorkerWithoutAFailedRequest() throws {
        let probe = try startSupervisor()
        let supervisor = try probe.supervisorPID
        let loop = ClientLoop(port: probe.port, threads: 3)
        try loop.waitForMoreSuccesses(50, timeout: .seconds(10))
        var generations = [Set(probe.readyWorkers)]
        for reload in 1...2 {
            let before = probe.readyWorkers.count
            let stoppedBefore = probe.lines.filter { $0.contains("of the previous generation stopped") }.count
            XCTAssertEqual(kill(supervisor, SIGHUP), 0)
            try probe.waitFor("reload \(reload)", timeout: .seconds(10)) {
                probe.lines.filter { $0.contains("of the previous generation stopped") }.count == stoppedBefore + 2
            }
            let new = Set(probe.readyWorkers.dropFirst(before))
            XCTAssertEqual(new.count, 2)
            XCTAssertTrue(new.isDisjoint(with: generations.last!))
            for pid in generations.last! { XCTAssertTrue(processHasEnded(pid), "old worker \(pid) still runs") }
            generations.append(new)
            let answeredBefore = loop.current.answeredBy
            try loop.waitForMoreSuccesses(100, timeout: .seconds(10))
            let answeredSince = loop.current.answeredBy.filter { $0.value != answeredBefore[$0.key] }
            // A response read just before the snapshot may be counted just after it (the loop's
            // threads record after reading; under ASan that gap is wide): at most one per client
            // thread from the generation that has already ended (checked above). Every other
            // answer comes from the new workers.
            let stragglers = answeredSince.filter { !new.contains($0.key) }
            XCTAssertTrue(Set(stragglers.keys).isSubset(of: generations[generations.count - 2]),
                          "answered after reload \(reload) by \(answeredSince), new workers \(new)")
            XCTAssertLessThanOrEqual(stragglers.reduce(0) { $0 + $1.value - (answeredBefore[$1.key] ?? 0) }, 3,
                                     "answered after reload \(reload) by \(answeredSince), new workers \(new)")
        }
        let results = try loop.stop()
        XCTAssertEqual(results.failures, [], "\(results.failures.count) requests failed across the reloads")
        XCTAssertTrue(probe.unexpectedEnds.isEmpty, probe.unexpectedEnds.joined(separator: "\n"))
        print("SupervisorTests: two SIGHUP reloads under 3 looping clients: \(results.succeeded) requests, \(results.failures.count) failed; workers \(generations.map { $0.sorted() })")
    }

    // MARK: - Giving up, and ending with the supervisor

    /// Workers that cannot start (io_uring required, and denied by a seccomp filter) die before
    /// they are ready: after 5 such deaths the supervisor gives up, exits non-zero and says why.
    func testWorkersCrashLoopingAtStartMakeTheSupervisorGiveUp() throws {
        let probe = try startSupervisor(environment: ["SPINDLE_IO": "uring"], ioUringBlocked: true, waitForReady: 0)
        let outcome = try probe.waitForExit(timeout: .seconds(15))
        XCTAssertTrue(outcome.exited, outcome.summary)
        XCTAssertEqual(outcome.status, 3, outcome.summary)
        XCTAssertTrue(outcome.stdout.contains("supervisor gave up: worker processes crash-loop at start: 5 died before they were ready"), outcome.summary)
        XCTAssertTrue(outcome.stdout.contains("ended unexpectedly (exit status 1)"), outcome.summary)
        XCTAssertFalse(outcome.stdout.contains("is ready"), outcome.summary)
        let started = outcome.stdout.split(separator: "\n").filter { $0.contains("started: pid") }
        XCTAssertGreaterThanOrEqual(started.count, 5)
        for line in started {
            if let pid = Int32(line.split(separator: " ").last ?? "") { XCTAssertTrue(processHasEnded(pid), "worker \(pid) still runs") }
        }
    }

    /// `kill -9` of the supervisor: its workers get SIGTERM (PR_SET_PDEATHSIG) and end.
    func testWorkersEndWhenTheSupervisorIsKilled() throws {
        let probe = try startSupervisor()
        let workers = probe.readyWorkers
        try probe.send(signal: SIGKILL)
        _ = try probe.waitForExit(timeout: .seconds(5))
        let ended = waitUntil(timeout: .seconds(5)) { workers.allSatisfy(processHasEnded) }
        XCTAssertTrue(ended, "workers still running 5 s after their supervisor was killed: \(workers.filter { !processHasEnded($0) })")
    }

    /// `run()` with processes > 1 in a process that already has a second thread stops with the
    /// reason instead of forking.
    func testRunRefusesToForkWhenAnotherThreadRuns() throws {
        let probe = try startSupervisor(["--thread-first"], waitForReady: 0)
        let outcome = try probe.waitForExit(timeout: .seconds(10))
        XCTAssertNotNil(outcome.signal, outcome.summary)
        XCTAssertTrue(outcome.stderr.contains("only safe while the process has that one thread (it has 2)"), outcome.summary)
        XCTAssertFalse(outcome.stdout.contains("started: pid"), outcome.summary)
    }

    // MARK: - The restart policy and exit statuses, without processes

    func testRestartPolicyBacksOffAndGivesUpOnlyOnStartupDeaths() {
        let configuration = SupervisorConfiguration(crashLoopLimit: 3, crashLoopWindow: .seconds(10), maximumRestartDelay: .milliseconds(300))
        func at(_ seconds: Double) -> Deadline { Deadline(nanoseconds: 1_000_000_000_000 + UInt64(seconds * 1e9)) }
        struct Case {
            let slot: Int
            let time: Double
            let wasReady: Bool
            let expected: RestartPolicy.Decision
        }
        // One policy through all the rows, in order.
        let cases: [Case] = [
            Case(slot: 0, time: 0, wasReady: true, expected: .restart(after: .zero)),                 // first death: now
            Case(slot: 0, time: 1, wasReady: true, expected: .restart(after: .milliseconds(100))),    // second within 10 s
            Case(slot: 0, time: 2, wasReady: true, expected: .restart(after: .milliseconds(200))),
            Case(slot: 0, time: 3, wasReady: true, expected: .restart(after: .milliseconds(300))),    // capped
            Case(slot: 1, time: 3, wasReady: true, expected: .restart(after: .zero)),                 // another slot: its own count
            Case(slot: 0, time: 20, wasReady: true, expected: .restart(after: .zero)),                // the old deaths left the window
            Case(slot: 1, time: 21, wasReady: false, expected: .restart(after: .zero)),               // startup death 1
            Case(slot: 0, time: 22, wasReady: false, expected: .restart(after: .milliseconds(100))),  // startup death 2
            Case(slot: 1, time: 35, wasReady: false, expected: .restart(after: .zero)),               // 1 and 2 left the window
            Case(slot: 0, time: 36, wasReady: false, expected: .restart(after: .zero)),
            Case(slot: 1, time: 37, wasReady: false, expected: .giveUp(startupDeaths: 3)),            // 3 within 10 s
        ]
        var policy = RestartPolicy(slots: 2, configuration: configuration)
        for (row, c) in cases.enumerated() {
            XCTAssertEqual(policy.workerDied(slot: c.slot, at: at(c.time), wasReady: c.wasReady), c.expected, "row \(row): slot \(c.slot) at \(c.time) s")
        }
        // Many deaths in a row never overflow the delay.
        XCTAssertEqual(policy.delay(afterDeaths: 10_000), .milliseconds(300))
    }

    func testExitStatusesAreDecodedAndNamed() {
        let cases: [(status: Int32, exit: ProcessExit, text: String)] = [
            (0, .exited(status: 0), "exit status 0"),
            (1 << 8, .exited(status: 1), "exit status 1"),
            (255 << 8, .exited(status: 255), "exit status 255"),
            (SIGKILL, .killed(signal: SIGKILL), "signal SIGKILL"),
            (SIGILL | 0x80, .killed(signal: SIGILL), "signal SIGILL"),  // with a core dump
            (SIGTERM, .killed(signal: SIGTERM), "signal SIGTERM"),
            (40, .killed(signal: 40), "signal 40"),
        ]
        for c in cases {
            let exit = ProcessExit(waitStatus: c.status)
            XCTAssertEqual(exit, c.exit, "status \(c.status)")
            XCTAssertEqual(exit.description, c.text)
        }
    }
}
