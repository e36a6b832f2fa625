// Hello: the example server `make run` starts.
//
//   GET  /plaintext     "Hello, World!"
//   GET  /json          {"message":"Hello, World!"}
//   GET  /sleep?ms=N    parks the handler's fiber N ms (blocking style; the thread keeps serving)
//   POST /echo          echoes the request body (Content-Length or chunked)
//   GET  /users/:id     a route parameter
//
//   swift run -c release Hello [--host 127.0.0.1] [--port 8080] [--workers N]
import ArgumentParser
import Spindle
import SpindleFibers

struct Message: Encodable { let message: String }

@main
struct Hello: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Spindle's example HTTP server.")

    @Option(help: "Numeric address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks one).") var port = 8080
    @Option(help: "Worker threads (default: one per usable CPU).") var workers: Int?

    func run() throws {
        let router = Router<Handler>()
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
        let server = Server(router: router, configuration: configuration)
        print("Spindle Hello: serving on http://\(host):\(port) (Ctrl-C stops gracefully)")
        try server.run()
    }
}
