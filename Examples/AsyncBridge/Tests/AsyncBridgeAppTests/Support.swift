// Helpers of the async bridge tests: an upstream Spindle server with known answers, an upstream
// on raw sockets that records when its connections close (to see a cancelled client request
// from the other end), and the app with its client shut down after each test.
import AsyncBridgeApp
import Foundation
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import SpindleTesting
import XCTest

/// An upstream Spindle server (one worker, 127.0.0.1:0) whose answers the tests know.
///
/// `GET /word/:w` → `word=W` with `ETag: "W"`, `Cache-Control: max-age=7` and `X-Internal: secret`;
/// `GET /status/:code` → that status with `status CODE`; `GET /sleep/:ms` → `slept` after `ms`;
/// `GET /bytes/:n` → `n` pattern bytes.
final class KnownUpstream: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; the counter is locked.
    let server: Server
    let url: UpstreamBaseURL
    let port: Int
    /// `GET /sleep/:ms` requests begun.
    let sleeping = Locked(0)

    init() throws {
        let router = Router<Handler>()
        router.get("/word/:w") { _, context in
            let word: String = try context.parameters.require("w")
            var response = Response.text("word=\(word)")
            response.headerFields[.eTag] = "\"\(word)\""
            response.headerFields[.cacheControl] = "max-age=7"
            response.headerFields[HTTPField.Name("X-Internal")!] = "secret"
            return response
        }
        router.get("/status/:code") { _, context in
            let code = try context.parameters.require("code", as: Int.self)
            return .text("status \(code)", status: .init(code: code))
        }
        let sleeping = self.sleeping
        router.get("/sleep/:ms") { _, context in
            sleeping.withLock { $0 += 1 }
            try Fiber.sleep(for: .milliseconds(try context.parameters.require("ms", as: Int.self)))
            return .text("slept")
        }
        router.get("/bytes/:n") { _, context in
            .bytes(pattern(seed: 3, count: try context.parameters.require("n", as: Int.self)))
        }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 1
        server = Server(router: router, configuration: configuration)
        port = try server.start().port
        url = try UpstreamBaseURL("http://127.0.0.1:\(port)")
    }

    func stop() {
        server.stop()
        _ = try? withTimeout(.seconds(30), "upstream stop") { [server] in server.wait() }
    }
}

/// An upstream on raw sockets (SpindleIO on a runtime of its own) that reads a request head and
/// never answers (but `GET /answer…`, answered `ok` at once), then waits up to 20 s for the client to close the connection, recording how
/// long after the head the close came. What it sees is what a cancelled client request looks
/// like from the other end.
final class HoldingUpstream: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; the records are locked.
    let port: Int
    /// Request heads received.
    let heads = Locked(0)
    /// For each connection closed by its client after sending a head: milliseconds from the head
    /// to the end of stream (or reset).
    let closedAfterMilliseconds = Locked<[Double]>([])
    private let runtime = Runtime(configuration: .init(workers: 1))
    private let finished = DispatchSemaphore(value: 0)

    init() throws {
        let ready = Locked<Result<Int, any Error>?>(nil)
        let heads = self.heads
        let closed = self.closedAfterMilliseconds
        let thread = Thread { [runtime, finished] in
            _ = try? runtime.run { _ in
                let listener: TCPListener
                do {
                    listener = try TCPListener(host: "127.0.0.1", port: 0)
                    ready.set(.success(listener.address.port))
                } catch {
                    ready.set(.failure(error))
                    throw error
                }
                defer { listener.close() }
                while true {
                    let connection = try listener.accept()
                    Fiber.spawn {
                        defer { connection.close() }
                        var received: [UInt8] = []
                        let giveUp = Deadline.now + .seconds(20)
                        while !received.containsHeadEnd {
                            guard let bytes = try? connection.read(deadline: giveUp), !bytes.isEmpty else { return }
                            received += bytes
                        }
                        if received.starts(with: Array("GET /answer".utf8)) {
                            _ = try? connection.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n".utf8))
                            return
                        }
                        heads.withLock { $0 += 1 }
                        let headAt = Deadline.now
                        while true {  // until the end of stream, a reset or the deadline
                            do {
                                if try connection.read(deadline: giveUp).isEmpty { break }
                            } catch {
                                if Deadline.now >= giveUp { return }  // never closed: not recorded
                                break  // reset
                            }
                        }
                        closed.withLock { $0.append(milliseconds(since: headAt)) }
                    }
                }
            }
            finished.signal()
        }
        thread.name = "holding-upstream"
        thread.start()
        guard waitUntil(timeout: .seconds(10), { ready.current != nil }) else { throw TestFailure("the holding upstream did not start") }
        port = try ready.current!.get()
    }

    var url: UpstreamBaseURL { try! UpstreamBaseURL("http://127.0.0.1:\(port)") }

    func stop() {
        runtime.stop()
        _ = finished.wait(timeout: .now() + .seconds(30))
    }
}

extension [UInt8] {
    /// True when the bytes hold the blank line ending a request head.
    var containsHeadEnd: Bool {
        count >= 4 && indices.dropLast(3).contains { self[$0] == 13 && self[$0 + 1] == 10 && self[$0 + 2] == 13 && self[$0 + 3] == 10 }
    }
}

/// Runs `body` with an app calling `upstream` on a live server, and shuts the app's client down
/// afterwards (also when `body` throws), waiting for it.
func withLiveBridge(_ configuration: AsyncBridgeConfiguration, _ body: (AsyncBridge, HTTPTestClient) throws -> Void) throws {
    let bridge = AsyncBridge(configuration: configuration)
    defer { shutDownWaiting(bridge) }
    try bridge.router().test(.live) { client in try body(bridge, client) }
}

/// Calls `bridge.shutdown()` from a task and waits (at most 30 s) for it to finish.
func shutDownWaiting(_ bridge: AsyncBridge) {
    let done = DispatchSemaphore(value: 0)
    let failure = Locked<(any Error)?>(nil)
    Task {
        do { try await bridge.shutdown() } catch { failure.set(error) }
        done.signal()
    }
    if done.wait(timeout: .now() + .seconds(30)) == .timedOut {
        XCTFail("AsyncBridge.shutdown() did not finish within 30 s")
    } else if let error = failure.current {
        XCTFail("AsyncBridge.shutdown() threw \(error)")
    }
}

/// The body decoded as `T`, or a test failure showing it.
func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: Data(body))
    } catch {
        XCTFail("not a \(T.self): \(String(decoding: body.prefix(300), as: UTF8.self))", file: file, line: line)
        throw error
    }
}
