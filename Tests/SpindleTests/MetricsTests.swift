// The metrics over real sockets: requests sent to a server's main port, then its admin listener
// scraped; each test compares the counters before and after by exact differences. Scrapes go
// to the admin port (a server of its own), so they never count themselves.
#if canImport(Glibc)
import Glibc
#endif
import CoreMetrics
import Foundation
import Spindle
import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleMemory
import SpindleTestSupport
import XCTest

final class MetricsTests: ServerTestCase {
    // MARK: - Requests, statuses, durations

    func testRequestsAreCountedByMethodAndStatusAndTimed() throws {
        let server = try startServer(configure: { $0.workers = 2; $0.adminPort = 0 }) { router in
            router.get("/ok") { _, _ in .text("ok") }
            router.post("/created") { _, _ in .text("made", status: .created) }
        }
        let before = try scrape(server)
        // (method, path, expected status, how many): on several connections, so both workers serve.
        // The method label of each: near misses of the methods told apart by a word compare
        // (`MethodClass`) are `other`.
        let cases: [(method: String, path: String, status: Int, count: Int, label: String)] = [
            ("GET", "/ok", 200, 7, "GET"), ("GET", "/missing", 404, 3, "GET"), ("POST", "/created", 201, 2, "POST"),
            ("DELETE", "/ok", 405, 1, "DELETE"), ("HEAD", "/ok", 200, 2, "HEAD"), ("PUT", "/ok", 405, 1, "PUT"),
            ("PUX", "/ok", 405, 1, "other"), ("GEt", "/ok", 405, 1, "other"), ("POSX", "/ok", 405, 1, "other"),
            ("HEAT", "/ok", 405, 1, "other"), ("PATCH", "/ok", 405, 1, "PATCH"), ("OPTIONS", "/ok", 405, 1, "OPTIONS"),
        ]
        for (index, item) in cases.enumerated() {
            for round in 0..<item.count {
                let client = try TestClient(port: server.port)
                try client.send("\(item.method) \(item.path) HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
                let response = try client.readResponse(isHEAD: item.method == "HEAD")
                XCTAssertEqual(response.status, item.status, "case \(index) round \(round)")
            }
        }
        let after = try scrape(server)
        var expected: [[String: String]: Int] = [:]
        for item in cases { expected[["method": item.label, "status": String(item.status)], default: 0] += item.count }
        for (labels, count) in expected {
            XCTAssertEqual(after.value("http_requests_total", labels) - before.value("http_requests_total", labels),
                           Double(count), "\(labels)")
        }
        let total = Double(cases.map(\.count).reduce(0, +))
        XCTAssertEqual(after.value("http_request_duration_seconds_count") - before.value("http_request_duration_seconds_count"), total)
        XCTAssertEqual(after.value("http_request_duration_seconds_bucket", ["le": "+Inf"]), after.value("http_request_duration_seconds_count"))
        XCTAssertGreaterThan(after.value("http_request_duration_seconds_sum"), before.value("http_request_duration_seconds_sum"))
        XCTAssertEqual(after.value("spindle_arena_request_bytes_count") - before.value("spindle_arena_request_bytes_count"), total)
        XCTAssertEqual(after.value("spindle_connections_accepted_total") - before.value("spindle_connections_accepted_total"), total)
        XCTAssertEqual(after.value("spindle_workers"), 2)
        // Cumulative buckets never decrease.
        let buckets = after.series("http_request_duration_seconds_bucket").sorted { $0.bound < $1.bound }.map(\.value)
        XCTAssertEqual(buckets, buckets.sorted(), "buckets must be cumulative")
    }

    func testPipelinedRequestsAreEachCountedAndTimed() throws {
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0 }) { router in
            router.get("/ok") { _, _ in .text("ok") }
        }
        let before = try scrape(server)
        let client = try TestClient(port: server.port)
        let pipelined = 5
        try client.send(String(repeating: "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", count: pipelined))  // one write, one fiber
        for _ in 0..<pipelined { XCTAssertEqual(try client.readResponse().status, 200) }
        let after = try scrape(server)
        let labels = ["method": "GET", "status": "200"]
        XCTAssertEqual(after.value("http_requests_total", labels) - before.value("http_requests_total", labels), Double(pipelined))
        XCTAssertEqual(after.value("http_request_duration_seconds_count") - before.value("http_request_duration_seconds_count"),
                       Double(pipelined))
        XCTAssertEqual(after.value("spindle_connections_accepted_total") - before.value("spindle_connections_accepted_total"), 1)
    }

    // MARK: - Arenas and pools

    func testArenaOverflowAndLargeAllocationsAreCounted() throws {
        let blockSize = RequestArena.Configuration().blockSize
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0 }) { router in
            router.get("/small") { _, context in
                _ = context.arena.allocate(byteCount: 64)
                return .text("small")
            }
            router.get("/two-blocks") { _, context in
                // Sixteen eighths of a block: the first eight fill the first block, the ninth
                // chains a second, which the rest fill exactly.
                for _ in 0..<16 { _ = context.arena.allocate(byteCount: blockSize / 8) }
                return .text("two blocks")
            }
            router.get("/large") { _, context in
                // Larger than the block (a smaller one that still fits is bumped from it), and
                // over a quarter block: malloc'd.
                _ = context.arena.allocate(byteCount: blockSize + 1)
                return .text("large")
            }
        }
        let before = try scrape(server)
        let client = try TestClient(port: server.port)
        for path in ["/small", "/two-blocks", "/large"] {
            try client.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(try client.readResponse().status, 200, path)
        }
        let after = try scrape(server)
        func grew(_ name: String, _ labels: [String: String] = [:]) -> Double { after.value(name, labels) - before.value(name, labels) }
        XCTAssertEqual(grew("spindle_arena_overflow_blocks_total"), 1)
        XCTAssertEqual(grew("spindle_arena_large_allocations_total"), 1)
        XCTAssertEqual(grew("spindle_arena_first_block_requests_total"), 1, "only /small fit in the first block")
        XCTAssertEqual(grew("spindle_arena_request_bytes_count"), 3)
        // The bytes handed out from blocks: 64, two whole blocks, and none for the malloc'd one.
        XCTAssertEqual(grew("spindle_arena_request_bytes_sum"), Double(64 + 2 * blockSize))
        // /two-blocks lands in the bucket whose bound is 2 × blockSize (a power of two by default).
        let twoBlocks = PowerOfTwoBuckets.arenaBytes.upperBound(PowerOfTwoBuckets.arenaBytes.index(UInt64(2 * blockSize)))
        let below = PowerOfTwoBuckets.arenaBytes.upperBound(PowerOfTwoBuckets.arenaBytes.index(UInt64(2 * blockSize)) - 1)
        let inBucket = { (e: Exposition) in
            e.value("spindle_arena_request_bytes_bucket", ["le": "\(Double(twoBlocks))"]) - e.value("spindle_arena_request_bytes_bucket", ["le": "\(Double(below))"])
        }
        XCTAssertEqual(inBucket(after) - inBucket(before), 1, "one request between \(below) and \(twoBlocks) bytes")
    }

    func testAnExhaustedPoolCountsItsMissesAndTheGaugesSeeTheRequestsInFlight() throws {
        let held = 4
        let server = try startServer(configure: { $0.workers = 1; $0.preallocatedRequests = 2; $0.adminPort = 0 }) { router in
            router.get("/hold") { _, _ in
                try Fiber.sleep(for: .milliseconds(2500))
                return .text("held")
            }
        }
        let before = try scrape(server)
        let clients = try (0..<held).map { _ in try TestClient(port: server.port) }
        for client in clients { try client.send("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n") }
        XCTAssertTrue(try waitForValue(server, "spindle_requests_active", equalTo: Double(held)), "all \(held) requests in flight")
        let during = try scrape(server)
        XCTAssertEqual(during.value("spindle_pool_in_use", ["pool": "arenas"]), Double(held))
        XCTAssertEqual(during.value("spindle_connections_open"), Double(held))
        XCTAssertEqual(during.value("spindle_connections_idle"), 0)
        for client in clients { XCTAssertEqual(try client.readResponse().status, 200) }
        let after = try scrape(server)
        // Two arenas were made at start; two more had to be made for the requests beyond them.
        XCTAssertEqual(after.value("spindle_pool_misses_total", ["pool": "arenas"])
                       - before.value("spindle_pool_misses_total", ["pool": "arenas"]), Double(held - 2))
        XCTAssertEqual(after.value("spindle_pool_peak_in_use", ["pool": "arenas"]), Double(held))
        // The clients must outlive the check: optimised builds end their lifetime (closing their
        // sockets) right after their last use above.
        try withExtendedLifetime(clients) {
            XCTAssertTrue(try waitForValue(server, "spindle_connections_idle", equalTo: Double(held)), "keep-alive connections idle")
        }
    }

    /// A spike of 40 requests at once makes pooled objects beyond the 2 preallocated; once it
    /// is over, the periodic trim (every 200 ms here) gives them back: every pool is at its
    /// preallocated size again, and the trims are counted.
    func testPoolsGiveBackWhatASpikeMadeOnceItIsOver() throws {
        let spike = 40
        let server = try startServer(configure: {
            $0.workers = 1; $0.preallocatedRequests = 2; $0.adminPort = 0; $0.memoryTrimInterval = .milliseconds(200)
        }) { router in
            router.get("/hold") { _, _ in
                try Fiber.sleep(for: .milliseconds(300))
                return .text("held")
            }
        }
        var clients = try (0..<spike).map { _ in try TestClient(port: server.port) }
        for client in clients { try client.send("GET /hold HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") }
        for client in clients { XCTAssertEqual(try client.readResponse().status, 200) }
        for client in clients { client.close() }
        clients = []
        // The spike's heads are small: they came in small receive buffers (large ones: none needed).
        let pools = ["receive_buffers", "small_receive_buffers", "parsers", "output_buffers", "arenas"]
        let after = try scrape(server, until: { exposition in
            pools.allSatisfy { exposition.value("spindle_pool_available", ["pool": $0]) == 2 } && exposition.value("spindle_connections_open") == 0
        })
        for pool in pools where pool != "receive_buffers" {
            XCTAssertGreaterThanOrEqual(after.value("spindle_pool_peak_in_use", ["pool": pool]), pool == "output_buffers" ? 1 : Double(spike) / 2,
                                        "\(pool): the spike did need more than the preallocated")
        }
        for pool in pools {
            XCTAssertEqual(after.value("spindle_pool_available", ["pool": pool]), 2, "\(pool) back to its preallocated size")
        }
        XCTAssertGreaterThanOrEqual(after.value("spindle_memory_trims_total"), 1)
    }

    // MARK: - Errors and timeouts

    func testParseErrorsAreCountedByReason() throws {
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0; $0.limits.maxBodyBytes = 1000 }) { router in
            router.post("/echo") { request, _ in .bytes(try request.body.readAll()) }
        }
        // (bytes, reason, status): heads refused without a fiber, and bodies refused while read.
        let cases: [(request: String, reason: String, status: Int)] = [
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "duplicateHost", 400),
            ("GET / HTTP/1.1\nHost: a\r\n\r\n", "bareLineFeed", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "contentLengthWithTransferEncoding", 400),
            ("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", "contentTooLarge", 413),
            ("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalidChunkSize", 400),
        ]
        let before = try scrape(server)
        for item in cases {
            let client = try TestClient(port: server.port)
            try client.send(item.request)
            XCTAssertEqual(try client.readResponse().status, item.status, item.reason)
        }
        let after = try scrape(server)
        for item in cases {
            let labels = ["reason": item.reason]
            XCTAssertEqual(after.value("spindle_http_parse_errors_total", labels) - before.value("spindle_http_parse_errors_total", labels),
                           1, item.reason)
        }
    }

    func testTimeoutsAreCountedByKind() throws {
        let server = try startServer(configure: {
            $0.workers = 1
            $0.adminPort = 0
            $0.idleTimeout = .milliseconds(300)
            $0.headTimeout = .milliseconds(300)
            $0.bodyTimeout = .milliseconds(300)
            $0.lingeringCloseTimeout = .milliseconds(300)
        }) { router in
            router.get("/") { _, _ in .text("ok") }
            router.post("/echo") { request, _ in .bytes(try request.body.readAll()) }
        }
        let before = try scrape(server)
        let idle = try TestClient(port: server.port)
        try idle.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try idle.readResponse().status, 200)
        let slowHead = try TestClient(port: server.port)
        try slowHead.send("GET / HTTP/1.1\r\nHo")
        // A body that stops coming: 408, then a lingering close the client never ends itself.
        let slowBody = try TestClient(port: server.port)
        try slowBody.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
        XCTAssertEqual(try slowBody.readResponse().status, 408)
        XCTAssertTrue(try idle.isClosedByPeer(within: .seconds(5)), "idle timeout")
        XCTAssertTrue(try slowHead.isClosedByPeer(within: .seconds(5)), "head timeout")
        XCTAssertTrue(try slowBody.isClosedByPeer(within: .seconds(5)), "FIN after the 408")
        // The server lingers after its FIN until the client closes or the timeout passes.
        let lingered = { (e: Exposition) in e.value("spindle_timeouts_total", ["kind": "linger"]) }
        let after = try scrape(server, until: { lingered($0) > lingered(before) })
        for (kind, expected) in [("idle", 1.0), ("head", 1.0), ("body", 1.0), ("write", 0.0), ("linger", 1.0)] {
            XCTAssertEqual(after.value("spindle_timeouts_total", ["kind": kind]) - before.value("spindle_timeouts_total", ["kind": kind]),
                           expected, kind)
        }
    }

    // MARK: - Process, allocator, runtime

    func testProcessAndRuntimeMetricsArePresentAndPlausible() throws {
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0 }) { router in
            router.get("/") { _, _ in .text("ok") }
        }
        let scraped = try scrape(server)
        let resident = try XCTUnwrap(scraped.optionalValue("process_resident_memory_bytes"))
        XCTAssertGreaterThan(resident, Double(1 << 20))
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(scraped.optionalValue("process_virtual_memory_bytes")), resident)
        let openFDs = try XCTUnwrap(scraped.optionalValue("process_open_fds"))
        XCTAssertGreaterThan(openFDs, 3, "stdio, the listeners and the rings at least")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(scraped.optionalValue("process_max_fds")), openFDs)
        XCTAssertGreaterThan(try XCTUnwrap(scraped.optionalValue("process_cpu_seconds_total")), 0)
        let started = try XCTUnwrap(scraped.optionalValue("process_start_time_seconds"))
        let now = Date().timeIntervalSince1970
        XCTAssertLessThanOrEqual(started, now + 1)
        XCTAssertGreaterThan(started, now - 24 * 3600, "the test process started today")
        // The allocator and the backend are the ones this process really uses.
        let allocator = Allocator.kind.rawValue
        XCTAssertEqual(scraped.series("spindle_allocator_info").map { $0.labels["allocator"] }, [allocator])
        switch Allocator.kind {
        case .mimalloc: XCTAssertGreaterThan(try XCTUnwrap(scraped.optionalValue("spindle_allocator_committed_bytes")), 0)
        case .glibc: XCTAssertGreaterThan(try XCTUnwrap(scraped.optionalValue("spindle_allocator_fragmentation_ratio")), 0)
        case .jemalloc: XCTAssertGreaterThan(try XCTUnwrap(scraped.optionalValue("spindle_allocator_bytes_in_use")), 0)
        case .other: XCTAssertNil(scraped.optionalValue("spindle_allocator_bytes_in_use"))
        }
        let backend = try XCTUnwrap(server.server.backendChoice).kind.rawValue
        XCTAssertEqual(scraped.value("spindle_io_backend_info", ["backend": backend]), 1)
        XCTAssertGreaterThanOrEqual(scraped.value("spindle_fibers_live"), 2, "the accept loop and the timeout sweeper")
        XCTAssertGreaterThanOrEqual(scraped.value("spindle_fibers_spawned_total"), scraped.value("spindle_fibers_live"))
        // Every stack in use belongs to a live fiber or to a finished one kept for reuse.
        XCTAssertEqual(scraped.value("spindle_fiber_stacks_in_use"),
                       scraped.value("spindle_fibers_live") + scraped.value("spindle_fibers_recycled"))
        XCTAssertEqual(scraped.value("spindle_pool_available", ["pool": "parsers"]), 64, "preallocated")
    }

    /// Three requests whose handlers offload 50 ms of blocking work: the offload counters grow
    /// by three closures and at least 150 ms of run time, and the requests took at least that
    /// (the pool is the process's: a scrape may offload work of its own, so the two totals are
    /// each checked against the 150 ms, not against each other).
    func testOffloadTimeIsCountedAndFitsInTheRequestsTime() throws {
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0 }) { router in
            router.get("/slow") { _, context in
                _ = try context.offload { usleep(50_000) }
                return .text("done")
            }
        }
        let before = try scrape(server)
        let client = try TestClient(port: server.port)
        for _ in 0..<3 {
            try client.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(try client.readResponse().bodyString, "done")
        }
        let after = try scrape(server)
        func delta(_ name: String) -> Double { after.value(name) - before.value(name) }
        XCTAssertGreaterThanOrEqual(delta("spindle_offload_completed_total"), 3)
        let ran = delta("spindle_offload_run_seconds_total")
        XCTAssertGreaterThanOrEqual(ran, 0.15, "three closures of 50 ms")
        XCTAssertGreaterThanOrEqual(delta("spindle_offload_queue_wait_seconds_total"), 0)
        XCTAssertGreaterThanOrEqual(delta("http_request_duration_seconds_sum"), 0.15, "each request waited for its 50 ms closure")
    }

    // MARK: - Where /metrics is served

    func testTheAdminPortServesMetricsAndTheMainPortAnswers404() throws {
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0 }) { router in
            router.get("/") { _, _ in .text("ok") }
        }
        let main = try get("/metrics", port: server.port)
        XCTAssertEqual(main.status, 404)
        let admin = try get("/metrics", port: try XCTUnwrap(server.server.adminAddress).port)
        XCTAssertEqual(admin.status, 200)
        XCTAssertEqual(admin.header("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertTrue(admin.bodyString.contains("# TYPE http_request_duration_seconds histogram"), admin.bodyString)
        // The 404 on the main port is a request like any other.
        let after = try scrape(server)
        XCTAssertEqual(after.value("http_requests_total", ["method": "GET", "status": "404"]), 1)
    }

    func testTheHandlerMountedOnTheMainPortServesMetricsAndCountsItself() throws {
        let router = Router<Handler>()
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 1
        let server = Server(router: router, configuration: configuration)
        router.get("/metrics", server.metricsHandler())
        let port = try server.start().port
        defer {
            server.stop()
            server.wait()
        }
        XCTAssertNil(server.adminAddress, "no admin listener unless configured")
        let first = Exposition(try get("/metrics", port: port).bodyString)
        let second = Exposition(try get("/metrics", port: port).bodyString)
        let labels = ["method": "GET", "status": "200"]
        XCTAssertEqual(second.value("http_requests_total", labels) - first.value("http_requests_total", labels), 1,
                       "the first scrape is counted in the second")
    }

    func testTheAdminTokenIsRequiredWhenSet() throws {
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0; $0.adminToken = "s3cret" }) { _ in }
        let port = try XCTUnwrap(server.server.adminAddress).port
        let cases: [(authorization: String?, status: Int)] = [
            (nil, 401), ("Bearer wrong!", 401), ("Bearer s3cre", 401), ("Basic s3cret", 401), ("Bearer s3cret", 200), ("bearer s3cret", 200),
        ]
        for item in cases {
            let response = try get("/metrics", port: port, authorization: item.authorization)
            XCTAssertEqual(response.status, item.status, item.authorization ?? "no Authorization")
            if item.status == 401 { XCTAssertEqual(response.header("www-authenticate"), "Bearer realm=\"spindle\"") }
        }
    }

    func testANonLoopbackAdminHostWithoutATokenRefusesToStart() throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 1
        configuration.adminHost = "0.0.0.0"
        configuration.adminPort = 0
        let server = Server(router: Router<Handler>(), configuration: configuration)
        XCTAssertThrowsError(try server.start()) { error in
            XCTAssertTrue(error is AdminListenerError, "\(error)")
        }
        XCTAssertNil(server.adminAddress)
        // tearDown checks that the main listener it had bound was closed again.
    }

    func testSwiftMetricsShowUpAtMetricsOnceBootstrapped() throws {
        Server.bootstrapMetrics()
        XCTAssertFalse(Server.bootstrapMetrics(), "a second bootstrap does nothing")
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0 }) { router in
            router.post("/widgets") { _, _ in
                CoreMetrics.Counter(label: "app_widgets_made_total").increment(by: 3)
                return .text("made")
            }
        }
        let before = try scrape(server)
        let client = try TestClient(port: server.port)
        for _ in 0..<2 {
            try client.send("POST /widgets HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
            XCTAssertEqual(try client.readResponse().status, 200)
        }
        let after = try scrape(server)
        XCTAssertEqual(after.value("app_widgets_made_total") - before.value("app_widgets_made_total"), 6)
    }

    // MARK: - Pieces

    func testDurationBucketsAreLogSpacedAndInclusive() {
        let buckets = PowerOfTwoBuckets.requestNanoseconds
        let cases: [(nanoseconds: UInt64, bucket: Int)] = [
            (0, 0), (1, 0), (8192, 0), (8193, 1), (16384, 1), (16385, 2), (1_000_000, 7), (1 << 34, 21), ((1 << 34) + 1, 22), (.max, 22),
        ]
        for item in cases {
            XCTAssertEqual(buckets.index(item.nanoseconds), item.bucket, "\(item.nanoseconds) ns")
            if item.bucket < buckets.finiteCount {
                XCTAssertLessThanOrEqual(item.nanoseconds, buckets.upperBound(item.bucket))
            }
            if item.bucket > 0 { XCTAssertGreaterThan(item.nanoseconds, buckets.upperBound(item.bucket - 1)) }
        }
    }

    func testLoopbackHostsAndBearerTokens() {
        for (host, loopback) in [("127.0.0.1", true), ("127.1.2.3", true), ("::1", true), ("localhost", true),
                                 ("0.0.0.0", false), ("10.0.0.1", false), ("127.0.0", false), ("127.0.0.256", false), ("::", false)] {
            XCTAssertEqual(AdminListener.isLoopback(host), loopback, host)
        }
        for (header, accepted) in [("Bearer abc", true), ("BEARER abc", true), ("Bearer abd", false), ("Bearer abcd", false),
                                   ("Bearer ", false), ("abc", false), ("Bearerabc", false)] {
            XCTAssertEqual(MetricsEndpoint.authorized(header, token: "abc"), accepted, header)
        }
        XCTAssertFalse(MetricsEndpoint.authorized(nil, token: "abc"))
    }

    // MARK: - Helpers

    /// One GET on a new connection (closed after it).
    private func get(_ path: String, port: Int, authorization: String? = nil) throws -> WireResponse {
        let client = try TestClient(port: port)
        let field = authorization.map { "Authorization: \($0)\r\n" } ?? ""
        try client.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\(field)Connection: close\r\n\r\n")
        return try client.readResponse()
    }

    /// `/metrics` from the server's admin listener (see `TestServer.scrapeMetrics`).
    private func scrape(_ server: TestServer, until: (Exposition) -> Bool = { _ in true }) throws -> Exposition {
        try server.scrapeMetrics(until: until)
    }

    /// Scrapes until `name` (unlabelled) equals `value`, for at most 5 s.
    private func waitForValue(_ server: TestServer, _ name: String, equalTo value: Double) throws -> Bool {
        try scrape(server, until: { $0.value(name) == value }).value(name) == value
    }
}
