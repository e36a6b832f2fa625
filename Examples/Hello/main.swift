// Hello: the example server `make run` starts.
//
//   GET  /plaintext     "Hello, World!"
//   GET  /json          {"message":"Hello, World!"}
//   GET  /sleep?ms=N    parks the handler's fiber N ms (blocking style; the thread keeps serving)
//   POST /echo          echoes the request body (Content-Length or chunked)
//   GET  /users/:id     a route parameter
//   GET  /static/…      the files of --static DIR, when given (StaticFiles)
//
//   swift run -c release Hello [--host 127.0.0.1] [--port 8080] [--workers N] [--processes N]
//                              [--access-log on|off] [--tls-cert CHAIN.pem --tls-key KEY.pem]
//                              [--admin-host 127.0.0.1] [--admin-port 9180] [--admin-token T]
//                              [--spindle-KEY VALUE ...]
//
// With the access log on (the default; SPINDLE_ACCESS_LOG=off or --access-log off turns it off,
// as the benchmarks do), every request gets an X-Request-Id and one log line once answered.
//
// With --tls-cert and --tls-key (PEM files: the certificate chain, leaf first, and its key; or
// SPINDLE_TLS_CERTIFICATE_CHAIN and SPINDLE_TLS_PRIVATE_KEY) every connection speaks HTTPS
// instead (Docs/tls.md); `make run-tls` makes a self-signed pair and serves https://127.0.0.1:8443.
// SIGHUP (`kill -HUP <pid>`) then reads the two files again: a renewed certificate is served to
// new connections, open ones keep theirs.
//
// The options and any `--spindle-…` setting (`--spindle-idle-timeout 5`, see
// Docs/configuration.md) take precedence over `SPINDLE_*` environment variables
// (`SPINDLE_PORT=9000`), which take precedence over the defaults. The server runs as a
// swift-service-lifecycle service: SIGTERM or SIGINT (Ctrl-C) shuts it down gracefully.
//
// With --processes N (N > 1, or SPINDLE_PROCESSES) the process becomes a supervisor of N worker
// processes instead, each with its own worker threads (Docs/processes.md): a worker that dies
// is restarted, SIGTERM/Ctrl-C stops them all gracefully, SIGHUP replaces them
// (`kill -HUP <supervisor pid>`). The supervisor forks, which only a process with one thread
// may do, so the command is synchronous and starts Swift concurrency only for the service.
//
// The admin listener serves GET /metrics (Prometheus text, Docs/observability.md) and the live
// page GET /_spindle/ (plots of the last minutes, updated every second) on
// --admin-host:--admin-port (default 127.0.0.1:9180, or SPINDLE_ADMIN_PORT; 0 turns it off, as
// the benchmarks do); a host other than loopback needs --admin-token (sent as a bearer token).
import ArgumentParser
import Configuration
import Foundation
import Logging
import ServiceLifecycle
import Spindle
import SpindleFibers
import SpindleJSON
import Synchronization

/// The body of GET /json. Its `JSONWritable` conformance writes the text its synthesized
/// `Encodable` conformance makes Foundation's `JSONEncoder()` write, without `Encodable`'s
/// dispatch on every request (`Docs/guide.md`, "JSON"); `.json(_:)` takes that path because the
/// type is `JSONWritable`.
struct Message: JSONWritable {
    let message: String

    func writeJSON(to json: inout JSONWriter) {
        json.writeObject { $0.write("message", message) }
    }
}

@main
struct Hello: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Spindle's example HTTP server.")

    @Option(help: "Address or host name to listen on (default 127.0.0.1; SPINDLE_HOST).") var host: String?
    @Option(help: "Port to listen on (default 8080, 0 picks one; SPINDLE_PORT).") var port: Int?
    @Option(help: "Worker threads (default: one per usable CPU; per process with --processes; SPINDLE_WORKERS).") var workers: Int?
    @Option(help: "Worker processes under a supervisor (default 1: serve in this process; SPINDLE_PROCESSES).")
    var processes: Int?
    @Option(help: "Request ids and a log line per request: on or off (default: SPINDLE_ACCESS_LOG, else on).")
    var accessLog: Switch = Switch(environment: "SPINDLE_ACCESS_LOG") ?? .on
    @Option(help: "Numeric address of the admin listener (GET /metrics).") var adminHost = "127.0.0.1"
    @Option(help: "Port of the admin listener; 0 turns it off (default: SPINDLE_ADMIN_PORT, else 9180).")
    var adminPort: Int = ProcessInfo.processInfo.environment["SPINDLE_ADMIN_PORT"].flatMap { Int($0) } ?? 9180
    @Option(help: "Bearer token the admin listener requires (needed when --admin-host is not loopback).")
    var adminToken: String?
    @Option(help: "A directory whose files are served under /static (default: none).") var `static`: String?
    @Option(help: "PEM file of the TLS certificate chain, leaf first (with --tls-key: serve HTTPS).") var tlsCert: String?
    @Option(help: "PEM file of the TLS certificate's private key (with --tls-cert).") var tlsKey: String?
    @Argument(parsing: .allUnrecognized, help: "Other settings, as --spindle-KEY VALUE (Docs/configuration.md).")
    var settings: [String] = []

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together: give both PEM files (the certificate chain and its key), or neither for plain HTTP")
        }
    }

    func run() throws {
        let router = Router<Handler>()
        if accessLog == .on {
            router.add(middleware: RequestIDMiddleware()).add(middleware: AccessLogMiddleware())
        }
        if let directory = `static` {
            router.add(middleware: try StaticFiles(root: directory, urlPrefix: "/static"))
        }
        router.on(.get, "/plaintext") { _, _ in .text("Hello, World!") }
        router.on(.get, "/json") { _, _ in try .json(Message(message: "Hello, World!")) }
        router.on(.get, "/sleep") { request, _ in
            let ms = Int(request.queryParameter("ms") ?? "") ?? 100
            guard (0...60_000).contains(ms) else { throw HTTPError(.badRequest, "ms must be 0...60000") }
            try Fiber.sleep(for: .milliseconds(ms))
            return .text("slept \(ms) ms\n")
        }
        router.on(.post, "/echo") { request, _ in
            .bytes(try request.body.readAll(), contentType: request.header("content-type") ?? "application/octet-stream")
        }
        router.on(.get, "/users/:id") { _, context in
            let id = try context.parameters.require("id", as: Int.self)
            return try .json(["id": id])
        }
        // The declared options first, then the other `--spindle-…` arguments, then SPINDLE_* variables.
        var options: [AbsoluteConfigKey: ConfigValue] = [:]
        if let host { options["spindle.host"] = ConfigValue(.string(host), isSecret: false) }
        if let port { options["spindle.port"] = ConfigValue(.int(port), isSecret: false) }
        if let workers { options["spindle.workers"] = ConfigValue(.int(workers), isSecret: false) }
        if let processes { options["spindle.processes"] = ConfigValue(.int(processes), isSecret: false) }
        if let tlsCert { options["spindle.tls.certificateChain"] = ConfigValue(.string(tlsCert), isSecret: false) }
        if let tlsKey { options["spindle.tls.privateKey"] = ConfigValue(.string(tlsKey), isSecret: false) }
        let config = ConfigReader(providers: [
            InMemoryProvider(name: "options", values: options),
            CommandLineArgumentsProvider(arguments: ["Hello"] + settings),
            EnvironmentVariablesProvider(),
        ])
        var configuration = try ServerConfiguration(config: config)
        configuration.adminHost = adminHost
        configuration.adminPort = adminPort == 0 ? nil : adminPort
        configuration.adminToken = adminToken
        let scheme = configuration.tls == nil ? "http" : "https"
        let logger = Logger(label: "spindle")
        let server = Server(router: router, configuration: configuration, logger: logger)
        if configuration.processes > 1 {
            // The supervisor: this thread forks the worker processes and returns after SIGTERM.
            print("Spindle Hello: starting \(configuration.processes) worker processes on \(configuration.host) port \(configuration.port) (Ctrl-C stops them gracefully, SIGHUP replaces them)")
            try server.run()
            return
        }
        let reloads = configuration.tls == nil ? nil : reloadCertificatesOnHangUp(server, logger: logger)
        defer { reloads?.cancel() }
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        print("Spindle Hello: starting on \(scheme)://\(configuration.host):\(configuration.port) (Ctrl-C stops gracefully)"
              + (adminPort == 0 ? "" : "; metrics on http://\(adminHost):\(adminPort)/metrics, the live page on http://\(adminHost):\(adminPort)/_spindle/"))
        try runToCompletion(group)
    }

    /// With TLS: SIGHUP reads the certificate and key files again (`Server.reloadTLSCertificates`),
    /// for a certificate renewed on disk; open connections keep theirs, and a failed reload (a
    /// missing file, a key that does not match) is logged while the old certificate serves on.
    private func reloadCertificatesOnHangUp(_ server: Server, logger: Logger) -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler {
            do { try server.reloadTLSCertificates() } catch { logger.error("SIGHUP: \(error); still serving the previous certificates") }
        }
        source.resume()
        return source
    }

    /// Runs `group` on Swift concurrency's threads and blocks this one until it has ended.
    private func runToCompletion(_ group: ServiceGroup) throws {
        let outcome = Outcome()
        let ended = DispatchSemaphore(value: 0)
        Task {
            do { try await group.run() } catch { outcome.failure.withLock { $0 = error } }
            ended.signal()
        }
        ended.wait()
        if let error = outcome.failure.withLock({ $0 }) { throw error }
    }
}

/// What the service group's task ended with, handed to the blocked command thread.
final class Outcome: Sendable {
    let failure = Mutex<(any Error)?>(nil)
}

/// `on` or `off`, from the command line or an environment variable.
enum Switch: String, ExpressibleByArgument {
    case on, off

    /// The value of `variable` when it is set to on/off (also 1/0, true/false); nil otherwise.
    init?(environment variable: String) {
        guard let raw = ProcessInfo.processInfo.environment[variable]?.lowercased() else { return nil }
        switch raw {
        case "on", "1", "true", "yes": self = .on
        case "off", "0", "false", "no": self = .off
        default: return nil
        }
    }
}
