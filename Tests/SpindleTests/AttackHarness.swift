// The harness every attack of AdversarialTests goes through. It records what a quiet server
// looks like (the process's open descriptors, and from the admin listener's /metrics: open
// connections, requests in flight, live fibers, each pool's objects in use and available),
// runs the attack, and then checks the same three things every time:
//   1. the server is up: a new client gets 200 for a normal request;
//   2. nothing leaked: the descriptors (counted with the attack's clients closed; pipes apart,
//      up to the splice pipes the io_uring backend keeps), the open connections, the pools and
//      the live fibers come back to what they were (waiting, with a bound, since closes
//      complete asynchronously), and no pool keeps fewer objects free;
//   3. what the attack got is asserted by the attack itself (a 408, a 431, a close, ...).
// It also holds the clients' side of the slow attacks: a thread dripping bytes on many sockets,
// and a wait for many sockets to be closed by the server.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import SpindleFibers
import SpindleTestSupport
import XCTest

/// The state of a server that the harness compares before and after an attack.
struct ServerFootprint: Equatable, CustomStringConvertible {
    var connectionsOpen: Int
    var requestsActive: Int
    /// Responses still being sent after their handler returned.
    var responsesSending: Int
    var fibersLive: Int
    /// Objects in use and free, by pool label (`receive_buffers`, `parsers`, ...).
    var poolsInUse: [String: Int]
    var poolsAvailable: [String: Int]

    init(_ exposition: Exposition) {
        connectionsOpen = Int(exposition.value("spindle_connections_open"))
        requestsActive = Int(exposition.value("spindle_requests_active"))
        responsesSending = Int(exposition.value("spindle_responses_sending"))
        fibersLive = Int(exposition.value("spindle_fibers_live"))
        var inUse: [String: Int] = [:]
        var available: [String: Int] = [:]
        for sample in exposition.series("spindle_pool_in_use") { inUse[sample.labels["pool"] ?? "?"] = Int(sample.value) }
        for sample in exposition.series("spindle_pool_available") { available[sample.labels["pool"] ?? "?"] = Int(sample.value) }
        poolsInUse = inUse
        poolsAvailable = available
    }

    /// True when this state is the quiet `baseline` again: the same connections, requests,
    /// responses sending, fibers and pool objects in use, and at least as many pool objects free.
    func isBack(to baseline: ServerFootprint) -> Bool {
        connectionsOpen == baseline.connectionsOpen && requestsActive == baseline.requestsActive
            && responsesSending == baseline.responsesSending && fibersLive == baseline.fibersLive && poolsInUse == baseline.poolsInUse
            && baseline.poolsAvailable.allSatisfy { (poolsAvailable[$0.key] ?? 0) >= $0.value }
    }

    /// The pools in a fixed order, `name in-use/available`.
    var poolSummary: String {
        poolsInUse.keys.sorted().map { "\($0) \(poolsInUse[$0] ?? 0)/\(poolsAvailable[$0] ?? 0)" }.joined(separator: ", ")
    }

    var description: String {
        "connections \(connectionsOpen), requests \(requestsActive), responses sending \(responsesSending), fibers \(fibersLive), pools in use/free [\(poolSummary)]"
    }
}

/// A server under attack and what it looked like before (see the top of this file).
final class AttackHarness {
    let server: TestServer
    /// The quiet server: its footprint, and the process's descriptors.
    let baseline: ServerFootprint
    let descriptorsBefore: DescriptorSnapshot
    /// The suite's name in the printed lines.
    private let suite: String

    /// Waits until `server` is quiet (every worker answers scrapes, no connection open) and
    /// records its footprint and the process's descriptors.
    init(server: TestServer, suite: String) throws {
        self.server = server
        self.suite = suite
        let quiet = try server.scrapeMetrics(until: { $0.value("spindle_connections_open") == 0 && $0.value("spindle_requests_active") == 0 })
        guard quiet.value("spindle_connections_open") == 0 else { throw TestFailure("the server has connections before any attack") }
        // The scrape's own connection closes on the admin listener's thread a moment later.
        waitForStableDescriptorCount(stableFor: .milliseconds(150))
        baseline = ServerFootprint(try server.scrapeMetrics())
        waitForStableDescriptorCount(stableFor: .milliseconds(150))
        descriptorsBefore = DescriptorSnapshot()
    }

    var port: Int { server.port }

    /// The server's metrics now (with `until`, once it holds; see `TestServer.scrapeMetrics`).
    func scrape(until condition: (Exposition) -> Bool = { _ in true }, timeout: Duration = .seconds(5)) throws -> Exposition {
        try server.scrapeMetrics(until: condition, timeout: timeout)
    }

    /// Runs `attack` (given the metrics scraped just before it; it asserts what the server
    /// answered, closes its clients, and returns a line saying what it measured), then checks
    /// that the server answers a new client and has come back to its baseline, and prints one
    /// line with the figures.
    func attack(_ name: String, file: StaticString = #filePath, line: UInt = #line,
                _ attack: (_ before: Exposition) throws -> String) throws {
        let before = try scrape()
        let measured = try attack(before)
        let attackEnded = Deadline.now

        // The attack's connections close asynchronously: wait (bounded) for the server to settle.
        _ = try scrape(until: { ServerFootprint($0).isBack(to: self.baseline) }, timeout: .seconds(10))
        let settledMilliseconds = Int(milliseconds(since: attackEnded))

        // 1. The server is up and answers a newcomer.
        let newcomer = try TestClient(port: port)
        try newcomer.send("GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        let answer = try newcomer.readResponse()
        XCTAssertEqual(answer.status, 200, "\(name): a new client after the attack got \(answer)", file: file, line: line)
        XCTAssertEqual(answer.bodyString, "ok", "\(name): the new client's answer", file: file, line: line)
        XCTAssertTrue(try newcomer.isClosedByPeer(within: .seconds(3)), "\(name): the new client's connection stays open after Connection: close",
                      file: file, line: line)
        newcomer.close()

        // 2. Nothing leaked: descriptors first (the newcomer's server side closes asynchronously),
        // then the footprint once more, after the newcomer.
        let descriptors = compareDescriptors(grace: .seconds(5))
        XCTAssertEqual(descriptors.after, descriptors.before, "\(name): \(descriptors.message)", file: file, line: line)
        XCTAssertTrue((0...keptPipeDescriptorsAllowed).contains(descriptors.pipesAfter - descriptors.pipesBefore),
                      "\(name): pipes beyond the splice pipes the backend keeps: \(descriptors.message)", file: file, line: line)
        let after = ServerFootprint(try scrape(until: { ServerFootprint($0).isBack(to: self.baseline) }))
        XCTAssertTrue(after.isBack(to: baseline), "\(name): the server did not come back to its state before the attack:\n  before \(baseline)\n  after  \(after)",
                      file: file, line: line)
        let pipes = descriptors.pipesAfter == descriptors.pipesBefore ? "" : " (pipes \(descriptors.pipesBefore) -> \(descriptors.pipesAfter))"
        print("\(suite): \(name): \(measured); settled \(settledMilliseconds) ms after the attack; fds \(descriptors.before) -> \(descriptors.after)\(pipes); "
              + "connections \(baseline.connectionsOpen) -> \(after.connectionsOpen); fibers \(baseline.fibersLive) -> \(after.fibersLive); "
              + "pools in use/free [\(baseline.poolSummary)] -> [\(after.poolSummary)]")
    }

    /// Pipe descriptors the server may keep between attacks: the io_uring backend's splice pipes
    /// for sending files (`SplicePipes.keptLimit`, 8 pipes of two descriptors per worker), which
    /// it closes when it stops (`ServerTestCase`'s tearDown checks that).
    private var keptPipeDescriptorsAllowed: Int { 2 * 8 * (server.server.configuration.workers ?? 1) }

    /// The descriptors other than pipes before the attack and now, and the pipes apart; when
    /// they differ, waits at most `grace` for them to match (closes complete asynchronously).
    private func compareDescriptors(grace: Duration) -> (before: Int, after: Int, pipesBefore: Int, pipesAfter: Int, message: String) {
        let before = descriptorsBefore.descriptors
        let isPipe = { (target: String) in target.hasPrefix("pipe:") }
        let pipesBefore = before.values.filter(isPipe).count
        let allowed = 0...keptPipeDescriptorsAllowed
        func matches(_ now: [Int32: String]) -> Bool {
            now.values.filter { !isPipe($0) }.count == before.count - pipesBefore
                && allowed.contains(now.values.filter(isPipe).count - pipesBefore)
        }
        var now = openFileDescriptors()
        if !matches(now) {
            _ = waitUntil(timeout: grace) { matches(openFileDescriptors()) }
            now = openFileDescriptors()
        }
        let new = now.filter { before[$0.key] != $0.value && !isPipe($0.value) }.sorted { $0.key < $1.key }
        let gone = before.filter { now[$0.key] == nil && !isPipe($0.value) }.sorted { $0.key < $1.key }
        let pipesAfter = now.values.filter(isPipe).count
        let message = "descriptor leak: \(before.count - pipesBefore) open before the attack (and \(pipesBefore) pipes), "
            + "\(now.count - pipesAfter) after (and \(pipesAfter) pipes); new: \(new.prefix(20).map { "\($0.key)→\($0.value)" }), "
            + "gone: \(gone.prefix(20).map { "\($0.key)→\($0.value)" })"
        return (before.count - pipesBefore, now.count - pipesAfter, pipesBefore, pipesAfter, message)
    }
}

/// The difference of `name{labels}` between two scrapes.
func delta(_ name: String, _ labels: [String: String] = [:], from before: Exposition, to after: Exposition) -> Int {
    Int(after.value(name, labels) - before.value(name, labels))
}

// MARK: - Clients of the slow attacks

/// Sends `bytes` one byte per round on each of `descriptors`, a round every `interval`, from a
/// thread of its own, until `stop()`. A descriptor whose send fails (the server closed it) is
/// left alone from then on. The caller keeps the sockets open until `stop()` has returned.
final class Dripper: Sendable {
    private let stopped = Locked(false)
    private let finished = DispatchSemaphore(value: 0)
    /// Bytes sent on each descriptor (by index).
    private let sent: Locked<[Int]>

    init(descriptors: [Int32], bytes: [UInt8], every interval: Duration) {
        sent = Locked([Int](repeating: 0, count: descriptors.count))
        let pause = UInt32(interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000)
        Thread { [stopped, sent, finished] in
            defer { finished.signal() }
            var failed = [Bool](repeating: false, count: descriptors.count)
            var round = 0
            while !stopped.current && round < bytes.count && failed.contains(false) {
                for (index, fd) in descriptors.enumerated() where !failed[index] {
                    if (try? sendAll(fd: fd, [bytes[round]])) == nil {
                        failed[index] = true
                    } else {
                        sent.withLock { $0[index] += 1 }
                    }
                }
                round += 1
                var slept: UInt32 = 0
                while slept < pause && !stopped.current {
                    usleep(min(5_000, pause - slept))
                    slept += 5_000
                }
            }
        }.start()
    }

    /// Stops dripping and waits for the thread; returns the bytes sent on each descriptor.
    @discardableResult
    func stop() -> [Int] {
        stopped.set(true)
        finished.wait()
        return sent.current
    }
}

/// How a socket ended up in `waitForServerClose`.
enum PeerOutcome: Equatable {
    /// Closed by the server (FIN or RST), `afterMilliseconds` after the wait began, no byte received.
    case closed(afterMilliseconds: Int)
    /// The server sent bytes (this many) instead of just closing.
    case answered(bytes: Int)
    /// Still open when the wait ended.
    case open
}

/// Watches `descriptors` (without reading anything the caller expects: each is only polled and
/// drained) until the server has closed every one or `timeout` has passed.
func waitForServerClose(_ descriptors: [Int32], since start: Deadline, timeout: Duration) -> [PeerOutcome] {
    var outcomes = [PeerOutcome](repeating: .open, count: descriptors.count)
    let end = Deadline.now + timeout
    var scratch = [UInt8](repeating: 0, count: 4096)
    while outcomes.contains(.open) && Deadline.now < end {
        for (index, fd) in descriptors.enumerated() {
            guard case .open = outcomes[index] else { continue }
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                outcomes[index] = .answered(bytes: n)
            } else if n == 0 || errno == ECONNRESET {
                outcomes[index] = .closed(afterMilliseconds: Int(milliseconds(since: start)))
            }
        }
        usleep(2_000)
    }
    return outcomes
}

/// The milliseconds after which the server closed each socket of `outcomes` (see
/// `waitForServerClose`), after checking that it closed every one without a byte of answer,
/// none earlier than `timeoutMilliseconds - 50` when `notBefore` (the timeout that should have
/// closed them, named `timeoutName` in the messages) and none later than 2 s past it.
@discardableResult
func checkClosedByTimeout(_ outcomes: [PeerOutcome], timeoutMilliseconds: Int, named timeoutName: String, notBefore: Bool = true,
                          file: StaticString = #filePath, line: UInt = #line) -> [Int] {
    let closedAfter = outcomes.compactMap { outcome -> Int? in if case .closed(let ms) = outcome { ms } else { nil } }
    XCTAssertEqual(closedAfter.count, outcomes.count, "not all closed (and without a byte of answer): \(outcomes)", file: file, line: line)
    if notBefore {
        XCTAssertGreaterThanOrEqual(closedAfter.min() ?? 0, timeoutMilliseconds - 50, "closed before the \(timeoutName) timeout",
                                    file: file, line: line)
    }
    XCTAssertLessThan(closedAfter.max() ?? .max, timeoutMilliseconds + 2_000, "closed long after the \(timeoutName) timeout",
                      file: file, line: line)
    return closedAfter
}
