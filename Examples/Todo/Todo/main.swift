// Todo: a JSON REST API on SQLite (GRDB), the example `make run-todo` starts.
//
//   POST   /todos            {"title":"Buy milk"}  → 201 with the stored todo
//   GET    /todos            ?done=true|false  ?limit=1…100 (50)  ?offset=0…
//   GET    /todos/:id
//   PATCH  /todos/:id        {"title":…} and/or {"done":true}
//   DELETE /todos/:id        → 204
//
//   swift run -c release Todo [--host 127.0.0.1] [--port 8080] [--workers N] [--database PATH]
//                             [--admin-port 9180]
//
// The database is todo.sqlite in the temporary directory unless --database says otherwise; it
// is created and migrated on first start. Every database call runs on Spindle's offload pool
// (SQLite blocks), so the worker threads keep serving. SIGTERM or SIGINT (Ctrl-C) stops the
// server gracefully. The admin listener (GET /metrics, the live page /_spindle/) is on
// 127.0.0.1:--admin-port (9180, or SPINDLE_ADMIN_PORT; 0 turns it off).
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Spindle
import TodoApp

@main
struct TodoServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "Todo", abstract: "Spindle's todo example: a JSON API on SQLite.")

    @Option(help: "Address or host name to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks one).") var port = 8080
    @Option(help: "Worker threads (default: one per usable CPU).") var workers: Int?
    @Option(help: "The SQLite database file (created and migrated when missing).") var database = TodoStore.defaultPath
    @Option(help: "Request ids and a log line per request: on or off.") var accessLog = "on"
    @Option(help: "Port of the loopback admin listener (GET /metrics); 0 turns it off (default: SPINDLE_ADMIN_PORT, else 9180).")
    var adminPort: Int = ProcessInfo.processInfo.environment["SPINDLE_ADMIN_PORT"].flatMap { Int($0) } ?? 9180

    func run() async throws {
        let logger = Logger(label: "todo")
        let store = try TodoStore(path: database)
        let router = Router<Handler>()
        if accessLog == "on" {
            router.add(middleware: RequestIDMiddleware()).add(middleware: AccessLogMiddleware())
        }
        TodoRoutes.add(to: router, store: store)
        var configuration = ServerConfiguration(host: host, port: port)
        configuration.workers = workers
        configuration.adminPort = adminPort == 0 ? nil : adminPort
        let server = Server(router: router, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        print("Spindle Todo: http://\(host):\(port)/todos, database \(store.path) (Ctrl-C stops gracefully)")
        try await group.run()
    }
}
