// An echo server on two workers (one SO_REUSEPORT listener each), and how connections end:
// peer reset, half-close in both directions, connection refused.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import XCTest

/// Starts an echo server: `workers` workers, one SO_REUSEPORT listener each on the same port.
/// Counts the connections each worker served and the bytes echoed.
final class EchoServer: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; counters are locked.
    let port: Int
    let server: BackgroundRuntime
    let connectionsPerWorker: Locked<[Int]>
    let bytesEchoed = Locked(0)
    let failures = Locked<[String]>([])

    init(workers: Int) throws {
        let first = try TCPListener(host: "127.0.0.1", port: 0)
        var listeners = [first]
        for _ in 1..<workers { listeners.append(try TCPListener(address: first.address)) }
        XCTAssertNotEqual(first.address.port, 0)
        for listener in listeners { XCTAssertEqual(listener.address.port, first.address.port) }
        port = first.address.port
        let all = listeners
        let perWorker = Locked([Int](repeating: 0, count: workers))
        let echoed = bytesEchoed
        let failures = failures
        connectionsPerWorker = perWorker
        server = BackgroundRuntime(workers: workers) { worker in
            let listener = all[worker.index]
            // Closed on its worker, before the runtime tears the ring down.
            defer { listener.close() }
            while true {
                let connection = try listener.accept()
                perWorker.withLock { $0[worker.index] += 1 }
                Fiber.spawn {
                    defer { connection.close() }
                    var buffer = [UInt8](repeating: 0, count: 16 << 10)
                    do {
                        while true {
                            let n = try buffer.withUnsafeMutableBytes { try connection.read(into: $0) }
                            if n == 0 { return }
                            try buffer.withUnsafeBytes { try connection.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                            echoed.withLock { $0 += n }
                        }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
    }
}

final class EchoTests: IOTestCase {
    /// Two workers, one SO_REUSEPORT listener each (port 0, then the same port): large messages
    /// (beyond one 16 KiB provided buffer), many small ones, several clients at once; both
    /// workers take connections.
    func testEchoOnTwoWorkersWithLargeAndSmallMessages() throws {
        let echo = try EchoServer(workers: 2)
        var expectedBytes = 0

        // One connection, messages of sizes around and far above the 16 KiB receive buffer.
        do {
            let client = try TestClient(port: echo.port)
            for (i, size) in [1, 16 << 10, (16 << 10) + 1, 100_000, 1 << 20, 3 * (1 << 20) + 7].enumerated() {
                let message = pattern(seed: i, count: size)
                let back = try client.echo(message)
                XCTAssertEqual(back.count, size)
                XCTAssertTrue(back == message, "echo of \(size) bytes differs")
                expectedBytes += size
            }
        }

        // 64 connections × 100 small messages each, ping-pong: every echo exact and in order.
        var clients: [TestClient] = []
        for _ in 0..<64 { clients.append(try TestClient(port: echo.port)) }
        for round in 0..<100 {
            for (c, client) in clients.enumerated() {
                let message = Array("c\(c)r\(round)-".utf8) + pattern(seed: c * 1000 + round, count: 1 + (c * 7 + round) % 200)
                try client.send(message)
                expectedBytes += message.count
            }
            for (c, client) in clients.enumerated() {
                let message = Array("c\(c)r\(round)-".utf8) + pattern(seed: c * 1000 + round, count: 1 + (c * 7 + round) % 200)
                XCTAssertEqual(try client.receive(exactly: message.count), message, "client \(c) round \(round)")
            }
        }
        clients.removeAll()

        // Eight clients at once, each echoing 512 KiB from its own thread.
        let concurrentFailures = Locked<[String]>([])
        let done = DispatchSemaphore(value: 0)
        let port = echo.port
        for t in 0..<8 {
            Thread {
                do {
                    let client = try TestClient(port: port)
                    let message = pattern(seed: 500 + t, count: 512 << 10)
                    if try client.echo(message) != message { concurrentFailures.withLock { $0.append("client \(t): echo differs") } }
                } catch {
                    concurrentFailures.withLock { $0.append("client \(t): \(error)") }
                }
                done.signal()
            }.start()
        }
        for _ in 0..<8 { XCTAssertEqual(done.wait(timeout: .now() + 30), .success, "a concurrent client did not finish in 30 s") }
        expectedBytes += 8 * (512 << 10)
        XCTAssertEqual(concurrentFailures.current, [])

        // Every byte was echoed by the server once the clients have their echoes.
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { echo.bytesEchoed.current == expectedBytes },
                      "server echoed \(echo.bytesEchoed.current) bytes, expected \(expectedBytes)")
        try echo.server.stop()
        let perWorker = echo.connectionsPerWorker.current
        XCTAssertEqual(perWorker.reduce(0, +), 1 + 64 + 8, "connections per worker: \(perWorker)")
        // 73 connections hashed over two SO_REUSEPORT listeners: both get some (p(all on one) = 2^-72).
        XCTAssertTrue(perWorker.allSatisfy { $0 > 0 }, "connections per worker: \(perWorker)")
        XCTAssertEqual(echo.failures.current, [])
    }

    /// The client resets the connection (SO_LINGER 0, close): the server's parked read throws
    /// an IOError naming ECONNRESET that counts as a disconnect; a later write fails as one too.
    func testPeerResetIsADisconnectError() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let outcome = Locked<String?>(nil)
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            let connection = try listener.accept()
            defer { connection.close() }
            // Echo one byte, so the client knows the server is reading.
            let first = try connection.read(upTo: 1)
            try connection.write(first)
            do {
                let n = try connection.read(upTo: 100)
                outcome.set("read returned \(n.count) bytes")
            } catch let error as IOError {
                var text = "read: errno=\(error.errno) disconnect=\(error.isDisconnect) \(error)"
                do {
                    try connection.write(Array(repeating: UInt8(1), count: 100))
                    text += " | write succeeded"
                } catch let error as IOError {
                    text += " | write: disconnect=\(error.isDisconnect) \(error)"
                }
                outcome.set(text)
            }
        }
        let client = try TestClient(port: listener.address.port)
        try client.send([42])
        XCTAssertEqual(try client.receive(exactly: 1), [42])
        client.closeWithReset()
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { outcome.current != nil }, "server read did not end after the reset")
        try server.stop()
        let text = try XCTUnwrap(outcome.current)
        XCTAssertTrue(text.hasPrefix("read: errno=\(ECONNRESET) disconnect=true "), text)
        XCTAssertTrue(text.contains("ECONNRESET"), text)
        XCTAssertTrue(text.contains("recv"), "the error names the operation: \(text)")
        XCTAssertTrue(text.contains("| write: disconnect=true"), text)
    }

    /// The client half-closes (shutdown write): the server's read returns 0 (end of stream)
    /// after the data, the server can still write its reply, and the client reads it.
    func testClientHalfCloseThenServerReplies() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let received = Locked<[UInt8]?>(nil)
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            let connection = try listener.accept()
            defer { connection.close() }
            var all: [UInt8] = []
            while true {
                let chunk = try connection.read(upTo: 7, deadline: .now + .seconds(10))
                if chunk.isEmpty { break }
                all += chunk
            }
            // A second read at end of stream returns 0 again.
            let again = try connection.read(upTo: 7, deadline: .now + .seconds(10))
            received.set(all + (again.isEmpty ? [] : [0xFF]))
            try connection.write(Array("reply:".utf8) + all)
        }
        let client = try TestClient(port: listener.address.port)
        try client.send("hello, half-closed world")
        client.shutdownWrite()
        let reply = try client.receiveToEnd()
        XCTAssertEqual(String(decoding: reply, as: UTF8.self), "reply:hello, half-closed world")
        XCTAssertEqual(received.current.map { String(decoding: $0, as: UTF8.self) }, "hello, half-closed world")
        try server.stop()
    }

    /// The server half-closes (`shutdown(.write)`): the client sees end of stream after the
    /// server's data, and the server still reads what the client sends afterwards.
    func testServerHalfCloseStillReads() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let received = Locked<String?>(nil)
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            let connection = try listener.accept()
            defer { connection.close() }
            try connection.write(Array("bye".utf8))
            try connection.shutdown(.write)
            var all: [UInt8] = []
            while true {
                let chunk = try connection.read(upTo: 64, deadline: .now + .seconds(10))
                if chunk.isEmpty { break }
                all += chunk
            }
            received.set(String(decoding: all, as: UTF8.self))
        }
        let client = try TestClient(port: listener.address.port)
        XCTAssertEqual(String(decoding: try client.receiveToEnd(), as: UTF8.self), "bye")
        try client.send("still listening?")
        client.close()
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { received.current != nil })
        XCTAssertEqual(received.current, "still listening?")
        try server.stop()
    }

    /// Connecting to a port nobody listens on fails with ECONNREFUSED (through the ring), and a
    /// fiber connecting to a Spindle listener on the same worker talks to it.
    func testConnectThroughTheRing() throws {
        // A port that was just free: bind port 0, note it, close.
        let probe = try TCPListener(host: "127.0.0.1", port: 0, reusePort: false)
        let freePort = probe.address.port
        probe.close()
        let result = try onWorker { _ -> (String, String) in
            var refused = "connected?"
            do {
                _ = try TCPConnection.connect(host: "127.0.0.1", port: freePort, deadline: .now + .seconds(5))
            } catch let error as IOError {
                refused = "errno=\(error.errno) \(error)"
            }
            let listener = try TCPListener(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let server = Fiber.spawn { () throws -> String in
                let connection = try listener.accept(deadline: .now + .seconds(5))
                defer { connection.close() }
                let got = try connection.read(upTo: 100, deadline: .now + .seconds(5))
                try connection.write(Array("pong:".utf8) + got)
                return String(decoding: got, as: UTF8.self)
            }
            let client = try TCPConnection.connect(to: listener.address, deadline: .now + .seconds(5))
            defer { client.close() }
            try client.write(Array("ping".utf8))
            var reply: [UInt8] = []
            while reply.count < 9 {
                let chunk = try client.read(upTo: 100, deadline: .now + .seconds(5))
                if chunk.isEmpty { break }
                reply += chunk
            }
            let serverSaw = try server.join()
            return (refused, serverSaw + "/" + String(decoding: reply, as: UTF8.self))
        }
        XCTAssertTrue(result.0.hasPrefix("errno=\(ECONNREFUSED) "), result.0)
        XCTAssertTrue(result.0.contains("ECONNREFUSED"), result.0)
        XCTAssertEqual(result.1, "ping/pong:ping")
    }

    /// Several fibers parked in accept on one listener: each of three clients is accepted by
    /// exactly one of them.
    func testSeveralFibersAcceptOnOneListener() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let received = Locked<[String]>([])
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            let group = WaitGroup()
            for i in 0..<3 {
                group.add()
                Fiber.spawn {
                    defer { group.done() }
                    guard let connection = try? listener.accept(deadline: .now + .seconds(10)) else { return }
                    defer { connection.close() }
                    if let data = try? connection.read(upTo: 10, deadline: .now + .seconds(10)) {
                        received.withLock { $0.append("fiber\(i):" + String(decoding: data, as: UTF8.self)) }
                    }
                }
            }
            try group.wait()
        }
        var clients: [TestClient] = []
        for c in 0..<3 {
            let client = try TestClient(port: listener.address.port)
            try client.send("c\(c)")
            clients.append(client)
        }
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { received.current.count == 3 }, "\(received.current)")
        try server.stop()
        let lines = received.current
        XCTAssertEqual(Set(lines.map { $0.split(separator: ":")[0] }), ["fiber0", "fiber1", "fiber2"], "\(lines)")
        XCTAssertEqual(Set(lines.map { $0.split(separator: ":")[1] }), ["c0", "c1", "c2"], "\(lines)")
    }

    /// A vectored write sends every buffer in order, large enough to need several sendmsg rounds.
    func testVectoredWrite() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let parts = [pattern(seed: 1, count: 10), pattern(seed: 2, count: 0), pattern(seed: 3, count: 3 << 20), pattern(seed: 4, count: 12345)]
        let expected = parts.flatMap { $0 }
        let server = BackgroundRuntime { worker in
            defer { listener.close() }
            let connection = try listener.accept()
            defer { connection.close() }
            let owned = parts
            try owned[0].withUnsafeBytes { a in
                try owned[1].withUnsafeBytes { b in
                    try owned[2].withUnsafeBytes { c in
                        try owned[3].withUnsafeBytes { d in
                            try connection.write(vectored: [a, b, c, d], deadline: .now + .seconds(20))
                        }
                    }
                }
            }
        }
        let client = try TestClient(port: listener.address.port)
        let got = try client.receiveToEnd(limit: 8 << 20)
        XCTAssertEqual(got.count, expected.count)
        XCTAssertTrue(got == expected, "vectored write delivered different bytes")
        try server.stop()
    }
}
