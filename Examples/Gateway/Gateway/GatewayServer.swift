// Gateway: an API gateway, the example `make run-gateway` starts.
//
//   GET /dashboard/:user   the parts, called in parallel, each within --deadline-ms:
//                          {"parts":{"orders":{"status":"timeout",…},"profile":{"status":"ok","data":{…},…},…},…}
//   GET /proxy/*           the proxy upstream's response, streamed through
//   GET /stats             upstream connections opened and reused
//
//   swift run -c release Gateway [--host 127.0.0.1] [--port 8080] [--workers N]
//                                [--part NAME=http://host:port/path/{user} ...] [--proxy http://host:port]
//                                [--deadline-ms 250]
//
// Without --part, it starts three demo upstreams of its own on 127.0.0.1 (a fast one, one that
// answers after 2 s, one that answers 500) and uses them as the parts, and the fast one as the
// proxy upstream unless --proxy says otherwise. SIGTERM or SIGINT (Ctrl-C) stops it gracefully.
import ArgumentParser
import GatewayApp
import Logging
import ServiceLifecycle
import Spindle

@main
struct GatewayServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "Gateway", abstract: "Spindle's gateway example: fan-out with deadlines, and a streaming proxy.")

    @Option(help: "Address or host name to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks one).") var port = 8080
    @Option(help: "Worker threads (default: one per usable CPU).") var workers: Int?
    @Option(help: "A dashboard part, NAME=URL with {user} where the user goes (repeat; default: demo upstreams).") var part: [String] = []
    @Option(help: "The proxy's upstream base URL (default: the demo's fast upstream).") var proxy: String?
    @Option(help: "Each dashboard call's deadline in milliseconds.") var deadlineMs = 250
    @Option(help: "Request ids and a log line per request: on or off.") var accessLog = "on"

    func run() async throws {
        let logger = Logger(label: "gateway")
        guard (1...60_000).contains(deadlineMs) else { throw ValidationError("--deadline-ms must be 1...60000") }
        var demo: DemoUpstreams? = nil
        var parts = try part.map { try DashboardPartSource(argument: $0) }
        var proxyUpstream = try proxy.map { try UpstreamURL($0) }
        if parts.isEmpty {
            let upstreams = try DemoUpstreams()
            demo = upstreams
            parts = upstreams.parts
            proxyUpstream = proxyUpstream ?? upstreams.proxyUpstream
            for part in parts { print("demo upstream \(part.name): \(part.urlTemplate)") }
        }
        defer { demo?.stop() }
        let gateway = Gateway(configuration: GatewayConfiguration(parts: parts, proxyUpstream: proxyUpstream,
                                                                  partDeadline: .milliseconds(deadlineMs)))
        let router = Router<Handler>()
        if accessLog == "on" {
            router.add(middleware: RequestIDMiddleware()).add(middleware: AccessLogMiddleware())
        }
        gateway.addRoutes(to: router)
        var configuration = ServerConfiguration(host: host, port: port)
        configuration.workers = workers
        let server = Server(router: router, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        print("Spindle Gateway: http://\(host):\(port)/dashboard/alice  /proxy/hello  /stats (Ctrl-C stops gracefully)")
        try await group.run()
    }
}
