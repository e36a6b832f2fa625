// AsyncBridge: handlers calling an async library (AsyncHTTPClient) through Context.await, the
// example `make run-async-bridge` starts.
//
//   GET /fetch?path=/x        the upstream's answer to /x: status, a few fields, body (at most 1 MiB)
//   GET /fan-out?path=/a&…    the paths fetched concurrently in one task group, as JSON
//   GET /stats                upstream calls succeeded, failed and cancelled
//
//   swift run -c release --package-path Examples/AsyncBridge AsyncBridge [--host 127.0.0.1] [--port 8080]
//        [--workers N] [--upstream http://host:port] [--event-loop-threads 1]
//
// Without --upstream, it starts a demo upstream of its own on 127.0.0.1 (/hello, /slow/:ms,
// /status/:code). The HTTP client and its event loop group are shut down after the server has
// stopped (a Service after the server in one ServiceGroup). SIGTERM or SIGINT (Ctrl-C) stops it.
import ArgumentParser
import AsyncBridgeApp
import Logging
import ServiceLifecycle
import Spindle

@main
struct AsyncBridgeServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "AsyncBridge",
                                                    abstract: "Spindle's async bridge example: AsyncHTTPClient called from handlers.")

    @Option(help: "Address or host name to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks one).") var port = 8080
    @Option(help: "Worker threads (default: one per usable CPU).") var workers: Int?
    @Option(help: "The upstream's base URL (default: a demo upstream of its own).") var upstream: String?
    @Option(help: "Event loop threads of the HTTP client.") var eventLoopThreads = 1
    @Option(help: "Request ids and a log line per request: on or off.") var accessLog = "on"

    func run() async throws {
        let logger = Logger(label: "async-bridge")
        guard (1...64).contains(eventLoopThreads) else { throw ValidationError("--event-loop-threads must be 1...64") }
        var demo: DemoUpstream? = nil
        let upstreamURL: UpstreamBaseURL
        if let upstream {
            upstreamURL = try UpstreamBaseURL(upstream)
        } else {
            let started = try DemoUpstream()
            demo = started
            upstreamURL = started.url
            print("demo upstream: \(upstreamURL)")
        }
        defer { demo?.stop() }
        let bridge = AsyncBridge(configuration: AsyncBridgeConfiguration(upstream: upstreamURL, eventLoopThreads: eventLoopThreads))
        let router = Router<Handler>()
        if accessLog == "on" {
            router.add(middleware: RequestIDMiddleware()).add(middleware: AccessLogMiddleware())
        }
        bridge.addRoutes(to: router)
        var configuration = ServerConfiguration(host: host, port: port)
        configuration.workers = workers
        let server = Server(router: router, configuration: configuration, logger: logger)
        // Shut down in reverse order: the server first (its requests finish), then the client.
        let group = ServiceGroup(configuration: .init(services: [bridge, server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        print("Spindle AsyncBridge: http://\(host):\(port)/fetch?path=/hello  /fan-out  /stats (Ctrl-C stops gracefully)")
        do {
            try await group.run()
        } catch {
            try? await bridge.shutdown()  // the group failed (e.g. the port was taken): the client still goes
            throw error
        }
        try await bridge.shutdown()  // already done by the group: returns at once
    }
}
