// Scale on this 2-core machine, with the clients in a `spindle-server-probe` subprocess (each
// side needs 10,000 descriptors): 10,000 requests parked at once in handlers that sleep 1 s, and
// 10,000 idle keep-alive connections measured in server RSS.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Spindle
import SpindleFibers
import SpindleMemory
import SpindleTestSupport
import XCTest

final class ScaleTests: ServerTestCase {
    private func socketCount() -> Int {
        openFileDescriptors().values.filter { $0.hasPrefix("socket:") }.count
    }

    func testTenThousandConcurrentSleepingRequests() throws {
        let count = 10_000
        // The first must still be asleep when the last arrives: under ASan the server takes
        // several seconds to take in 10,000 requests, and on a busy 2-core machine more than one.
        let sleepMs = AddressSanitizer.isActive ? 15_000 : 5000
        let limit = raiseDescriptorLimit()
        XCTAssertGreaterThanOrEqual(limit, count + 200, "RLIMIT_NOFILE hard limit too low for this test")

        let inFlight = HighWaterCounter()
        let completed = Locked(0)
        let rssAtPeak = Locked<(inFlight: Int, resident: Int)>((0, 0))
        let server = try startServer(configure: {
            $0.idleTimeout = .seconds(120)
            $0.headTimeout = .seconds(60)
            $0.shutdownGracePeriod = .seconds(5)
        }, routes: { router in
            router.on(.get, "/hello") { _, _ in .text("Hello, World!") }
            router.on(.get, "/sleep") { request, _ in
                let ms = Int(request.queryParameter("ms") ?? "") ?? 1000
                let (now, isNewMaximum) = inFlight.increment()
                defer { inFlight.decrement() }
                if isNewMaximum && (now % 1000 == 0 || now == count) {
                    let resident = ProcessMemory.current().residentBytes
                    rssAtPeak.set((now, resident))
                }
                try Fiber.sleep(for: .milliseconds(ms))
                completed.withLock { $0 += 1 }
                return .text("slept \(ms)\n")
            }
        })
        // Warm the server (pools, stacks, date cache) with a few requests.
        for _ in 0..<4 {
            let client = try TestClient(port: server.port)
            try client.send("GET /sleep?ms=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(try client.readResponse().status, 200)
        }
        let baseline = ProcessMemory.current()

        let start = Deadline.now
        let probe = try startProbe(["sleepers", "\(server.port)", "\(count)", "\(sleepMs)", "--wait-go"])
        _ = try probe.waitForLine(prefix: "connected ", timeout: .seconds(180))
        let connectedAfter = milliseconds(since: start)
        usleep(200_000)
        let connectedMemory = ProcessMemory.current()
        try probe.send(line: "go")
        let result = try probe.waitForExit(timeout: .seconds(180))
        let finishedAfter = milliseconds(since: start)
        XCTAssertTrue(result.exited && result.status == 0, "probe failed (status \(result.status)):\n\(result.stdout)\n\(result.stderr)")
        XCTAssertTrue(result.stdout.contains("ok \(count) "), result.stdout)
        XCTAssertEqual(inFlight.maximum, count, "handlers in flight at once")
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { completed.current == count + 4 }, "\(completed.current - 4) of \(count) handlers completed")
        XCTAssertEqual(inFlight.current, 0)
        let peak = rssAtPeak.current
        XCTAssertEqual(peak.inFlight, count, "no RSS sample at \(count) in flight")
        let summary = result.stdout.split(separator: "\n").first { $0.hasPrefix("ok ") } ?? ""
        let perRequest = Double(peak.resident - connectedMemory.residentBytes) / Double(count)
        let perRequestWithConnection = Double(peak.resident - baseline.residentBytes) / Double(count)
        print("ScaleTests: \(count) concurrent requests sleeping \(sleepMs) ms: connected after \(Int(connectedAfter)) ms, all answered 200 after \(Int(finishedAfter)) ms total; probe: \(summary)")
        print("ScaleTests: server RSS baseline \(formatBytes(baseline.residentBytes)), \(count) connections idle \(formatBytes(connectedMemory.residentBytes)), \(peak.inFlight) in flight \(formatBytes(peak.resident)); per in-flight request \(formatBytes(Int(perRequest))) over an idle connection, \(formatBytes(Int(perRequestWithConnection))) including the connection")
        try server.stop()
    }

    func testTenThousandIdleKeepAliveConnections() throws {
        let count = 10_000
        let limit = raiseDescriptorLimit()
        XCTAssertGreaterThanOrEqual(limit, count + 200, "RLIMIT_NOFILE hard limit too low for this test")
        let served = Locked(0)
        let server = try startServer(configure: {
            $0.idleTimeout = .seconds(120)
            $0.headTimeout = .seconds(60)
        }, routes: { router in
            router.on(.get, "/hello") { _, _ in
                served.withLock { $0 += 1 }
                return .text("Hello, World!")
            }
        })

        // Warm-up: the same pattern with fewer connections, released at once, so pools, fiber
        // stacks and the allocator's working set exist before the baseline.
        let warm = try startProbe(["idle", "\(server.port)", "2000", "0", "--concurrency", "64"])
        let warmResult = try warm.waitForExit(timeout: .seconds(120))
        XCTAssertTrue(warmResult.exited && warmResult.status == 0, "warm-up probe failed:\n\(warmResult.stdout)\n\(warmResult.stderr)")
        let socketsBefore = socketCount()
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { socketCount() <= socketsBefore }, "warm-up connections not closed")
        usleep(300_000)
        let baseline = ProcessMemory.current()
        let socketsAtBaseline = socketCount()

        let start = Deadline.now
        let probe = try startProbe(["idle", "\(server.port)", "\(count)", "120", "--concurrency", "64"])
        let established = try probe.waitForLine(prefix: "established ", timeout: .seconds(180))
        let establishedAfter = milliseconds(since: start)
        // Let the server's transient request state go back to its pools/allocator.
        usleep(500_000)
        let idle = ProcessMemory.current()
        let socketsIdle = socketCount()
        try probe.send(line: "release")
        let result = try probe.waitForExit(timeout: .seconds(180))
        XCTAssertTrue(result.exited && result.status == 0, "probe failed (status \(result.status)):\n\(result.stdout)\n\(result.stderr)")
        XCTAssertTrue(result.stdout.contains("ok \(count)"), result.stdout)
        XCTAssertTrue((count...(count + 8)).contains(socketsIdle - socketsAtBaseline),
                      "the server holds \(socketsIdle - socketsAtBaseline) sockets more than at the baseline, expected \(count)")
        XCTAssertEqual(served.current, 2000 * 2 + count * 2, "requests served (one before idling, one after, per connection)")

        let perConnection = Double(idle.residentBytes - baseline.residentBytes) / Double(count)
        print("ScaleTests: \(count) idle keep-alive connections (\(established), \(Int(establishedAfter)) ms): server RSS \(formatBytes(baseline.residentBytes)) → \(formatBytes(idle.residentBytes)) = \(Int(perConnection)) B per idle connection (goal ≤ 1024 B); page tables \(formatBytes(baseline.pageTableBytes)) → \(formatBytes(idle.pageTableBytes))")
        // Under ASan, RSS also holds its redzones, shadow memory and quarantine: not the server's cost.
        if !AddressSanitizer.isActive {
            XCTAssertLessThanOrEqual(perConnection, 1024, "server RSS per idle keep-alive connection")
        }
        try server.stop()
    }
}
