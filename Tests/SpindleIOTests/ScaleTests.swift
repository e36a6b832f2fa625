// 10,000 concurrent connections, each served by a fiber parked in read: the clients run in a
// `spindle-io-probe` subprocess (each side needs 10,000 descriptors).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import XCTest

final class ScaleTests: IOTestCase {
    func testTenThousandConnectionsParkedInRead() throws {
        let connections = 10_000
        let messageBytes = 100
        let limit = raiseDescriptorLimit()
        XCTAssertGreaterThanOrEqual(limit, connections + 200, "RLIMIT_NOFILE hard limit too low for this test")

        let parkedInRead = HighWaterCounter()
        let served = Locked(0)
        let echoed = Locked(0)
        let failures = Locked<[String]>([])
        let first = try TCPListener(host: "127.0.0.1", port: 0)
        let listeners = [first, try TCPListener(address: first.address)]
        let server = BackgroundRuntime(workers: 2) { worker in
            let listener = listeners[worker.index]
            defer { listener.close() }
            while true {
                let connection = try listener.accept()
                Fiber.spawn {
                    defer { connection.close() }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    do {
                        while true {
                            parkedInRead.increment()
                            let n = try buffer.withUnsafeMutableBytes { try connection.read(into: $0) }
                            parkedInRead.decrement()
                            if n == 0 { break }
                            try buffer.withUnsafeBytes { try connection.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                            echoed.withLock { $0 += n }
                        }
                        served.withLock { $0 += 1 }
                    } catch {
                        parkedInRead.decrement()
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
        }

        let start = Deadline.now
        let probe = try IOProbe(["echo-clients", "\(first.address.port)", "\(connections)", "\(messageBytes)", "--wait-go"])
        // Every connection accepted and its fiber in read: only then may the clients send.
        let allParked = waitUntil(timeout: .seconds(120)) { parkedInRead.current == connections || !probe.isRunning }
        let parkedAfter = milliseconds(since: start)
        guard allParked, parkedInRead.current == connections else {
            let result = try? probe.waitForExit(timeout: .seconds(5))
            try? server.stop(timeout: .seconds(30))
            XCTFail("only \(parkedInRead.current) of \(connections) server fibers parked in read (max \(parkedInRead.maximum)); probe: \(result.map { "status \($0.status)\n\($0.stdout)\n\($0.stderr)" } ?? "?")")
            return
        }
        try probe.send(line: "go")
        let result = try probe.waitForExit(timeout: .seconds(120))
        let finishedAfter = milliseconds(since: start)
        XCTAssertTrue(result.exited && result.status == 0, "probe failed (status \(result.status)):\n\(result.stdout)\n\(result.stderr)")
        XCTAssertTrue(result.stdout.contains("connected \(connections)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("ok \(connections)"), result.stdout)

        // The clients closed: every server fiber reads end of stream and finishes.
        XCTAssertTrue(waitUntil(timeout: .seconds(60)) { served.current == connections },
                      "\(served.current) of \(connections) server fibers finished")
        try server.stop(timeout: .seconds(30))
        XCTAssertEqual(parkedInRead.maximum, connections, "fibers simultaneously parked in read")
        XCTAssertEqual(parkedInRead.current, 0)
        XCTAssertEqual(echoed.current, connections * messageBytes)
        XCTAssertEqual(failures.current.count, 0, "\(failures.current.prefix(5))")
        print("ScaleTests: \(connections) connections parked in read after \(Int(parkedAfter)) ms; all echoed and closed after \(Int(finishedAfter)) ms")
    }
}
