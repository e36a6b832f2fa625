// The server as a swift-service-lifecycle Service, in this process: a ServiceGroup's graceful
// shutdown with requests in flight (none lost, new connections refused, idle ones closed),
// cancellation forcing the stop before the grace period, the blocking and the async `run`
// side by side, and a server listening on a host name or on ::1. SIGTERM to a group is in
// LifecycleTests (in a probe process: a signal must not reach the test runner).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import ServiceLifecycle
import Spindle
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import Synchronization
import XCTest

final class ServiceLifecycleTests: ServerTestCase {
    /// The concurrency runtime opens a timer descriptor at the first `Task.sleep` and keeps it
    /// for the rest of the process: open it before the per-test descriptor count.
    private static let sleepTimerOpened: Void = {
        let done = DispatchSemaphore(value: 0)
        Task {
            try? await Task.sleep(for: .milliseconds(1))
            done.signal()
        }
        done.wait()
    }()

    override func setUp() {
        Self.sleepTimerOpened
        super.setUp()
    }

    /// Handlers of these tests: `/sleep?ms=N` parks its fiber N ms, counted while in flight and
    /// by outcome (`cancelled` when its sleep threw).
    final class SleepingRoutes: Sendable {
        let inFlight = Atomic<Int>(0)
        let completed = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)

        func install(_ router: Router<Handler>) {
            router.on(.get, "/ok") { _, _ in .text("ok") }
            router.on(.get, "/sleep") { [self] request, _ in
                let ms = Int(request.queryParameter("ms") ?? "") ?? 100
                inFlight.add(1, ordering: .relaxed)
                defer { inFlight.subtract(1, ordering: .relaxed) }
                do {
                    try Fiber.sleep(for: .milliseconds(ms))
                } catch {
                    cancelled.add(1, ordering: .relaxed)
                    throw error
                }
                completed.add(1, ordering: .relaxed)
                return .text("slept \(ms)")
            }
        }
    }

    private func makeServer(_ routes: SleepingRoutes, grace: Duration, host: String = "127.0.0.1", workers: Int = 2) -> Server {
        var configuration = ServerConfiguration(host: host, port: 0)
        configuration.workers = workers
        configuration.shutdownGracePeriod = grace
        let router = Router<Handler>()
        routes.install(router)
        return Server(router: router, configuration: configuration)
    }

    /// 16 requests in flight (300 ms handlers) and 4 idle keep-alive connections when the group
    /// shuts down gracefully (`triggerGracefulShutdown`): new connections are refused at once,
    /// idle ones closed, every request in flight answered in full, then the group's run ends.
    func testGracefulShutdownOfTheGroupFinishesEveryRequestInFlight() async throws {
        let routes = SleepingRoutes()
        let server = makeServer(routes, grace: .seconds(10))
        let group = ServiceGroup(configuration: .init(services: [server], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        let port = try await listeningPort(of: server)

        var idle: [TestClient] = []
        for _ in 0..<4 {
            let client = try TestClient(port: port)
            try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(try client.readResponse().status, 200)
            idle.append(client)
        }
        let inFlightCount = 16
        let results = Locked<[Int: String]>([:])
        let finished = DispatchGroup()
        for i in 0..<inFlightCount {
            finished.enter()
            Thread {
                defer { finished.leave() }
                do {
                    let client = try TestClient(port: port)
                    try client.send("GET /sleep?ms=300 HTTP/1.1\r\nHost: a\r\n\r\n")
                    let response = try client.readResponse()
                    let closed = (try? client.isClosedByPeer(within: .seconds(5))) ?? false
                    results.withLock { $0[i] = "\(response.status) \(response.bodyString)\(closed ? " closed" : " open")" }
                } catch {
                    results.withLock { $0[i] = "error: \(error)" }
                }
            }.start()
        }
        let allInFlight = try await eventually(within: .seconds(10)) { routes.inFlight.load(ordering: .relaxed) == inFlightCount }
        XCTAssertTrue(allInFlight, "\(routes.inFlight.load(ordering: .relaxed)) of \(inFlightCount) handlers in flight")

        await group.triggerGracefulShutdown()
        let refused = try await eventually(within: .milliseconds(500)) {
            do {
                let late = try TestClient(port: port)
                late.close()
                return false
            } catch let error as TestClient.ConnectError {
                return error.errno == ECONNREFUSED
            } catch {
                return false
            }
        }
        XCTAssertTrue(refused, "new connections still accepted after the graceful shutdown began")
        XCTAssertLessThan(routes.completed.load(ordering: .relaxed), inFlightCount, "the handlers finished before the refusal was checked")
        var idleOpen = 0
        for client in idle where try !client.isClosedByPeer(within: .milliseconds(500)) { idleOpen += 1 }
        XCTAssertEqual(idleOpen, 0, "idle connections left open by the graceful shutdown")

        try await awaitEnd(of: running, within: .seconds(10), "ServiceGroup.run after triggerGracefulShutdown")
        XCTAssertEqual(finished.wait(timeout: .now() + 10), .success, "clients did not finish")
        let all = results.current
        for i in 0..<inFlightCount {
            XCTAssertEqual(all[i], "200 slept 300 closed", "request \(i), in flight at the shutdown")
        }
        XCTAssertEqual(routes.completed.load(ordering: .relaxed), inFlightCount)
        XCTAssertEqual(routes.cancelled.load(ordering: .relaxed), 0)
        XCTAssertThrowsError(try TestClient(port: port), "the port still accepts after the group ended")
    }

    /// Cancelling the task that runs the service stops the server without the grace period:
    /// a handler sleeping 20 s under a 30 s grace period is cancelled, and `run()` returns in
    /// well under either.
    func testCancellingTheTaskForcesTheStop() async throws {
        let routes = SleepingRoutes()
        let server = makeServer(routes, grace: .seconds(30), workers: 1)
        let running = Task { try await server.run() }
        let port = try await listeningPort(of: server)
        let outcome = Locked<String?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread {
            defer { finished.signal() }
            do {
                let client = try TestClient(port: port, timeoutSeconds: 30)
                try client.send("GET /sleep?ms=20000 HTTP/1.1\r\nHost: a\r\n\r\n")
                let response = try? client.readResponse()
                let closed = (try? client.isClosedByPeer(within: .seconds(5))) ?? false
                outcome.set("\(response.map { String($0.status) } ?? "no response")\(closed ? " closed" : " open")")
            } catch {
                outcome.set("error: \(error)")
            }
        }.start()
        let inFlight = try await eventually(within: .seconds(10)) { routes.inFlight.load(ordering: .relaxed) == 1 }
        XCTAssertTrue(inFlight, "the sleeping handler never started")

        let start = Deadline.now
        running.cancel()
        try await awaitEnd(of: running, within: .seconds(10), "Server.run after cancellation")
        let stoppedAfter = milliseconds(since: start)
        XCTAssertLessThan(stoppedAfter, 3000, "run() took \(Int(stoppedAfter)) ms to return after cancellation")
        XCTAssertEqual(routes.cancelled.load(ordering: .relaxed), 1, "the handler in flight was not cancelled")
        XCTAssertEqual(routes.completed.load(ordering: .relaxed), 0)
        XCTAssertEqual(finished.wait(timeout: .now() + 10), .success, "client did not finish")
        XCTAssertTrue(outcome.current?.hasSuffix("closed") == true, "connection after the forced stop: \(outcome.current ?? "nothing")")
        XCTAssertThrowsError(try TestClient(port: port), "the port still accepts after run() returned")
    }

    /// Both `run`s, spelled as users write them: from synchronous code `try server.run()` is the
    /// blocking one (checked by the compiler here: the closure is synchronous), from asynchronous
    /// code `try await server.run()` the Service one and `run(handleSignals:)` the blocking one.
    /// Each serves a request and stops.
    func testBlockingAndServiceRunAreBothCallable() async throws {
        let blockingSpelling: (Server) throws -> Void = { server in try server.run() }
        _ = blockingSpelling  // not called: with its default it would take SIGTERM from the test runner

        // The blocking run, on a thread of its own, from async code.
        let routes = SleepingRoutes()
        let blocking = makeServer(routes, grace: .seconds(5), workers: 1)
        let blockingEnded = DispatchSemaphore(value: 0)
        let blockingError = Locked<(any Error)?>(nil)
        Thread {
            do { try blocking.run(handleSignals: false) } catch { blockingError.set(error) }
            blockingEnded.signal()
        }.start()
        let blockingPort = try await listeningPort(of: blocking)
        try assertServes(port: blockingPort)
        blocking.stop()
        XCTAssertEqual(blockingEnded.wait(timeout: .now() + 10), .success, "run(handleSignals:) did not return after stop()")
        XCTAssertNil(blockingError.current)

        // The Service run, awaited; `stop()` ends it too (here with nobody to shut down gracefully).
        let service = makeServer(routes, grace: .seconds(5), workers: 1)
        let running = Task { try await service.run() }
        let servicePort = try await listeningPort(of: service)
        try assertServes(port: servicePort)
        service.stop()
        try await awaitEnd(of: running, within: .seconds(10), "Server.run() after stop()")
    }

    /// A host name (`localhost`) binds what it resolves to and serves there.
    func testServesOnAHostName() throws {
        let server = try startServer(configure: { $0.host = "localhost"; $0.workers = 1 }, routes: SleepingRoutes().install)
        let address = try XCTUnwrap(server.server.address)
        XCTAssertTrue(address.description.hasPrefix("127.") || address.description.hasPrefix("[::1]"), "localhost bound \(address)")
        try assertServes(port: server.port, ipv6: address.family == AF_INET6)
        try server.stop()
    }

    /// The IPv6 loopback literal, bare and bracketed, binds [::1] and serves over IPv6.
    func testServesOnTheIPv6Loopback() throws {
        for host in ["::1", "[::1]"] {
            let server = try startServer(configure: { $0.host = host; $0.workers = 1 }, routes: SleepingRoutes().install)
            XCTAssertEqual(server.server.address?.description, "[::1]:\(server.port)", host)
            try assertServes(port: server.port, ipv6: true)
            try server.stop()
        }
    }

    /// A host that resolves to nothing fails the start with an error naming it.
    func testAHostThatDoesNotResolveFailsTheStartNamingIt() {
        // Longer than a DNS name may be: the resolver refuses it without sending a query.
        let host = String(repeating: "a", count: 1100) + ".invalid"
        XCTAssertThrowsError(try startServer(configure: { $0.host = host }, routes: SleepingRoutes().install)) { error in
            let failure = error as? HostResolutionError
            XCTAssertEqual(failure?.host, host, "\(error)")
            XCTAssertTrue(failure?.description.hasPrefix("cannot listen on host \"aaaa") == true, "\(error)")
        }
    }

    // MARK: Helpers

    private func assertServes(port: Int, ipv6: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        let client = try TestClient(port: port, ipv6: ipv6)
        try client.send("GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200, file: file, line: line)
        XCTAssertEqual(response.bodyString, "ok", file: file, line: line)
    }

    /// The port `server` listens on, once its `run` (in another task or thread) has bound it.
    private func listeningPort(of server: Server) async throws -> Int {
        guard try await eventually(within: .seconds(10), { server.address != nil }), let address = server.address else {
            throw TestFailure("the server did not bind within 10 s")
        }
        return address.port
    }

    /// Polls `condition` every 2 ms (suspending, not blocking a thread) until it holds or
    /// `timeout` passes; returns whether it held.
    private func eventually(within timeout: Duration, _ condition: () -> Bool) async throws -> Bool {
        let end = Deadline.now + timeout
        while !condition() {
            if Deadline.now > end { return false }
            try await Task.sleep(for: .milliseconds(2))
        }
        return true
    }

    /// Awaits the end of `task`, rethrowing its error; when it has not ended within `timeout`,
    /// cancels it (which forces a server's stop) and fails.
    private func awaitEnd(of task: Task<Void, any Error>, within timeout: Duration, _ what: String) async throws {
        let timedOut = Locked(false)
        let timer = Task {
            try await Task.sleep(for: timeout)
            timedOut.set(true)
            task.cancel()
        }
        defer { timer.cancel() }
        try await task.value
        if timedOut.current { throw TestFailure("\(what) did not finish within \(timeout)") }
    }
}
