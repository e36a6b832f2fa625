// The app owns its HTTP client's event loop threads: they start with it and end when it is shut
// down; in a ServiceGroup after the server, the server finishes the requests in flight before
// the client goes away, and the group's end leaves no thread of the client behind.
import AsyncBridgeApp
import Foundation
import Logging
import ServiceLifecycle
import Spindle
import SpindleTestSupport
import XCTest

final class LifecycleTests: XCTestCase {
    /// The threads of NIO event loop groups (`NIO-ELT-…`) alive now.
    private func eventLoopThreads() -> Int { threadNames().filter { $0.hasPrefix("NIO-ELT-") }.count }

    func testTheEventLoopThreadsEndAtShutdown() async throws {
        let before = eventLoopThreads()
        let bridge = AsyncBridge(configuration: AsyncBridgeConfiguration(upstream: try UpstreamBaseURL("http://127.0.0.1:9"),
                                                                         eventLoopThreads: 3))
        XCTAssertEqual(eventLoopThreads(), before + 3, "the group's threads run from init: \(threadNames())")
        XCTAssertFalse(bridge.isShutDown)
        try await bridge.shutdown()
        XCTAssertTrue(bridge.isShutDown)
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { self.eventLoopThreads() == before }, "left: \(threadNames())")
        try await bridge.shutdown()  // a second call returns at once
    }

    func testInAServiceGroupTheServerFinishesBeforeTheClientShutsDown() async throws {
        let upstream = try KnownUpstream()
        defer { upstream.stop() }
        let before = eventLoopThreads()
        let bridge = AsyncBridge(configuration: AsyncBridgeConfiguration(upstream: upstream.url, eventLoopThreads: 2))
        let server = Server(router: bridge.router(), configuration: ServerConfiguration(host: "127.0.0.1", port: 0))
        let group = ServiceGroup(configuration: .init(services: [bridge, server], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { server.address != nil }, "the server listens")
        let port = try XCTUnwrap(server.address?.port)

        // A request still in flight when the group shuts down: the upstream answers after 700 ms.
        let inFlight = Locked<(status: Int32, output: String)?>(nil)
        let curl = Thread {
            inFlight.set(try? ReadmeCommands.run("curl -s -w ' %{http_code}' http://127.0.0.1:\(port)/fetch?path=/sleep/700"))
        }
        curl.start()
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { upstream.sleeping.current == 1 }, "the request reached the upstream")
        await group.triggerGracefulShutdown()
        try await running.value

        XCTAssertTrue(bridge.isShutDown, "the group's end shut the client down")
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { inFlight.current != nil })
        XCTAssertEqual(inFlight.current?.output, "slept 200", "the request in flight was answered by a live client")
        XCTAssertEqual(bridge.statistics.succeeded, 1)
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { self.eventLoopThreads() == before }, "left: \(threadNames())")
    }
}
