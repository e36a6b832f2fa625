// Hello: the example server `make run` starts.
//
//   GET  /plaintext     "Hello, World!"
//   GET  /json          {"message":"Hello, World!"}
//   GET  /sleep?ms=N    parks the handler's fiber N ms (blocking style; the thread keeps serving)
//   POST /echo          echoes the request body (Content-Length or chunked)
//   GET  /users/:id     a route parameter
//
//   swift run -c release Hello [--host 127.0.0.1] [--port 8080] [--workers N] [--access-log on|off]
//                              [--admin-host 127.0.0.1] [--admin-port 9180] [--admin-token T]
//
// With the access log on (the default; SPINDLE_ACCESS_LOG=off or --access-log off turns it off,
// as the benchmarks do), every request gets an X-Request-Id and one log line once answered.
// The admin listener serves GET /metrics (Prometheus text, Docs/observability.md) on
// --admin-host:--admin-port (default 127.0.0.1:9180, or SPINDLE_ADMIN_PORT; 0 turns it off, as
// the benchmarks do); a host other than loopback needs --admin-token (sent as a bearer token).
import ArgumentParser
import Foundation
import Spindle
import SpindleFibers

struct Message: Encodable { let message: String }

@main
struct Hello: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Spindle's example HTTP server.")

    @Option(help: "Numeric address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks one).") var port = 8080
    @Option(help: "Worker threads (default: one per usable CPU).") var workers: Int?
    @Option(help: "Request ids and a log line per request: on or off (default: SPINDLE_ACCESS_LOG, else on).")
    var accessLog: Switch = Switch(environment: "SPINDLE_ACCESS_LOG") ?? .on
    @Option(help: "Numeric address of the admin listener (GET /metrics).") var adminHost = "127.0.0.1"
    @Option(help: "Port of the admin listener; 0 turns it off (default: SPINDLE_ADMIN_PORT, else 9180).")
    var adminPort: Int = ProcessInfo.processInfo.environment["SPINDLE_ADMIN_PORT"].flatMap { Int($0) } ?? 9180
    @Option(help: "Bearer token the admin listener requires (needed when --admin-host is not loopback).")
    var adminToken: String?

    func run() throws {
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
        var configuration = ServerConfiguration(host: host, port: port)
        configuration.workers = workers
        configuration.adminHost = adminHost
        configuration.adminPort = adminPort == 0 ? nil : adminPort
        configuration.adminToken = adminToken
        let server = Server(router: router, configuration: configuration)
        print("Spindle Hello: serving on http://\(host):\(port) (Ctrl-C stops gracefully)"
              + (adminPort == 0 ? "" : "; metrics on http://\(adminHost):\(adminPort)/metrics"))
        try server.run()
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
