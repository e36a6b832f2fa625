// Chat: rooms over WebSocket and Server-Sent Events, the example `make run-chat` starts.
//
//   GET  /rooms/:room/ws?from=NAME   a WebSocket member: send text, receive the room's messages as JSON
//   GET  /rooms/:room/events         an event stream member: `joined`, then a `message` event per message
//   POST /rooms/:room/messages       {"text":"hi","from":"ann"} (application/json) or the text itself
//   GET  /rooms/:room                {"members":N,"room":"…","workers":W}
//
//   swift run -c release Chat [--host 127.0.0.1] [--port 8080] [--workers N] [--queue 256]
//                             [--max-message-bytes 16384] [--heartbeat-ms 15000]
//
// Rooms are shared by all workers (ChatHub). A member that lets --queue messages pile up is
// disconnected. SIGTERM or SIGINT (Ctrl-C) stops it gracefully.
import ArgumentParser
import ChatApp
import Logging
import ServiceLifecycle
import Spindle

@main
struct ChatServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "Chat", abstract: "Spindle's chat example: rooms over WebSocket and Server-Sent Events.")

    @Option(help: "Address or host name to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks one).") var port = 8080
    @Option(help: "Worker threads (default: one per usable CPU).") var workers: Int?
    @Option(help: "Messages a member may have waiting before it is disconnected.") var queue = 256
    @Option(help: "The longest message text, in bytes.") var maxMessageBytes = 16 << 10
    @Option(help: "Milliseconds between keep-alive comments on every event stream (and how soon one that left is noticed).") var heartbeatMs = 15_000
    @Option(help: "Request ids and a log line per request: on or off.") var accessLog = "off"

    func run() async throws {
        guard queue >= 1 else { throw ValidationError("--queue must be at least 1") }
        guard maxMessageBytes >= 1 else { throw ValidationError("--max-message-bytes must be at least 1") }
        guard (1...3_600_000).contains(heartbeatMs) else { throw ValidationError("--heartbeat-ms must be 1...3600000") }
        let logger = Logger(label: "chat")
        let hub = ChatHub(configuration: ChatConfiguration(memberQueueCapacity: queue, maxMessageBytes: maxMessageBytes,
                                                           eventStreamHeartbeat: .milliseconds(heartbeatMs)))
        let router = Router<Handler>()
        if accessLog == "on" {
            router.add(middleware: RequestIDMiddleware()).add(middleware: AccessLogMiddleware())
        }
        ChatRoutes.add(to: router, hub: hub)
        var configuration = ServerConfiguration(host: host, port: port)
        configuration.workers = workers
        let server = Server(router: router, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        print("Spindle Chat: ws://\(host):\(port)/rooms/lobby/ws  http://\(host):\(port)/rooms/lobby/events  POST /rooms/lobby/messages (Ctrl-C stops gracefully)")
        try await group.run()
    }
}
