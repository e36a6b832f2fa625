// Helpers of the client tests: a one-worker runtime for the client's fibers (bounded), the
// Spindle server the client talks to, scripted raw servers on Spindle's own listener (a server
// that never answers, closes mid-body, sends interim responses…), and a local nginx.
import Foundation
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleHTTPClient
import SpindleIO
import SpindleTestSupport
import XCTest

/// `HTTPRequest` to `path` on 127.0.0.1:`port`.
func request(_ method: HTTPRequest.Method = .get, port: Int, _ path: String, headerFields: HTTPFields = [:]) -> HTTPRequest {
    HTTPRequest(method: method, scheme: "http", authority: "127.0.0.1:\(port)", path: path, headerFields: headerFields)
}

/// The body of a collected response as text.
func text(_ response: HTTPClientResponse) throws -> String {
    String(decoding: try response.body.collect(), as: UTF8.self)
}

/// The client error's kind, or a test failure naming what was thrown instead.
func clientError(_ body: () throws -> Void) -> HTTPClientError.Kind? {
    do {
        try body()
        return nil
    } catch let error as HTTPClientError {
        return error.kind
    } catch {
        XCTFail("expected an HTTPClientError, got \(type(of: error)): \(error)")
        return nil
    }
}

// MARK: - Spindle's own server

/// A Spindle `Server` on 127.0.0.1:0 with the routes the client tests use; one worker.
final class ClientTestServer: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; the counters are locked.
    let server: Server
    let port: Int
    /// Handlers in `/sleep` at once, and the most there ever were.
    let concurrentSleepers = HighWaterCounter()

    init() throws {
        let router = Router<Handler>()
        let sleepers = concurrentSleepers
        router.on(.get, "/plaintext") { _, _ in .text("Hello, World!") }
        router.on(.head, "/plaintext") { _, _ in .text("Hello, World!") }
        router.on(.post, "/echo") { request, _ in .bytes(try request.body.readAll()) }
        router.on(.get, "/method") { request, _ in .text(request.method.rawValue) }
        router.on(.post, "/method") { request, _ in .text("POST \(try request.body.readAll().count)") }
        router.on(.get, "/auth") { request, _ in .text(request.header("authorization") ?? "none") }
        router.on(.get, "/big/:n") { _, context in
            .bytes([UInt8](repeating: 0x61, count: try context.parameters.require("n", as: Int.self)))
        }
        router.on(.get, "/stream/:n") { _, context in
            let pieces = try context.parameters.require("n", as: Int.self)
            return .stream(contentType: "text/plain") { writer in
                for i in 0..<pieces {
                    try writer.write("piece \(i)\n")
                    try Fiber.sleep(for: .milliseconds(2))
                }
            }
        }
        router.on(.get, "/sleep/:id") { request, context in
            _ = sleepers.increment()
            defer { sleepers.decrement() }
            // `?together=n`: first wait (up to 10 s) until n handlers have been here at once, so a
            // test of concurrency does not depend on the requests arriving within 40 ms of
            // each other; fewer than n at once ever is what the test then sees.
            if let together = Int(request.queryParameter("together") ?? "") {
                let waitUntil = Deadline.now + .seconds(10)
                while sleepers.maximum < together && Deadline.now < waitUntil { try Fiber.sleep(for: .milliseconds(1)) }
            }
            try Fiber.sleep(for: .milliseconds(40))
            return .text(try context.parameters.require("id"))
        }
        for (code, target) in [(301, "/method"), (302, "/plaintext"), (303, "/method"), (307, "/method"), (308, "/echo")] {
            let status = HTTPResponse.Status(code: code)
            router.on(.get, "/r/\(code)") { _, _ in Response(status: status, headerFields: [.location: target]) }
            router.on(.post, "/r/\(code)") { request, _ in
                _ = try request.body.readAll()
                return Response(status: status, headerFields: [.location: target])
            }
        }
        router.on(.get, "/r/relative/deeper") { _, _ in Response(status: .found, headerFields: [.location: "sibling?q=1"]) }
        router.on(.get, "/r/relative/sibling") { request, _ in .text("sibling \(request.query ?? "")") }
        router.on(.get, "/r/loop") { _, _ in Response(status: .found, headerFields: [.location: "/r/loop"]) }
        router.on(.get, "/r/cross/:port") { _, context in
            let port = try context.parameters.require("port", as: Int.self)
            return Response(status: .temporaryRedirect, headerFields: [.location: "http://localhost:\(port)/auth"])
        }
        router.on(.get, "/r/same") { _, _ in Response(status: .temporaryRedirect, headerFields: [.location: "/auth"]) }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 1
        server = Server(router: router, configuration: configuration)
        port = try server.start().port
    }

    func stop() {
        server.stop()
        let server = self.server
        _ = try? withTimeout(.seconds(30), "Server.wait()") { server.wait() }
    }
}

// MARK: - Scripted raw servers

/// A listener on 127.0.0.1:0 whose connections a script serves with raw bytes, in fibers of
/// the test's worker (beside the client's). Create and use it inside `onWorker`.
final class RawServer {
    let listener: TCPListener
    var port: Int { listener.address.port }
    private var fibers: [FiberHandle<Void>] = []

    /// Serves each accepted connection with `script` (given the connection and its number).
    init(_ script: @escaping (TCPConnection, Int) throws -> Void) throws {
        listener = try TCPListener(host: "127.0.0.1", port: 0)
        let listener = self.listener
        fibers.append(Fiber.spawn {
            var number = 0
            while true {
                let connection = try listener.accept(deadline: .now + .seconds(20))
                number += 1
                let n = number
                Fiber.spawn { try? script(connection, n) }
            }
        })
    }

    /// Stops accepting (the scripts end by themselves).
    func stop() {
        for fiber in fibers { fiber.cancel() }
        listener.close()
    }

    /// Reads from `connection` until a request head (up to the empty line) has arrived, with
    /// whatever followed it in the same reads; returns the text.
    static func readHead(_ connection: TCPConnection) throws -> String {
        var bytes: [UInt8] = []
        let end = Array("\r\n\r\n".utf8)
        while !bytes.contains(subsequence: end) {
            let more = try connection.read(upTo: 4096, deadline: .now + .seconds(10))
            if more.isEmpty { break }
            bytes += more
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence: [UInt8]) -> Bool {
        guard count >= subsequence.count else { return false }
        return (0...(count - subsequence.count)).contains { self[$0..<($0 + subsequence.count)].elementsEqual(subsequence) }
    }
}

// MARK: - nginx

/// A local nginx (Debian's nginx-light) on a free port of 127.0.0.1, one process, with
/// `X-Connection` (nginx's connection serial number) and `X-Connection-Requests` (requests
/// served on it) on every response, so keep-alive reuse is counted by the server.
final class LocalNginx {
    static let binary = "/usr/sbin/nginx"
    let port: Int
    private let process = Process()
    private let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("spindle-client-nginx-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("logs"), withIntermediateDirectories: true)
        port = try Self.freePort()
        let dir = directory.path
        let config = """
            worker_processes 1;
            daemon off;
            master_process off;
            pid \(dir)/nginx.pid;
            error_log \(dir)/logs/error.log warn;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path \(dir);
                proxy_temp_path \(dir);
                fastcgi_temp_path \(dir);
                uwsgi_temp_path \(dir);
                scgi_temp_path \(dir);
                keepalive_requests 1000;
                keepalive_timeout 65s;
                server {
                    listen 127.0.0.1:\(port);
                    add_header X-Connection $connection always;
                    add_header X-Connection-Requests $connection_requests always;
                    location /plaintext { default_type text/plain; return 200 "Hello, World!"; }
                    location /moved { return 302 /plaintext; }
                    location /missing { return 404; }
                }
            }
            """
        let configPath = directory.appendingPathComponent("nginx.conf").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["-e", "\(dir)/logs/error.log", "-p", dir, "-c", configPath]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let port = self.port
        guard waitUntil(timeout: .seconds(10), {
            guard let fd = try? connectToLoopback(port: port, timeoutSeconds: 1) else { return false }
            close(fd)
            return true
        }) else {
            stop()
            throw TestFailure("nginx did not listen on 127.0.0.1:\(port) within 10 s (see \(dir)/logs/error.log)")
        }
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// A port nothing listens on now (bound to 0 and closed: the kernel does not hand it out
    /// again at once).
    static func freePort() throws -> Int {
        try onWorker {
            let listener = try TCPListener(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            return listener.address.port
        }
    }
}
