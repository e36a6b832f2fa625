// Hello: the example server `make run` starts.
//
//   GET  /plaintext     "Hello, World!"
//   GET  /json          {"message":"Hello, World!"}
//   GET  /sleep?ms=N    parks the handler's fiber N ms (blocking style; the thread keeps serving)
//   POST /echo          echoes the request body (Content-Length or chunked)
//   GET  /users/:id     a route parameter
//
//   swift run -c release Hello [--host 127.0.0.1] [--port 8080] [--workers N] [--access-log on|off]
//                              [--spindle-KEY VALUE ...]
//
// With the access log on (the default; SPINDLE_ACCESS_LOG=off or --access-log off turns it off,
// as the benchmarks do), every request gets an X-Request-Id and one log line once answered.
//
// The options and any `--spindle-…` setting (`--spindle-idle-timeout 5`, see
// Docs/configuration.md) take precedence over `SPINDLE_*` environment variables
// (`SPINDLE_PORT=9000`), which take precedence over the defaults. The server runs as a
// swift-service-lifecycle service: SIGTERM or SIGINT (Ctrl-C) shuts it down gracefully.
import ArgumentParser
import Configuration
import Foundation
import Logging
import ServiceLifecycle
import Spindle
import SpindleFibers

struct Message: Encodable { let message: String }

@main
struct Hello: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Spindle's example HTTP server.")

    @Option(help: "Address or host name to listen on (default 127.0.0.1; SPINDLE_HOST).") var host: String?
    @Option(help: "Port to listen on (default 8080, 0 picks one; SPINDLE_PORT).") var port: Int?
    @Option(help: "Worker threads (default: one per usable CPU; SPINDLE_WORKERS).") var workers: Int?
    @Option(help: "Request ids and a log line per request: on or off (default: SPINDLE_ACCESS_LOG, else on).")
    var accessLog: Switch = Switch(environment: "SPINDLE_ACCESS_LOG") ?? .on
    @Argument(parsing: .allUnrecognized, help: "Other settings, as --spindle-KEY VALUE (Docs/configuration.md).")
    var settings: [String] = []

    func run() async throws {
        let router = Router<Handler>()
        if accessLog == .on {
            router.add(middleware: RequestIDMiddleware()).add(middleware: AccessLogMiddleware())
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
        let config = ConfigReader(providers: [
            InMemoryProvider(name: "options", values: options),
            CommandLineArgumentsProvider(arguments: ["Hello"] + settings),
            EnvironmentVariablesProvider(),
        ])
        let configuration = try ServerConfiguration(config: config)
        let logger = Logger(label: "spindle")
        let server = Server(router: router, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        print("Spindle Hello: starting on \(configuration.host) port \(configuration.port) (Ctrl-C stops gracefully)")
        try await group.run()
    }
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
