// spindle-server-probe: the client side (and crash-prone server side) of the SpindleTests
// integration tests, in a process of its own: 10,000 client sockets need their own descriptors,
// and a server that stops the process must not take the test runner with it.
//
//   spindle-server-probe sleepers <port> <count> <sleepMs> [--wait-go]
//       Opens <count> connections to 127.0.0.1:<port> at once (one fiber each, on a one-worker
//       Runtime). When all are connected it prints "connected <count>" (with --wait-go it then
//       waits for a line "go" on stdin), then every connection sends
//       `GET /sleep?ms=<sleepMs> HTTP/1.1` at once and reads its response, which must be 200.
//       Prints "ok <count> elapsed_ms=<ms> min_ms=<ms> max_ms=<ms>" and exits 0; on any failure
//       prints "FAIL: <reason>" (the first few failures) to stderr and exits 1.
//   spindle-server-probe idle <port> <count> <holdSeconds> [--concurrency N]
//       Establishes <count> keep-alive connections, N (default 64) at a time: each sends
//       `GET /hello HTTP/1.1`, reads a 200 response and stays open. Prints
//       "established <count>", then holds them idle until a line "release" arrives on stdin
//       (or <holdSeconds> pass). Then sends a second request on every connection (it must still
//       be open: keep-alive), closes them all, prints "ok <count>" and exits 0.
//   spindle-server-probe serve [--grace <ms>] [--workers <n>] [--signals | --service-group] [--nofile <n>] [--send-buffer <bytes>] [--admin]
//       Runs a Spindle server on 127.0.0.1 (port 0) for scenarios that may stop the process
//       (see `serve`), prints "port <n>", and serves until stdin reaches its end or reads
//       "stop" (with --signals or --service-group: until SIGTERM or SIGINT); then stops
//       gracefully, prints "stopped …" and exits 0. With --nofile, RLIMIT_NOFILE (soft and
//       hard) is set to <n> first, as `ulimit -n <n>` does.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import ServiceLifecycle
import Spindle
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import Synchronization



// MARK: - A minimal response reader (Content-Length bodies only)

struct ProbeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reads one response with a `Content-Length` body from `connection`; `pending` keeps bytes
/// read beyond it. Returns the status code and the body.
func readResponse(_ connection: TCPConnection, pending: inout [UInt8], deadline: Deadline) throws -> (status: Int, body: [UInt8]) {
    let separator: [UInt8] = [13, 10, 13, 10]
    func headEnd() -> Int? {
        guard pending.count >= 4 else { return nil }
        for i in 0...(pending.count - 4) where pending[i] == 13 && pending[i + 1] == 10 && pending[i + 2] == 13 && pending[i + 3] == 10 {
            return i
        }
        return nil
    }
    var end = headEnd()
    while end == nil {
        let chunk = try connection.read(upTo: 16 << 10, deadline: deadline)
        if chunk.isEmpty { throw ProbeError("end of stream before a complete response head (\(pending.count) bytes: \(String(decoding: pending.prefix(80), as: UTF8.self)))") }
        pending += chunk
        end = headEnd()
    }
    let head = String(decoding: pending[0..<end!], as: UTF8.self)
    let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
    let statusParts = lines[0].split(separator: " ", maxSplits: 2)
    guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
        throw ProbeError("malformed status line \"\(lines[0])\"")
    }
    var length = 0
    for line in lines.dropFirst() {
        let parts = line.split(separator: ":", maxSplits: 1)
        if parts.count == 2 && parts[0].lowercased() == "content-length" {
            length = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? -1
        } else if parts.count == 2 && parts[0].lowercased() == "transfer-encoding" {
            throw ProbeError("unexpected Transfer-Encoding in \(head)")
        }
    }
    guard length >= 0 else { throw ProbeError("bad Content-Length in \(head)") }
    let bodyStart = end! + separator.count
    while pending.count < bodyStart + length {
        let chunk = try connection.read(upTo: 16 << 10, deadline: deadline)
        if chunk.isEmpty { throw ProbeError("end of stream inside a response body") }
        pending += chunk
    }
    let body = Array(pending[bodyStart..<(bodyStart + length)])
    pending.removeFirst(bodyStart + length)
    return (status, body)
}

/// Keeps the first few failure messages and counts them all.
final class Failures {
    private(set) var count = 0
    private(set) var first: [String] = []
    func add(_ message: String) {
        count += 1
        if first.count < 5 { first.append(message) }
    }
    func exitIfAny(_ what: String) {
        if count > 0 { fail("\(count) \(what) failed; first: \(first.joined(separator: " | "))") }
    }
}

// MARK: - sleepers

func sleepers(port: Int, count: Int, sleepMs: Int, waitForGo: Bool) {
    let limit = raiseDescriptorLimit()
    if count + 64 > limit { fail("\(count) connections need more descriptors than RLIMIT_NOFILE \(limit)") }
    let runtime = Runtime(configuration: .init(workers: 1))
    let summary = Mutex<String>("")
    let failed = Atomic<Int>(0)
    do {
        try runtime.run { worker in
            defer { worker.runtime.stop() }
            let allConnected = Event()
            let go = Event()
            let group = WaitGroup()
            let failures = Failures()
            var connectedOrFailed = 0
            var ok = 0
            var minMs = Double.infinity
            var maxMs = 0.0
            var sentAt = Deadline.now
            for index in 0..<count {
                group.add()
                Fiber.spawn {
                    defer { group.done() }
                    let connection: TCPConnection
                    do {
                        connection = try TCPConnection.connect(host: "127.0.0.1", port: port, deadline: .now + .seconds(60))
                    } catch {
                        failures.add("connect #\(index): \(error)")
                        connectedOrFailed += 1
                        if connectedOrFailed == count { allConnected.set() }
                        return
                    }
                    defer { connection.close() }
                    connectedOrFailed += 1
                    if connectedOrFailed == count { allConnected.set() }
                    do {
                        try go.wait(deadline: .now + .seconds(300))
                        try connection.write(Array("GET /sleep?ms=\(sleepMs) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8), deadline: .now + .seconds(60))
                        var pending: [UInt8] = []
                        let response = try readResponse(connection, pending: &pending, deadline: .now + .seconds(120))
                        let latency = milliseconds(since: sentAt)
                        guard response.status == 200 else {
                            failures.add("connection #\(index): status \(response.status): \(String(decoding: response.body, as: UTF8.self))")
                            return
                        }
                        ok += 1
                        minMs = min(minMs, latency)
                        maxMs = max(maxMs, latency)
                    } catch {
                        failures.add("connection #\(index): \(error)")
                    }
                }
            }
            do {
                try allConnected.wait(deadline: .now + .seconds(120))
            } catch {
                fail("only \(connectedOrFailed) of \(count) connected within 120 s")
            }
            if failures.count > 0 { failures.exitIfAny("connects") }
            say("connected \(count)")
            if waitForGo {
                let line = try Fiber.offload { readLine() }
                guard line == "go" else { fail("expected \"go\" on stdin, got \(line.map { "\"\($0)\"" } ?? "end of input")") }
            }
            sentAt = .now
            go.set()
            try group.wait()
            let elapsed = milliseconds(since: sentAt)
            failed.store(failures.count, ordering: .relaxed)
            if failures.count > 0 { failures.exitIfAny("requests") }
            summary.withLock { $0 = "ok \(ok) elapsed_ms=\(Int(elapsed)) min_ms=\(Int(minMs)) max_ms=\(Int(maxMs))" }
        }
    } catch {
        fail("runtime: \(error)")
    }
    guard failed.load(ordering: .relaxed) == 0 else { fail("requests failed") }
    say(summary.withLock { $0 })
    exit(0)
}

// MARK: - idle

func idle(port: Int, count: Int, holdSeconds: Int, concurrency: Int) {
    let limit = raiseDescriptorLimit()
    if count + 64 > limit { fail("\(count) connections need more descriptors than RLIMIT_NOFILE \(limit)") }
    let runtime = Runtime(configuration: .init(workers: 1))
    do {
        try runtime.run { worker in
            defer { worker.runtime.stop() }
            var connections = [TCPConnection?](repeating: nil, count: count)
            let failures = Failures()
            let start = Deadline.now

            /// Runs `body(index)` for every index, `concurrency` fibers at a time.
            func forEach(_ body: @escaping (Int) throws -> Void) throws {
                let group = WaitGroup()
                var next = 0
                for _ in 0..<min(concurrency, count) {
                    group.add()
                    Fiber.spawn {
                        defer { group.done() }
                        while next < count {
                            let index = next
                            next += 1
                            do { try body(index) } catch { failures.add("connection #\(index): \(error)") }
                        }
                    }
                }
                try group.wait()
            }

            func request(_ connection: TCPConnection) throws {
                try connection.write(Array("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8), deadline: .now + .seconds(30))
                var pending: [UInt8] = []
                let response = try readResponse(connection, pending: &pending, deadline: .now + .seconds(30))
                guard response.status == 200 else { throw ProbeError("status \(response.status)") }
                guard pending.isEmpty else { throw ProbeError("\(pending.count) unexpected bytes after the response") }
            }

            try forEach { index in
                let connection = try TCPConnection.connect(host: "127.0.0.1", port: port, deadline: .now + .seconds(60))
                connections[index] = connection
                try request(connection)
            }
            failures.exitIfAny("connections")
            say("established \(count) in \(Int(milliseconds(since: start))) ms")

            // Hold them idle until told (or the hold time is over).
            let release = Event()
            Fiber.spawn {
                let line = try? Fiber.offload { readLine() }
                if line != "release" { say("note: stdin said \(line.map { "\"\($0)\"" } ?? "nothing (end of input)")") }
                release.set()
            }
            try? release.wait(deadline: .now + .seconds(Int64(holdSeconds)))

            // Still open and served: a second request on each.
            try forEach { index in
                guard let connection = connections[index] else { throw ProbeError("never connected") }
                try request(connection)
                connection.close()
                connections[index] = nil
            }
            failures.exitIfAny("second requests")
            say("ok \(count)")
            // The fiber reading stdin may still be blocked in its offloaded readLine (hold time
            // over): Runtime.run would wait for it, so end here.
            exit(0)
        }
    } catch {
        fail("runtime: \(error)")
    }
    exit(0)
}

// MARK: - serve

/// The number of open descriptors of this process.
func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// What each open descriptor is ("7:anon_inode:[io_uring]"), for naming a leaked one.
func openDescriptors() -> Set<String> {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return Set(names.map { name in
        "\(name):" + ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + name)) ?? "?")
    })
}

/// The descriptor count after the server stopped, waiting up to 3 s for it to fall to
/// `before` (threads that are ending close their rings and eventfds last; a slow machine or a
/// sanitizer stretches that), and the descriptors still open that were not open `before`.
func descriptorsAfterStop(before: Int, openBefore: Set<String>) -> (count: Int, extra: String) {
    var count = openDescriptorCount()
    var waited = 0
    while count > before && waited < 3000 {
        usleep(50_000)
        waited += 50
        count = openDescriptorCount()
    }
    let extra = openDescriptors().subtracting(openBefore).filter { !$0.hasSuffix(":/proc/\(getpid())/fd") }.sorted()
    return (count, extra.isEmpty ? "" : " extra=" + extra.joined(separator: ","))
}

/// Runs a server for scenarios whose failure mode stops the process; the test is the client.
///   POST /small-read   reads the body 16 bytes at a time (`RequestBody.read` with a
///                      16-byte buffer) and echoes it.
///   POST /echo         echoes the body (`readAll`).
///   GET  /hello        "Hello, World!"
///   GET  /sleep?ms=N   parks the handler N ms (counted: in flight, completed, failed)
///   GET  /bytes?n=N    N bytes of a pattern
///   GET  /touch-after-sleep?ms=N&probe=P  parks N ms (a cancellation ends the sleep early),
///                      then reads its request's path and fields (views into the receive
///                      buffer); counts (`changed`) an X-Probe field that is no longer P
/// Options: `--grace <ms>` shutdown grace period (default 2000), `--workers <n>` (default 1),
/// `--send-buffer <bytes>` `socketSendBufferSize` (default: the kernel's), `--admin` an admin
/// listener on a free port (printed as "admin <n>" before the "port" line),
/// `--signals`: the server is started with `handleSignals: true` and stops on SIGTERM/SIGINT.
/// `--service-group`: the server runs as a `Service` in a swift-service-lifecycle `ServiceGroup`
/// whose graceful-shutdown signals are SIGTERM and SIGINT (Spindle installs no watcher).
/// Commands on stdin: `inflight` prints "inflight <n>"; `stop` (or end of input) prints
/// "stopping", calls stop() and wait(), then prints
/// "stopped wait_ms=<ms> completed=<n> failed=<n> changed=<n> fds_before=<n> fds_after=<n>" (and
/// " extra=<fd>:<what>,…" naming descriptors open then that were not before) and exits 0.
/// With `--signals`, `stop` is not a command: the main thread waits for the server, and
/// wait_ms is -1 (the sender of the signal times it).
func serve(graceMilliseconds: Int, workers: Int, signals: Bool, serviceGroup: Bool, descriptorLimit: Int?) {
    if let descriptorLimit {
        var limit = rlimit(rlim_cur: rlim_t(descriptorLimit), rlim_max: rlim_t(descriptorLimit))
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { fail("setrlimit(RLIMIT_NOFILE, \(descriptorLimit)): errno \(errno)") }
    } else {
        raiseDescriptorLimit()
    }
    let inFlight = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let changed = Atomic<Int>(0)
    let router = Router<Handler>()
    router.on(.post, "/small-read") { request, _ in
        var body: [UInt8] = []
        var small = [UInt8](repeating: 0, count: 16)
        while true {
            let n = try small.withUnsafeMutableBytes { try request.body.read(into: $0) }
            if n == 0 { break }
            body += small[0..<n]
        }
        return .bytes(body)
    }
    router.on(.post, "/echo") { request, _ in .bytes(try request.body.readAll()) }
    router.on(.get, "/hello") { _, _ in .text("Hello, World!") }
    router.on(.get, "/bytes") { request, _ in
        .bytes([UInt8](repeating: UInt8(ascii: "b"), count: Int(request.queryParameter("n") ?? "") ?? 0))
    }
    router.on(.get, "/touch-after-sleep") { request, _ in
        let probe = request.queryParameter("probe")
        try? Fiber.sleep(for: .milliseconds(Int(request.queryParameter("ms") ?? "") ?? 100))
        if let probe, request.header("x-probe") != probe { changed.add(1, ordering: .relaxed) }
        return .text(request.path + " " + (request.header("host") ?? "-") + " " + (request.header("x-probe") ?? "-") + "\n")
    }
    router.on(.get, "/sleep") { request, _ in
        let ms = Int(request.queryParameter("ms") ?? "") ?? 100
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
        do {
            try Fiber.sleep(for: .milliseconds(ms))
        } catch {
            failed.add(1, ordering: .relaxed)
            throw error
        }
        completed.add(1, ordering: .relaxed)
        return .text("slept \(ms)\n")
    }
    // A first server opens what lives as long as the process (the stack pool's pidfd, see
    // CSpindle/sys.c), so the descriptor counts around the real one compare like with like.
    do {
        let warm = Server(router: Router<Handler>(), configuration: { var c = ServerConfiguration(host: "127.0.0.1", port: 0); c.workers = 1; return c }())
        _ = try warm.start()
        warm.stop()
        warm.wait()
    } catch { fail("warm-up server: \(error)") }
    if serviceGroup { warmUpServiceGroupSignals() }
    usleep(50_000)
    let fdsBefore = openDescriptorCount()
    let openBefore = openDescriptors()
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.workers = workers
    configuration.shutdownGracePeriod = .milliseconds(graceMilliseconds)
    let sendBuffer = option("--send-buffer", default: 0)
    if sendBuffer > 0 { configuration.socketSendBufferSize = sendBuffer }
    if arguments.contains("--admin") { configuration.adminPort = 0 }
    let server = Server(router: router, configuration: configuration)
    @Sendable func answerQueries(until stopLine: String?) {
        while let line = readLine(), line != stopLine {
            if line == "inflight" { say("inflight \(inFlight.load(ordering: .relaxed))") }
        }
    }
    let waited: Double
    if serviceGroup {
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: Logger(label: "spindle-server-probe")))
        let ended = DispatchSemaphore(value: 0)
        Task {
            do { try await group.run() } catch { fail("ServiceGroup.run: \(error)") }
            ended.signal()
        }
        guard waitUntil(timeout: .seconds(10), { server.address != nil }), let address = server.address else {
            fail("the service did not bind within 10 s")
        }
        say("port \(address.port)")
        Thread { answerQueries(until: nil) }.start()
        ended.wait()
        waited = -1
    } else {
        let address: SocketAddress
        do { address = try server.start(handleSignals: signals) } catch { fail("start: \(error)") }
        if let admin = server.adminAddress { say("admin \(admin.port)") }
        say("port \(address.port)")
        waited = blockingWait(server, signals: signals, answerQueries: answerQueries)
    }
    let after = descriptorsAfterStop(before: fdsBefore, openBefore: openBefore)
    say("stopped wait_ms=\(Int(waited)) completed=\(completed.load(ordering: .relaxed)) failed=\(failed.load(ordering: .relaxed)) changed=\(changed.load(ordering: .relaxed)) fds_before=\(fdsBefore) fds_after=\(after.count)\(after.extra)")
    exit(0)
}

/// Waits for a server started with `start`: for its signal (with `signals`), or for "stop" on
/// stdin, then stops it. Returns how long stop() + wait() took (ms), or -1 after a signal.
func blockingWait(_ server: Server, signals: Bool, answerQueries: @escaping @Sendable (String?) -> Void) -> Double {
    let waited: Double
    if signals {
        // The thread answering on stdin starts after `start`, so it blocks the signals too.
        Thread { answerQueries(nil) }.start()
        server.wait()
        waited = -1
    } else {
        answerQueries("stop")
        say("stopping")
        let start = Deadline.now
        server.stop()
        server.wait()
        waited = milliseconds(since: start)
    }
    return waited
}

/// Opens, once, what the group's signal handling keeps open for the rest of the process
/// (Dispatch's signal machinery), so the descriptor counts around the server compare like with
/// like: a signal source for SIGUSR2 (which nothing sends), created and cancelled.
func warmUpServiceGroupSignals() {
    let source = DispatchSource.makeSignalSource(signal: SIGUSR2, queue: .global())
    source.setEventHandler {}
    source.resume()
    source.cancel()
}

func option(_ name: String, default value: Int) -> Int {
    guard let i = CommandLine.arguments.firstIndex(of: name), i + 1 < CommandLine.arguments.count,
          let n = Int(CommandLine.arguments[i + 1]) else { return value }
    return n
}

// MARK: - main

let arguments = CommandLine.arguments
let mode = arguments.count > 1 ? arguments[1] : "help"
switch mode {
case "sleepers":
    guard arguments.count >= 5, let port = Int(arguments[2]), let count = Int(arguments[3]), let ms = Int(arguments[4]), count > 0, ms >= 0 else {
        fail("usage: spindle-server-probe sleepers <port> <count> <sleepMs> [--wait-go]")
    }
    sleepers(port: port, count: count, sleepMs: ms, waitForGo: arguments.dropFirst(5).contains("--wait-go"))
case "idle":
    guard arguments.count >= 5, let port = Int(arguments[2]), let count = Int(arguments[3]), let hold = Int(arguments[4]), count > 0 else {
        fail("usage: spindle-server-probe idle <port> <count> <holdSeconds> [--concurrency N]")
    }
    idle(port: port, count: count, holdSeconds: hold, concurrency: max(1, option("--concurrency", default: 64)))
case "serve":
    serve(graceMilliseconds: option("--grace", default: 2000), workers: option("--workers", default: 1),
          signals: arguments.contains("--signals"), serviceGroup: arguments.contains("--service-group"), descriptorLimit: arguments.contains("--nofile") ? option("--nofile", default: 256) : nil)
default:
    fail("unknown mode \(mode); modes: sleepers, idle, serve")
}
