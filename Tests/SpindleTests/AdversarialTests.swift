// The adversarial suite: what a hostile or broken client can do to the server, every attack
// through one harness (AttackHarness.swift) that checks after it that the server answers a new
// client, that nothing leaked (the process's descriptors, open connections, pools, live
// fibers back to their baseline), and what the attack itself got, precisely:
//
//   silent connections          100 that never send a byte: no pooled object, idle timeout
//   slowloris                   50 connections dripping a head (and behind a served request):
//                               closed by the head timeout
//   slow bodies                 past the total body deadline, below the minimum rate: 408
//   slow readers                large responses and static files nobody reads: closed by the
//                               write timeout (by the idle timeout when the response is sent
//                               after its handler returned); resets mid static file; the next
//                               download exact
//   10,000 pipelined requests   in one send: all answered, in order; from a client that never
//                               reads, then closes: held back by TCP (bounded), then let go;
//                               pipelined bodies in 1-byte chunks and bodies left unread
//   resets                      RST at every stage of a request
//   huge and numerous headers   431 and close (a huge target 414, endless empty lines 400)
//   chunk extensions, trailers  oversized or numerous: their documented status and close
//   connection cap              a flood past maxConnectionsPerWorker: 503 and close
//
// The flood past the process's descriptor limit exhausts the process, so it runs in a
// subprocess: FloodTests. Timeouts are short here so the suite takes seconds. Runs on whichever
// I/O backend SPINDLE_IO selects (make test runs this suite on both).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Spindle
import SpindleFibers
import SpindleHTTP
import SpindleTestSupport
import XCTest

final class AdversarialTests: ServerTestCase {
    private let app = TestApplication()

    /// A server (two workers, the default limits, short timeouts, an admin listener) of the
    /// test application, with `configure` applied last, and the harness around it.
    private func startTarget(_ configure: (inout ServerConfiguration) -> Void = { _ in },
                             moreRoutes: (Router<Handler>) throws -> Void = { _ in }) throws -> AttackHarness {
        let app = self.app
        var routesError: (any Error)? = nil
        let server = try startServer(configure: {
            $0.workers = 2
            $0.adminPort = 0
            $0.limits = .default
            $0.idleTimeout = .seconds(5)
            $0.headTimeout = .seconds(5)
            $0.bodyTimeout = .seconds(5)
            $0.writeTimeout = .seconds(5)
            $0.lingeringCloseTimeout = .milliseconds(300)
            $0.shutdownGracePeriod = .seconds(1)
            configure(&$0)
        }, routes: { router in
            app.install(router)
            do { try moreRoutes(router) } catch { routesError = error }
        })
        if let routesError { throw routesError }
        return try AttackHarness(server: server, suite: "AdversarialTests")
    }

    // MARK: - Slow clients

    func testSlowlorisConnectionsAreClosedByTheHeadTimeout() throws {
        let headTimeout = 300
        let target = try startTarget { $0.headTimeout = .milliseconds(headTimeout) }
        try target.attack("slowloris") { before in
            let clients = try (0..<50).map { _ in try TestClient(port: target.port) }
            // 600 bytes at a byte per 50 ms per connection: 30 s for the head, far past its timeout.
            let head = bytes("GET /ok HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X-Drip: 1\r\n", count: 52))
            let start = Deadline.now
            let dripper = Dripper(descriptors: clients.map(\.fd), bytes: head, every: .milliseconds(50))
            let outcomes = waitForServerClose(clients.map(\.fd), since: start, timeout: .seconds(10))
            let dripped = dripper.stop()
            for client in clients { client.close() }
            let closedAfter = checkClosedByTimeout(outcomes, timeoutMilliseconds: headTimeout, named: "head")
            let after = try target.scrape(until: { delta("spindle_timeouts_total", ["kind": "head"], from: before, to: $0) >= clients.count })
            XCTAssertEqual(delta("spindle_timeouts_total", ["kind": "head"], from: before, to: after), clients.count)
            XCTAssertEqual(delta("spindle_timeouts_total", ["kind": "idle"], from: before, to: after), 0)
            return "\(clients.count) connections dripping a head at 1 byte / 50 ms closed by the \(headTimeout) ms head timeout after "
                + "\(closedAfter.min() ?? -1)-\(closedAfter.max() ?? -1) ms (\(dripped.min() ?? 0)-\(dripped.max() ?? 0) bytes sent each), no byte answered"
        }
    }

    /// The head timeout of a head that starts behind a served request runs from when the server
    /// found its first bytes (as the fiber ended), not from a byte that comes later.
    func testSlowlorisBehindAServedRequestIsClosedByTheHeadTimeout() throws {
        let headTimeout = 300
        let target = try startTarget { $0.headTimeout = .milliseconds(headTimeout) }
        try target.attack("slowloris behind a served request") { before in
            let clients = try (0..<20).map { _ in try TestClient(port: target.port) }
            let start = Deadline.now
            for client in clients { try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHo") }
            for (index, client) in clients.enumerated() {
                let response = try client.readResponse()
                XCTAssertTrue(response.status == 200 && response.bodyString == "ok", "client \(index): \(response)")
            }
            let dripper = Dripper(descriptors: clients.map(\.fd), bytes: bytes("st: a\r\n" + String(repeating: "X-Drip: 1\r\n", count: 50)),
                                  every: .milliseconds(50))
            let outcomes = waitForServerClose(clients.map(\.fd), since: start, timeout: .seconds(10))
            dripper.stop()
            for client in clients { client.close() }
            let closedAfter = checkClosedByTimeout(outcomes, timeoutMilliseconds: headTimeout, named: "head")
            let after = try target.scrape(until: { delta("spindle_timeouts_total", ["kind": "head"], from: before, to: $0) >= clients.count })
            XCTAssertEqual(delta("spindle_timeouts_total", ["kind": "head"], from: before, to: after), clients.count)
            XCTAssertEqual(delta("http_requests_total", ["method": "GET", "status": "200"], from: before, to: after), clients.count)
            return "\(clients.count) connections served one request, then dripped the next head: closed by the \(headTimeout) ms head timeout "
                + "\(closedAfter.min() ?? -1)-\(closedAfter.max() ?? -1) ms after the first request was sent"
        }
    }

    /// Connections that never send a byte hold nothing but their socket, and the idle timeout
    /// closes them.
    func testSilentConnectionsAreClosedByTheIdleTimeout() throws {
        let idleTimeout = 400
        let target = try startTarget { $0.idleTimeout = .milliseconds(idleTimeout) }
        try target.attack("silent connections") { before in
            let clients = try (0..<100).map { _ in try TestClient(port: target.port) }
            let start = Deadline.now
            let during = ServerFootprint(try target.scrape(until: { ServerFootprint($0).connectionsOpen == target.baseline.connectionsOpen + clients.count }))
            XCTAssertEqual(during.connectionsOpen, target.baseline.connectionsOpen + clients.count)
            XCTAssertEqual(during.poolsInUse, target.baseline.poolsInUse, "a silent connection holds pooled objects: \(during)")
            XCTAssertEqual(during.fibersLive, target.baseline.fibersLive, "a silent connection holds a fiber: \(during)")
            let outcomes = waitForServerClose(clients.map(\.fd), since: start, timeout: .seconds(10))
            for client in clients { client.close() }
            let closedAfter = checkClosedByTimeout(outcomes, timeoutMilliseconds: idleTimeout, named: "idle", notBefore: false)
            let after = try target.scrape(until: { delta("spindle_timeouts_total", ["kind": "idle"], from: before, to: $0) >= clients.count })
            XCTAssertEqual(delta("spindle_timeouts_total", ["kind": "idle"], from: before, to: after), clients.count)
            return "\(clients.count) connections that never sent a byte held no pooled object and no fiber, and were closed by the "
                + "\(idleTimeout) ms idle timeout within \(closedAfter.max() ?? -1) ms"
        }
    }

    func testSlowBodiesGet408AndAreClosed() throws {
        let cases: [(name: String, configure: (inout ServerConfiguration) -> Void, deadline: Int, message: String)] = [
            ("slow body past the total body deadline", {
                $0.bodyTimeout = .milliseconds(800)
                $0.minimumBodyRate = 0
            }, 800, "the request body did not arrive in time"),
            ("slow body below the minimum rate", {
                $0.bodyTimeout = .seconds(30)
                $0.minimumBodyRate = 1000
                $0.bodyRateGracePeriod = .milliseconds(400)
            }, 400, "the request body arrives too slowly"),
        ]
        for item in cases {
            let target = try startTarget(item.configure)
            try target.attack(item.name) { before in
                let clients = try (0..<10).map { _ in try TestClient(port: target.port) }
                for client in clients { try client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n") }
                let start = Deadline.now
                // 10 bytes a second: the 1,000 bytes would take 100 s.
                let dripper = Dripper(descriptors: clients.map(\.fd), bytes: Array(repeating: UInt8(ascii: "x"), count: 1000),
                                      every: .milliseconds(100))
                var answeredAfter: [Int] = []
                for (index, client) in clients.enumerated() {
                    let response = try client.readResponse()
                    answeredAfter.append(Int(milliseconds(since: start)))
                    XCTAssertEqual(response.status, 408, "client \(index): \(response)")
                    XCTAssertEqual(response.bodyString, item.message + "\n", "client \(index)")
                    XCTAssertTrue(response.saysClose, "client \(index): \(response)")
                    XCTAssertTrue(try client.isClosedByPeer(within: .seconds(3)), "client \(index): open after the 408")
                }
                let dripped = dripper.stop()
                for client in clients { client.close() }
                XCTAssertGreaterThanOrEqual(answeredAfter.min() ?? 0, item.deadline - 50, "408 before the deadline")
                XCTAssertLessThan(answeredAfter.max() ?? .max, item.deadline + 2_500, "408 long after the deadline")
                let after = try target.scrape(until: { delta("spindle_timeouts_total", ["kind": "body"], from: before, to: $0) >= clients.count })
                XCTAssertEqual(delta("spindle_timeouts_total", ["kind": "body"], from: before, to: after), clients.count)
                XCTAssertEqual(delta("http_requests_total", ["method": "POST", "status": "408"], from: before, to: after), clients.count)
                return "\(clients.count) bodies dripped at 10 bytes/s: 408 \"\(item.message)\" after \(answeredAfter.min() ?? -1)-"
                    + "\(answeredAfter.max() ?? -1) ms (\(item.deadline) ms deadline, \(dripped.min() ?? 0)-\(dripped.max() ?? 0) bytes sent each), then closed"
            }
        }
    }

    func testSlowReadersAreClosedByTheWriteTimeout() throws {
        let writeTimeout = 500
        let size = 4 << 20
        let target = try startTarget {
            $0.writeTimeout = .milliseconds(writeTimeout)
            $0.socketSendBufferSize = 16 << 10
        }
        try target.attack("slow readers") { before in
            let clients = try (0..<8).map { _ in try TestClient(port: target.port, receiveBufferSize: 4096) }
            let start = Deadline.now
            for client in clients { try client.send("GET /bytes/\(size) HTTP/1.1\r\nHost: a\r\n\r\n") }
            // Nobody reads: every write waits for the clients, and times out. The clients still
            // hold their sockets when the server has closed its side.
            let baseline = target.baseline
            let closed = try target.scrape(until: {
                delta("spindle_timeouts_total", ["kind": "write"], from: before, to: $0) >= clients.count
                    && ServerFootprint($0).connectionsOpen == baseline.connectionsOpen
            }, timeout: .seconds(10))
            let closedAfter = Int(milliseconds(since: start))
            XCTAssertEqual(delta("spindle_timeouts_total", ["kind": "write"], from: before, to: closed), clients.count)
            XCTAssertEqual(ServerFootprint(closed).connectionsOpen, baseline.connectionsOpen, "slow readers still connected")
            XCTAssertGreaterThanOrEqual(closedAfter, writeTimeout - 50, "closed before the write timeout")
            // What reached each client: the head and part of the body, then the end of the stream.
            var received: [Int] = []
            for (index, client) in clients.enumerated() {
                let (bytes, ended) = try client.readUntilClosed(within: .seconds(5))
                XCTAssertTrue(ended, "client \(index): the server's side is still open")
                XCTAssertTrue(bytes.starts(with: Array("HTTP/1.1 200 OK\r\n".utf8)), "client \(index): \(preview(bytes))")
                XCTAssertLessThan(bytes.count, size, "client \(index): the whole response arrived")
                received.append(bytes.count)
                client.close()
            }
            return "\(clients.count) clients asking for \(size >> 20) MiB each and reading nothing closed by the \(writeTimeout) ms write "
                + "timeout within \(closedAfter) ms; each then read \((received.min() ?? 0) >> 10)-\((received.max() ?? 0) >> 10) KiB and the end of the stream"
        }
    }

    /// Large static files go out without a copy (sendfile on epoll, splice through a pipe on
    /// io_uring): readers that stop reading are closed by the write timeout, a reader that resets
    /// mid file is let go, and the next readers get the file exact (no pipe keeps a stale byte).
    func testStaticFileReadersThatStopOrResetAreLetGo() throws {
        let site = try StaticSite()
        defer { site.remove() }
        let size = 8 << 20
        let contents = pattern(seed: 8, count: size)
        try site.write("large.bin", contents)
        let writeTimeout = 500
        // Send buffers far smaller than the file (it cannot all sit in the kernel for a client
        // that reads nothing) but large enough that the downloads after the attacks are not
        // slowed down (the write timeout bounds each step of at most 1 MiB).
        let target = try startTarget({
            $0.writeTimeout = .milliseconds(writeTimeout)
            $0.socketSendBufferSize = 1 << 20
        }, moreRoutes: { router in
            router.get("/files/*", try StaticFiles(root: site.root, urlPrefix: "/files").handler)
        })
        /// Two whole downloads on new connections (two workers): every byte of the file.
        func assertDownloadsExact(_ what: String) throws {
            for round in 0..<2 {
                let client = try TestClient(port: target.port)
                try client.send("GET /files/large.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                let response = try client.readResponse()
                XCTAssertEqual(response.status, 200, "\(what), download \(round)")
                XCTAssertTrue(response.body == contents, "\(what), download \(round): \(response.body.count) bytes, not the file")
                client.close()
            }
        }
        try target.attack("slow readers of an 8 MiB static file") { before in
            let clients = try (0..<8).map { _ in try TestClient(port: target.port, receiveBufferSize: 4096) }
            let start = Deadline.now
            for client in clients { try client.send("GET /files/large.bin HTTP/1.1\r\nHost: a\r\n\r\n") }
            let baseline = target.baseline
            let closed = try target.scrape(until: {
                delta("spindle_timeouts_total", ["kind": "write"], from: before, to: $0) >= clients.count
                    && ServerFootprint($0).connectionsOpen == baseline.connectionsOpen
            }, timeout: .seconds(10))
            let closedAfter = Int(milliseconds(since: start))
            XCTAssertEqual(ServerFootprint(closed).connectionsOpen, baseline.connectionsOpen, "slow readers still connected")
            XCTAssertGreaterThanOrEqual(closedAfter, writeTimeout - 50, "closed before the write timeout")
            XCTAssertEqual(delta("spindle_timeouts_total", ["kind": "write"], from: before, to: closed), clients.count)
            var received: [Int] = []
            for (index, client) in clients.enumerated() {
                let (bytes, ended) = try client.readUntilClosed(within: .seconds(5))
                XCTAssertTrue(ended, "client \(index): the server's side is still open")
                XCTAssertTrue(bytes.starts(with: Array("HTTP/1.1 200 OK\r\n".utf8)), "client \(index): \(preview(bytes))")
                XCTAssertLessThan(bytes.count, size, "client \(index): the whole file arrived")
                received.append(bytes.count)
                client.close()
            }
            try assertDownloadsExact("after the slow readers")
            return "\(clients.count) clients reading nothing of an \(size >> 20) MiB file closed within \(closedAfter) ms (\(writeTimeout) ms write timeout); "
                + "each had \((received.min() ?? 0) >> 10)-\((received.max() ?? 0) >> 10) KiB; two downloads after them exact"
        }
        try target.attack("resets mid static file") { before in
            let clients = try (0..<8).map { _ in try TestClient(port: target.port, receiveBufferSize: 4096) }
            for client in clients {
                try client.send("GET /files/large.bin HTTP/1.1\r\nHost: a\r\n\r\n")
                XCTAssertEqual(String(decoding: try client.read(exactly: 17), as: UTF8.self), "HTTP/1.1 200 OK\r\n")
            }
            let start = Deadline.now
            for client in clients { client.reset() }
            let baseline = target.baseline
            let after = try target.scrape(until: { ServerFootprint($0).isBack(to: baseline) }, timeout: .seconds(10))
            let letGoAfter = Int(milliseconds(since: start))
            XCTAssertLessThan(letGoAfter, 2_000, "the server took \(letGoAfter) ms to let go of reset connections")
            XCTAssertEqual(delta("spindle_timeouts_total", ["kind": "write"], from: before, to: after), 0, "a write timeout closed them, not the reset")
            try assertDownloadsExact("after the resets")
            return "\(clients.count) clients reset mid file: let go \(letGoAfter) ms after; two downloads after them exact"
        }
    }

    /// Responses small enough to be sent after their handler returned (no fiber waits on them),
    /// to clients that read nothing: the idle timeout bounds them, and the send's buffer comes
    /// back to its pool when the connection closes under it.
    func testSlowReadersOfResponsesSentWithoutAFiberAreClosedByTheIdleTimeout() throws {
        let idleTimeout = 400
        let target = try startTarget {
            $0.idleTimeout = .milliseconds(idleTimeout)
            $0.socketSendBufferSize = 4096
        }
        try target.attack("slow readers of responses sent without a fiber") { before in
            let clients = try (0..<20).map { _ in try TestClient(port: target.port, receiveBufferSize: 4096) }
            let start = Deadline.now
            for (index, client) in clients.enumerated() {
                // 60 KiB: one batch, sent after the handler returned; half of them also ask to close.
                try client.send("GET /big/\(index) HTTP/1.1\r\nHost: a\r\n\(index % 2 == 0 ? "Connection: close\r\n" : "")\r\n")
            }
            let baseline = target.baseline
            let sending = ServerFootprint(try target.scrape(until: { ServerFootprint($0).responsesSending == baseline.responsesSending + clients.count }))
            XCTAssertEqual(sending.responsesSending, baseline.responsesSending + clients.count, "\(sending)")
            XCTAssertEqual(sending.requestsActive, baseline.requestsActive, "a fiber waits on a send: \(sending)")
            let closed = try target.scrape(until: {
                delta("spindle_timeouts_total", ["kind": "idle"], from: before, to: $0) >= clients.count && ServerFootprint($0).isBack(to: baseline)
            }, timeout: .seconds(10))
            let closedAfter = Int(milliseconds(since: start))
            XCTAssertEqual(delta("spindle_timeouts_total", ["kind": "idle"], from: before, to: closed), clients.count)
            XCTAssertTrue(ServerFootprint(closed).isBack(to: baseline), "\(ServerFootprint(closed))")
            XCTAssertGreaterThanOrEqual(closedAfter, idleTimeout - 50, "closed before the idle timeout")
            for (index, client) in clients.enumerated() {
                let (bytes, ended) = try client.readUntilClosed(within: .seconds(5))
                XCTAssertTrue(ended, "client \(index): the server's side is still open")
                XCTAssertTrue(bytes.starts(with: Array("HTTP/1.1 200 OK\r\n".utf8)), "client \(index): \(preview(bytes))")
                XCTAssertLessThan(bytes.count, 60 << 10, "client \(index): the whole response arrived")
                client.close()
            }
            return "\(clients.count) responses of 60 KiB sent without a fiber to clients reading nothing: closed by the \(idleTimeout) ms idle "
                + "timeout within \(closedAfter) ms, their buffers back in the pool"
        }
    }

    // MARK: - Pipelining

    /// `count` pipelined requests for /seq/0, /seq/1, ...
    private func pipelinedBatch(_ count: Int) -> [UInt8] {
        var batch: [UInt8] = []
        batch.reserveCapacity(count * 40)
        for i in 0..<count { batch += bytes("GET /seq/\(i) HTTP/1.1\r\nHost: a\r\n\r\n") }
        return batch
    }

    func testTenThousandPipelinedRequestsInOneSendAreAllAnsweredInOrder() throws {
        let count = 10_000
        let target = try startTarget()
        try target.attack("10,000 pipelined requests in one send") { before in
            let batch = pipelinedBatch(count)
            let client = try TestClient(port: target.port)
            let start = Deadline.now
            let finishSending = client.sendInBackground(batch)
            var wrong: [String] = []
            for i in 0..<count {
                let response = try client.readResponse()
                if response.status != 200 || response.bodyString != "seq \(i)" {
                    wrong.append("response \(i): \(response.status) \(response.bodyString)")
                    if wrong.count == 10 { break }
                }
            }
            let elapsed = Int(milliseconds(since: start))
            XCTAssertEqual(wrong, [], "answers out of order or wrong")
            XCTAssertNil(finishSending(), "the batch could not be sent whole")
            client.close()
            let after = try target.scrape()
            XCTAssertEqual(delta("http_requests_total", ["method": "GET", "status": "200"], from: before, to: after), count)
            return "\(count) requests (\(batch.count >> 10) KiB) in one send answered in order in \(elapsed) ms"
        }
    }

    func testTenThousandPipelinedRequestsFromAClientThatNeverReadsAreHeldBack() throws {
        let count = 10_000
        // A write timeout far beyond the test: what ends the connection must be the client's close.
        let target = try startTarget {
            $0.socketSendBufferSize = 16 << 10
            $0.writeTimeout = .seconds(60)
        }
        try target.attack("10,000 pipelined requests never read, then closed") { before in
            let batch = pipelinedBatch(count)
            // Sends give up after 1 s without progress (the server has stopped reading).
            let client = try TestClient(port: target.port, timeoutSeconds: 1, receiveBufferSize: 4096)
            let finishSending = client.sendInBackground(batch)
            // The server answers until the client's window and its own buffers are full, then
            // waits for the client: the count of answered requests stops growing.
            let answeredNow = { (scrape: Exposition) in delta("http_requests_total", ["method": "GET", "status": "200"], from: before, to: scrape) }
            var during = try target.scrape()
            let end = Deadline.now + .seconds(10)
            while Deadline.now < end {
                usleep(300_000)
                let next = try target.scrape()
                let stalled = answeredNow(next) == answeredNow(during) && answeredNow(next) > 0
                during = next
                if stalled { break }
            }
            let answered = answeredNow(during)
            XCTAssertLessThan(answered, count / 2, "the server answered requests nobody read without holding back")
            XCTAssertGreaterThan(answered, 0)
            let footprint = ServerFootprint(during)
            XCTAssertEqual(footprint.requestsActive - target.baseline.requestsActive, 1, "\(footprint)")
            for (pool, inUse) in footprint.poolsInUse {
                XCTAssertLessThanOrEqual(inUse - (target.baseline.poolsInUse[pool] ?? 0), 2, "pool \(pool) grows with the backlog: \(footprint)")
            }
            let residentGrowth = during.value("process_resident_memory_bytes") - before.value("process_resident_memory_bytes")
            XCTAssertLessThan(residentGrowth, Double(16 << 20), "resident memory grew by \(Int(residentGrowth) >> 10) KiB")
            let sendOutcome = finishSending().map { "\($0)" } ?? "all sent"
            let start = Deadline.now
            client.close()  // with responses unread: a reset
            let released = try target.scrape(until: { ServerFootprint($0).isBack(to: target.baseline) }, timeout: .seconds(10))
            let releasedAfter = Int(milliseconds(since: start))
            XCTAssertTrue(ServerFootprint(released).isBack(to: target.baseline), "not released after the close: \(ServerFootprint(released))")
            XCTAssertLessThan(releasedAfter, 5_000, "released long after the client closed")
            XCTAssertEqual(delta("spindle_timeouts_total", ["kind": "write"], from: before, to: released), 0, "released by the write timeout, not the close")
            return "the server stopped at \(answered) of \(count) answers (pools in use [\(footprint.poolSummary)], resident memory "
                + "\(residentGrowth >= 0 ? "+" : "")\(Int(residentGrowth) >> 10) KiB; the client's send: \(sendOutcome)) and let go \(releasedAfter) ms after the close"
        }
    }

    /// Bodies the handler reads in 1-byte chunks alternating with bodies it leaves unread, 1,000
    /// requests pipelined in one send: every response right, in order.
    func testPipelinedBodiesInTinyChunksAndBodiesLeftUnread() throws {
        let target = try startTarget()
        try target.attack("1,000 pipelined requests with bodies") { before in
            var batch: [UInt8] = []
            var expected: [String] = []
            for i in 0..<1_000 {
                if i % 2 == 0 {
                    let body = Array(repeating: UInt8(ascii: "b"), count: 100 + i)
                    batch += bytes("POST /count HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") + chunked(body, chunkSize: 1)
                    expected.append("\(body.count)")
                } else {
                    batch += bytes("POST /ignore-body HTTP/1.1\r\nHost: a\r\nContent-Length: 3000\r\n\r\n") + pattern(seed: i, count: 3000)
                    expected.append("ignored")
                }
            }
            let client = try TestClient(port: target.port)
            let start = Deadline.now
            let finishSending = client.sendInBackground(batch)
            var wrong: [String] = []
            for (i, body) in expected.enumerated() {
                let response = try client.readResponse()
                if response.status != 200 || response.bodyString != body {
                    wrong.append("response \(i): \(response.status) \(response.bodyString)")
                    if wrong.count == 10 { break }
                }
            }
            let elapsed = Int(milliseconds(since: start))
            XCTAssertEqual(wrong, [])
            XCTAssertNil(finishSending())
            client.close()
            return "\(expected.count) requests (\(batch.count >> 10) KiB, half chunked in 1-byte chunks) answered in order in \(elapsed) ms"
        }
    }

    // MARK: - Resets

    /// One stage of a request at which the client resets: what it does first (returning the
    /// connections it resets), and what the server must have counted by the time it let go.
    private struct ResetStage {
        let name: String
        /// Requests answered (a response written, whole or not).
        let answered: ClosedRange<Int>
        /// Requests whose connection closed under their handler.
        let cancelled: Int
        /// Malformed requests answered with an error.
        var parseErrors = 0
        let act: () throws -> [TestClient]
    }

    func testResetsAtEveryStageOfARequest() throws {
        // Small socket buffers: a response of a few tens of KiB is still being sent when the reset comes.
        let target = try startTarget { $0.socketSendBufferSize = 4096 }
        let baseline = target.baseline
        /// Waits until the server's footprint has `requests` more requests in flight and
        /// `sending` more responses being sent than at rest.
        func waitForServer(requests: Int, sending: Int = 0) throws {
            let scraped = ServerFootprint(try target.scrape(until: {
                let footprint = ServerFootprint($0)
                return footprint.requestsActive == baseline.requestsActive + requests && footprint.responsesSending == baseline.responsesSending + sending
            }))
            guard scraped.requestsActive == baseline.requestsActive + requests && scraped.responsesSending == baseline.responsesSending + sending else {
                throw TestFailure("expected \(requests) more requests in flight and \(sending) more responses sending: \(scraped)")
            }
        }
        let stages: [ResetStage] = [
            ResetStage(name: "right after connect", answered: 0...0, cancelled: 0) { [try TestClient(port: target.port)] },
            ResetStage(name: "mid request line", answered: 0...0, cancelled: 0) {
                let client = try TestClient(port: target.port)
                try client.send("GET /ok HT")
                _ = try target.scrape(until: { ServerFootprint($0).connectionsOpen == baseline.connectionsOpen + 1 })
                usleep(50_000)  // the bytes are in: a head is being read
                return [client]
            },
            ResetStage(name: "after the head, before the body", answered: 0...0, cancelled: 1) {
                let client = try TestClient(port: target.port)
                try client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
                try waitForServer(requests: 1)
                return [client]
            },
            ResetStage(name: "mid body", answered: 0...0, cancelled: 1) {
                let client = try TestClient(port: target.port)
                try client.send(bytes("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n") + pattern(seed: 1, count: 50_000))
                try waitForServer(requests: 1)
                return [client]
            },
            ResetStage(name: "after the request, before the response", answered: 0...0, cancelled: 1) {
                let client = try TestClient(port: target.port)
                try client.send("GET /sleep?ms=5000 HTTP/1.1\r\nHost: a\r\n\r\n")
                try waitForServer(requests: 1)
                return [client]
            },
            ResetStage(name: "mid response, its handler writing", answered: 1...1, cancelled: 0) {
                let client = try TestClient(port: target.port, receiveBufferSize: 4096)
                try client.send("GET /bytes/\(4 << 20) HTTP/1.1\r\nHost: a\r\n\r\n")
                XCTAssertEqual(String(decoding: try client.read(exactly: 17), as: UTF8.self), "HTTP/1.1 200 OK\r\n")
                try waitForServer(requests: 1)  // its fiber waits in the write
                return [client]
            },
            ResetStage(name: "mid response, sent after its handler returned", answered: 1...1, cancelled: 0) {
                let client = try TestClient(port: target.port, receiveBufferSize: 4096)
                try client.send("GET /big/1 HTTP/1.1\r\nHost: a\r\n\r\n")  // 60 KiB: one batch, sent without a fiber
                XCTAssertEqual(String(decoding: try client.read(exactly: 17), as: UTF8.self), "HTTP/1.1 200 OK\r\n")
                try waitForServer(requests: 0, sending: 1)
                return [client]
            },
            ResetStage(name: "mid pipelined batch", answered: 3...49, cancelled: 0) {
                let client = try TestClient(port: target.port, receiveBufferSize: 4096)
                var batch: [UInt8] = []
                for n in 1...50 { batch += bytes("GET /big/\(n) HTTP/1.1\r\nHost: a\r\n\r\n") }
                try client.send(batch)
                for n in 1...3 {
                    let response = try client.readResponse()
                    XCTAssertTrue(response.status == 200 && response.body == pattern(seed: n, count: 60 << 10), "response \(n): \(response)")
                }
                return [client]
            },
            ResetStage(name: "while lingering after an error response", answered: 0...0, cancelled: 0, parseErrors: 1) {
                let client = try TestClient(port: target.port)
                try client.send("GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
                let response = try client.readResponse()
                XCTAssertEqual(response.status, 400, "\(response)")
                return [client]  // the server has half-closed and reads what still comes, for 300 ms
            },
            ResetStage(name: "by 100 connections at once, their handlers running", answered: 0...0, cancelled: 100) {
                let clients = try (0..<100).map { _ in try TestClient(port: target.port) }
                for client in clients { try client.send("GET /sleep?ms=5000 HTTP/1.1\r\nHost: a\r\n\r\n") }
                try waitForServer(requests: clients.count)
                return clients
            },
        ]
        for stage in stages {
            try target.attack("reset \(stage.name)") { before in
                let clients = try stage.act()
                let start = Deadline.now
                for client in clients { client.reset() }
                let after = try target.scrape(until: { ServerFootprint($0).isBack(to: baseline) }, timeout: .seconds(10))
                let closedAfter = Int(milliseconds(since: start))
                func total(_ name: String, _ scrape: Exposition) -> Int { Int(scrape.series(name).map(\.value).reduce(0, +)) }
                let answered = total("http_requests_total", after) - total("http_requests_total", before)
                XCTAssertTrue(stage.answered.contains(answered), "\(stage.name): \(answered) requests answered, expected \(stage.answered)")
                XCTAssertEqual(delta("spindle_requests_cancelled_total", from: before, to: after), stage.cancelled, stage.name)
                XCTAssertEqual(total("spindle_http_parse_errors_total", after) - total("spindle_http_parse_errors_total", before), stage.parseErrors,
                               stage.name)
                XCTAssertEqual(total("spindle_timeouts_total", after) - total("spindle_timeouts_total", before), 0,
                               "\(stage.name): a timeout closed it, not the reset")
                XCTAssertLessThan(closedAfter, 2_000, "\(stage.name): the server took \(closedAfter) ms to let go of a reset connection")
                return "let go \(closedAfter) ms after the reset; \(answered) answered, \(stage.cancelled) cancelled, \(stage.parseErrors) parse errors"
            }
        }
    }

    // MARK: - Oversized heads and bodies' framing

    /// Sends `request` (from a thread: the server stops reading it early) and expects `status`
    /// with `message`, `Connection: close`, then the close; counted as a parse error of `reason`.
    private func assertRejected(_ target: AttackHarness, _ name: String, request: [UInt8], status: Int, message: String,
                                reason: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try target.attack(name, file: file, line: line) { before in
            let client = try TestClient(port: target.port)
            let start = Deadline.now
            let finishSending = client.sendInBackground(request)
            let response = try client.readResponse()
            let answeredAfter = Int(milliseconds(since: start))
            XCTAssertEqual(response.status, status, "\(name): \(response)", file: file, line: line)
            XCTAssertEqual(response.bodyString, message + "\n", name, file: file, line: line)
            XCTAssertTrue(response.saysClose, "\(name): \(response)", file: file, line: line)
            XCTAssertTrue(try client.isClosedByPeer(within: .seconds(3)), "\(name): open after the \(status)", file: file, line: line)
            // The server stopped reading: the rest of the request was dropped, or reset.
            let sendOutcome = finishSending().map { "failed (\($0))" } ?? "completed"
            client.close()
            let after = try target.scrape(until: { delta("spindle_http_parse_errors_total", ["reason": reason], from: before, to: $0) >= 1 })
            XCTAssertEqual(delta("spindle_http_parse_errors_total", ["reason": reason], from: before, to: after), 1, name, file: file, line: line)
            return "\(request.count >> 10) KiB request: \(status) \"\(message)\" after \(answeredAfter) ms, then closed; the client's send \(sendOutcome)"
        }
    }

    func testHugeAndNumerousHeaderFieldsGet431AndClose() throws {
        let target = try startTarget()
        let huge = bytes("GET /ok HTTP/1.1\r\nHost: a\r\nX-Huge: ") + Array(repeating: UInt8(ascii: "h"), count: 1 << 20) + bytes("\r\n\r\n")
        try assertRejected(target, "one 1 MiB header field", request: huge, status: 431, message: "header section too large",
                           reason: "headerSectionTooLarge")
        // The same behind a pipelined request: the fiber serving it finds the head too large.
        let behindARequest = bytes("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n") + huge
        try target.attack("one 1 MiB header field behind a pipelined request") { before in
            let client = try TestClient(port: target.port)
            let finishSending = client.sendInBackground(behindARequest)
            let first = try client.readResponse()
            XCTAssertTrue(first.status == 200 && first.bodyString == "ok" && !first.saysClose, "\(first)")
            let second = try client.readResponse()
            XCTAssertEqual(second.status, 431, "\(second)")
            XCTAssertEqual(second.bodyString, "header section too large\n")
            XCTAssertTrue(second.saysClose, "\(second)")
            XCTAssertTrue(try client.isClosedByPeer(within: .seconds(3)), "open after the 431")
            _ = finishSending()
            client.close()
            let after = try target.scrape(until: { delta("spindle_http_parse_errors_total", ["reason": "headerSectionTooLarge"], from: before, to: $0) >= 1 })
            XCTAssertEqual(delta("spindle_http_parse_errors_total", ["reason": "headerSectionTooLarge"], from: before, to: after), 1)
            return "200 for the first request, 431 for the 1 MiB head behind it, then closed"
        }
        let hugeTarget = bytes("GET /") + Array(repeating: UInt8(ascii: "t"), count: 1 << 20) + bytes(" HTTP/1.1\r\nHost: a\r\n\r\n")
        try assertRejected(target, "a 1 MiB request-target", request: hugeTarget, status: 414, message: "request-target too long",
                           reason: "requestTargetTooLong")
        let emptyLines = Array(repeating: bytes("\r\n"), count: 100_000).flatMap { $0 } + bytes("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        try assertRejected(target, "100,000 empty lines before the request line", request: emptyLines, status: 400,
                           message: "too many empty lines before the request line", reason: "tooManyEmptyLines")
        var numerous = bytes("GET /ok HTTP/1.1\r\nHost: a\r\n")
        for i in 0..<10_000 { numerous += bytes("X-Field-\(i): v\r\n") }
        numerous += bytes("\r\n")
        try assertRejected(target, "10,000 header fields", request: numerous, status: 431, message: "too many header fields",
                           reason: "tooManyFields")
    }

    func testOversizedChunkExtensionsAndTrailersGetTheirStatusAndClose() throws {
        let target = try startTarget()
        let head = bytes("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        let longExtension = head + bytes("5;ext=") + Array(repeating: UInt8(ascii: "e"), count: 100 << 10) + bytes("\r\nhello\r\n0\r\n\r\n")
        try assertRejected(target, "a chunk-size line with a 100 KiB extension", request: longExtension, status: 400,
                           message: "chunk-size line too long", reason: "chunkLineTooLong")
        // Each line within maxChunkLineLength (4 KiB), all together past maxHeaderBytes (16 KiB).
        var manyExtensions = head
        for _ in 0..<40 { manyExtensions += bytes("1;ext=") + Array(repeating: UInt8(ascii: "e"), count: 1000) + bytes("\r\nx\r\n") }
        manyExtensions += bytes("0\r\n\r\n")
        try assertRejected(target, "40 chunks with 1 KiB extensions each", request: manyExtensions, status: 413,
                           message: "chunk extensions too large", reason: "chunkExtensionsTooLarge")
        let hugeTrailer = head + bytes("5\r\nhello\r\n0\r\nX-Trailer: ") + Array(repeating: UInt8(ascii: "t"), count: 100 << 10) + bytes("\r\n\r\n")
        try assertRejected(target, "a 100 KiB trailer field", request: hugeTrailer, status: 431,
                           message: "trailer section too large", reason: "trailerSectionTooLarge")
        var numerousTrailers = head + bytes("5\r\nhello\r\n0\r\n")
        for i in 0..<10_000 { numerousTrailers += bytes("X-Trailer-\(i): v\r\n") }
        numerousTrailers += bytes("\r\n")
        try assertRejected(target, "10,000 trailer fields", request: numerousTrailers, status: 431,
                           message: "trailer section too large", reason: "trailerSectionTooLarge")
    }

    // MARK: - Connection cap

    func testAFloodPastTheConnectionCapIsAnswered503AndClosed() throws {
        let cap = 4
        let floodCount = 200
        let target = try startTarget {
            $0.workers = 1
            $0.maxConnectionsPerWorker = cap
        }
        try target.attack("flood past the connection cap") { before in
            let held = try (0..<cap).map { _ in try TestClient(port: target.port) }
            for client in held {
                try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
                XCTAssertEqual(try client.readResponse().status, 200)
            }
            let start = Deadline.now
            var flood: [TestClient] = []
            for i in 0..<floodCount {
                let client = try TestClient(port: target.port)
                if i % 2 == 0 { try? client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n") }  // half of them ask for something
                flood.append(client)
            }
            var refused = 0
            var otherwise: [String] = []
            for (index, client) in flood.enumerated() {
                let response = try client.readResponse()
                let closed = try client.isClosedByPeer(within: .seconds(3))
                if response.status == 503 && response.saysClose && response.header("retry-after") == "1" && closed {
                    refused += 1
                } else {
                    otherwise.append("connection \(index): \(response), closed: \(closed)")
                }
                client.close()
            }
            let elapsed = Int(milliseconds(since: start))
            XCTAssertEqual(refused, floodCount, "\(otherwise.prefix(10))")
            // The connections within the cap never noticed.
            for (index, client) in held.enumerated() {
                try client.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
                XCTAssertEqual(try client.readResponse().status, 200, "held connection \(index)")
                client.close()
            }
            let after = try target.scrape()
            XCTAssertEqual(delta("spindle_connections_refused_total", from: before, to: after), floodCount)
            XCTAssertEqual(delta("spindle_connections_accepted_total", from: before, to: after), cap)
            return "\(floodCount) connections past a cap of \(cap): all answered 503 and closed within \(elapsed) ms; the \(cap) within the cap still served"
        }
    }
}
