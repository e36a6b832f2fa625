// Helpers of SupervisorTests: the `spindle-supervisor-probe` subprocess (a supervisor and its
// worker processes) with what its log says, a loop of clients hitting it, and whether a
// process still runs.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleFibers
import SpindleTestSupport

/// A running `spindle-supervisor-probe`: the supervisor (the probe process itself) and its
/// worker processes, known from its log lines on stdout.
final class SupervisorProbe: ProbeProcess, @unchecked Sendable {
    // @unchecked Sendable: `port` is written once, in init; the rest is ProbeProcess's.
    /// The port it listens on.
    private(set) var port = 0

    /// Starts `spindle-supervisor-probe <arguments>` and, unless `waitForReady` is 0, waits
    /// for its port and for that many workers to say they are ready.
    init(_ arguments: [String], environment: [String: String] = [:], ioUringBlocked: Bool = false, waitForReady: Int) throws {
        try super.init(executable: "spindle-supervisor-probe", arguments: arguments, environment: environment,
                       ioUringBlocked: ioUringBlocked)
        guard waitForReady > 0 else { return }
        let listening = try waitForLine(prefix: "info listening on http://127.0.0.1:", timeout: .seconds(20))
        guard let port = Int(listening.dropFirst("info listening on http://127.0.0.1:".count).prefix { $0.isNumber }) else {
            throw TestFailure("no port in \"\(listening)\"")
        }
        self.port = port
        try waitFor("\(waitForReady) ready workers", timeout: .seconds(20)) { self.readyWorkers.count >= waitForReady }
    }

    /// The supervisor's pid (the probe's own).
    var supervisorPID: Int32 {
        get throws {
            let line = try waitForLine(prefix: "info listening on", timeout: .seconds(5))
            guard let range = line.range(of: "supervisor pid "), let pid = Int32(line[range.upperBound...]) else {
                throw TestFailure("no supervisor pid in \"\(line)\"")
            }
            return pid
        }
    }

    /// Log lines so far.
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// Pids of the workers that said they were ready, in that order ("worker process <slot>
    /// (pid <pid>) is ready"), ended ones included.
    var readyWorkers: [Int32] {
        lines.compactMap { line in
            guard line.hasPrefix("info worker process "), line.hasSuffix(") is ready"),
                  let open = line.range(of: "(pid ") else { return nil }
            return Int32(line[open.upperBound...].prefix { $0.isNumber })
        }
    }

    /// Lines saying a worker ended unexpectedly.
    var unexpectedEnds: [String] { lines.filter { $0.contains("ended unexpectedly") } }

    /// Polls `condition` every 5 ms for at most `timeout`; throws naming `what` (and the log)
    /// when it does not come true.
    func waitFor(_ what: String, timeout: Duration, _ condition: () -> Bool) throws {
        if !waitUntil(timeout: timeout, condition) {
            throw TestFailure("no \(what) within \(timeout)\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr.suffix(3000))")
        }
    }

    /// Stops it (SIGTERM) if it still runs and waits for it; for tearDown.
    func stopAndWait() {
        if isRunning { try? send(signal: SIGTERM) }
        _ = try? waitForExit(timeout: .seconds(10))
    }
}

/// Client threads, each sending `GET <path>` on a new connection (`Connection: close`) again and
/// again until stopped, counting what each request got: a 200 with the pid of the worker
/// process that answered, or a failure (refused, reset, ended without a response, timed out, not 200).
final class ClientLoop: @unchecked Sendable {
    // @unchecked Sendable: `results` is behind a lock; the rest is immutable.
    struct Results {
        var succeeded = 0
        /// pid → requests it answered.
        var answeredBy: [Int32: Int] = [:]
        var failures: [String] = []
    }

    private let port: Int
    private let results = Locked(Results())
    private let running = Locked(true)
    private let finished = DispatchGroup()

    /// Starts `threads` clients on 127.0.0.1:`port`.
    init(port: Int, threads: Int, path: String = "/pid") {
        self.port = port
        for _ in 0..<threads {
            finished.enter()
            Thread { [self] in
                defer { finished.leave() }
                while running.current { request(path) }
            }.start()
        }
    }

    private func request(_ path: String) {
        do {
            let client = try TestClient(port: port, timeoutSeconds: 5)
            defer { client.close() }
            try client.send("GET \(path) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            let response = try client.readResponse()
            let pid = Int32(response.bodyString.trimmingCharacters(in: .whitespacesAndNewlines))
            guard response.status == 200, let pid else { throw TestFailure("status \(response.status): \(response.bodyString)") }
            results.withLock {
                $0.succeeded += 1
                $0.answeredBy[pid, default: 0] += 1
            }
        } catch {
            results.withLock { $0.failures.append("\(error)") }
        }
    }

    /// What the requests got so far.
    var current: Results { results.current }

    /// Stops the clients (each finishes its request) and returns what all requests got.
    func stop() throws -> Results {
        running.set(false)
        guard finished.wait(timeout: .now() + 15) == .success else { throw TestFailure("client loop did not stop within 15 s") }
        return results.current
    }

    /// Waits until `count` more requests than now have succeeded (at most `timeout`).
    func waitForMoreSuccesses(_ count: Int, timeout: Duration) throws {
        let target = current.succeeded + count
        guard waitUntil(timeout: timeout, { current.succeeded >= target }) else {
            throw TestFailure("fewer than \(count) requests succeeded within \(timeout): \(current.succeeded) in all, failures \(current.failures.prefix(3))")
        }
    }
}

/// True when `pid` no longer runs: no such process, or a zombie nobody has reaped yet.
func processHasEnded(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    // "pid (name) S …": the state follows the last ')'.
    guard let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state == "Z" || state == "X"
}
