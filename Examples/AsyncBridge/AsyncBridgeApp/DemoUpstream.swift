import Spindle
import SpindleFibers

/// A small upstream server on 127.0.0.1 (port chosen by the kernel, one worker), so the async
/// bridge can be tried alone.
///
/// | route | answer |
/// |---|---|
/// | `GET /hello` | `Hello from the upstream` (text) |
/// | `GET /slow/:ms` | `slept N ms` after sleeping `ms` milliseconds (0...30000) |
/// | `GET /status/:code` | an empty answer with that status (200...599) |
public final class DemoUpstream: Sendable {
    private let server: Server
    /// Its base URL, `http://127.0.0.1:PORT`.
    public let url: UpstreamBaseURL

    /// Starts the server on a thread of its own plus its worker. Blocks until it listens;
    /// throws what `Server.start` throws.
    public init() throws {
        let router = Router<Handler>()
        router.get("/hello") { _, _ in .text("Hello from the upstream\n") }
        router.get("/slow/:ms") { _, context in
            let milliseconds = try context.parameters.require("ms", as: Int.self)
            guard (0...30_000).contains(milliseconds) else { throw HTTPError(.badRequest, "ms must be 0...30000") }
            try Fiber.sleep(for: .milliseconds(milliseconds))
            return .text("slept \(milliseconds) ms\n")
        }
        router.get("/status/:code") { _, context in
            let code = try context.parameters.require("code", as: Int.self)
            guard (200...599).contains(code) else { throw HTTPError(.badRequest, "code must be 200...599") }
            return Response(status: .init(code: code))
        }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 1
        server = Server(router: router, configuration: configuration)
        let port = try server.start().port
        url = try UpstreamBaseURL("http://127.0.0.1:\(port)")
    }

    /// Stops the server and blocks the calling thread until it has stopped.
    public func stop() {
        server.stop()
        server.wait()
    }
}
