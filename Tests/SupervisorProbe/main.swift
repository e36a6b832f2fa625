// spindle-supervisor-probe: a server under the pre-fork supervisor for SupervisorTests, in a
// process of its own (its workers crash on purpose, and `Server.run()` with processes > 1 must
// be called by a process's only thread, which a test runner is not).
//
//   spindle-supervisor-probe [--processes N] [--workers N] [--grace ms] [--crash-loop-limit N]
//                            [--thread-first]
//
// Serves on 127.0.0.1, port 0. Every log line of the supervisor and of its workers goes to
// stdout as "<level> <message>" (one write each, so lines of different processes never mix);
// the test reads the port from "info listening on http://127.0.0.1:<port> …" and the workers
// from "… started: pid <pid>" and "… is ready". Routes:
//   GET /pid          this worker process's pid
//   GET /crash        traps (fatalError): the worker process dies with SIGILL/SIGTRAP
//   GET /sleep?ms=N   logs "info sleeping <pid>", parks N ms, answers "slept N <pid>"
// When `run()` returns (after SIGTERM/SIGINT) it prints "supervisor stopped" and exits 0; when
// the supervisor gives up it prints "supervisor gave up: <error>" and exits 3. With
// --thread-first a thread is started before `run()`, which must stop the process with the
// supervisor's message instead of forking.
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Spindle
import SpindleFibers
import SpindleTestSupport

/// swift-log to stdout, one unbuffered write per line.
struct LineLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        say("\(event.level) \(event.message)")
    }
}

func option(_ name: String, default value: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count, let n = Int(arguments[i + 1]) else { return value }
    return n
}

let logger = Logger(label: "spindle") { _ in LineLogHandler() }
let router = Router<Handler>()
router.on(.get, "/pid") { _, _ in .text("\(getpid())\n") }
router.on(.get, "/crash") { _, _ in
    fatalError("GET /crash: this worker process ends here")
}
router.on(.get, "/sleep") { request, _ in
    let ms = Int(request.queryParameter("ms") ?? "") ?? 100
    logger.info("sleeping \(getpid())")
    try Fiber.sleep(for: .milliseconds(ms))
    return .text("slept \(ms) \(getpid())\n")
}

var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
configuration.processes = option("--processes", default: 2)
configuration.workers = option("--workers", default: 1)
configuration.shutdownGracePeriod = .milliseconds(option("--grace", default: 2000))
configuration.supervision.crashLoopLimit = option("--crash-loop-limit", default: 5)
let server = Server(router: router, configuration: configuration, logger: logger)

/// The body of the thread `--thread-first` starts: sleeps for good. A named function, not a
/// closure: a closure written in top-level code is isolated to the main actor, and Swift traps
/// when another thread runs it.
func sleepForever(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    while true { sleep(60) }
}

if CommandLine.arguments.contains("--thread-first") {
    var thread = pthread_t()
    guard pthread_create(&thread, nil, sleepForever, nil) == 0 else { fail("pthread_create failed") }
}

do {
    try server.run()
    say("supervisor stopped")
    exit(0)
} catch let error as SupervisorError {
    say("supervisor gave up: \(error)")
    exit(3)
} catch {
    say("supervisor failed: \(error)")
    exit(4)
}
