// A connection flood past the descriptor limit: the server (a `spindle-server-probe serve`
// subprocess under `ulimit -n 256`) must keep running, answer new requests once the flood has
// gone, and stop cleanly on SIGTERM. Run on whichever I/O backend SPINDLE_IO selects (make test
// runs this suite on both).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleTestSupport
import XCTest

final class FloodTests: ServerTestCase {
    /// With the default cap (derived from the limit), the connections past it get 503 and are
    /// closed: the server never runs out of descriptors.
    func testFloodPastTheDescriptorLimitWithTheDerivedCap() throws {
        let probe = try startProbe(["serve", "--workers", "2", "--signals", "--nofile", "256"])
        try flood(probe, expectOutOfDescriptors: false)
    }

    /// With a cap far above the limit, accept itself runs out of descriptors (EMFILE): the
    /// worker backs off, logs it, and keeps accepting once descriptors are free again.
    func testFloodPastTheDescriptorLimitWithACapAboveIt() throws {
        let probe = try startProbe(["serve", "--workers", "2", "--signals", "--nofile", "256"],
                                   environment: ["SPINDLE_MAX_CONNECTIONS": "100000"])
        try flood(probe, expectOutOfDescriptors: true)
    }

    private func flood(_ probe: ServerProbe, expectOutOfDescriptors: Bool) throws {
        let port = Int(try probe.waitForLine(prefix: "port ", timeout: .seconds(30)).dropFirst(5))!
        let floodCount = 1_000
        XCTAssertGreaterThanOrEqual(raiseDescriptorLimit(), floodCount + 100)

        // 1,000 connections at once, each sending a request head and then staying open.
        var flood: [Int32] = []
        defer { for fd in flood { close(fd) } }
        for i in 0..<floodCount {
            do {
                let fd = try connectToLoopback(port: port, timeoutSeconds: 10)
                flood.append(fd)
                if i % 2 == 0 { try? sendAll(fd: fd, Array("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n".utf8)) }
            } catch {
                XCTFail("connection \(i) of the flood: \(error)")
                break
            }
        }
        // The server is alive and (with the derived cap) still answering during the flood.
        usleep(500_000)
        XCTAssertTrue(probe.isRunning, "the server died during the flood:\n\(probe.stderr.suffix(3000))")
        if !expectOutOfDescriptors {
            XCTAssertTrue(answers(port: port, within: .seconds(5), allowing: [200, 503]), "no answer during the flood")
        }

        // The flood goes away; new requests are served again.
        for fd in flood { close(fd) }
        flood = []
        XCTAssertTrue(answers(port: port, within: .seconds(15), allowing: [200]), "no 200 within 15 s after the flood closed:\n\(probe.stderr.suffix(3000))")
        if expectOutOfDescriptors {
            XCTAssertTrue(probe.stderr.contains("accept failed"), "accept never ran out of descriptors, so this test did not test that:\n\(probe.stderr.suffix(3000))")
        }

        try probe.send(signal: SIGTERM)
        let stopped = (try? probe.waitForLine(prefix: "stopped", timeout: .seconds(20))) ?? "(no \"stopped\" line)"
        let result = try probe.waitForExit(timeout: .seconds(10))
        XCTAssertTrue(result.exited && result.status == 0, "after SIGTERM: \(result.summary.suffix(3000))")
        func field(_ name: String) -> Int? {
            stopped.split(separator: " ").first { $0.hasPrefix(name + "=") }.flatMap { Int($0.dropFirst(name.count + 1)) }
        }
        XCTAssertEqual(field("fds_after"), field("fds_before"), "descriptors leaked: \(stopped)")
    }

    /// True when a new connection gets a response with one of `statuses` within `timeout`
    /// (retrying: connections refused with 503, or accepted late, are expected meanwhile).
    private func answers(port: Int, within timeout: Duration, allowing statuses: Set<Int>) -> Bool {
        waitUntil(timeout: timeout) {
            guard let client = try? TestClient(port: port, timeoutSeconds: 2) else { return false }
            defer { client.close() }
            client.setReceiveTimeout(milliseconds: 1000)
            guard (try? client.send("GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")) != nil,
                  let response = try? client.readResponse() else { usleep(50_000); return false }
            if statuses.contains(response.status) { return true }
            usleep(50_000)
            return false
        }
    }
}
