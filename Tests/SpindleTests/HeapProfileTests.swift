// Heap profiles on demand (`GET /_spindle/heap-profile` on the admin listener): refused in words
// on mimalloc (this test process), written by jemalloc with profiling when the server runs on
// it — the server probe started with LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=prof:true, the way
// `make run-heap-profile` starts the example — and readable by `jeprof`.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleMemory
import SpindleTestSupport
import XCTest

final class HeapProfileTests: ServerTestCase {
    static let jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"

    func testWithoutProfilingTheEndpointSaysHowToStartIt() throws {
        let server = try startServer(configure: { $0.workers = 1; $0.adminPort = 0 }) { router in
            router.get("/") { _, _ in .text("ok") }
        }
        let admin = try XCTUnwrap(server.server.adminAddress).port
        let response = try get("/_spindle/heap-profile", port: admin)
        XCTAssertEqual(response.status, 409, response.description)
        XCTAssertTrue(response.bodyString.contains("make run-heap-profile"), response.bodyString)
        XCTAssertTrue(response.bodyString.contains(Allocator.kind.rawValue), response.bodyString)
        // Not on the main port.
        XCTAssertEqual(try get("/_spindle/heap-profile", port: server.port).status, 404)
    }

    func testOnJemallocWithProfilingAProfileIsWrittenAndJeprofReadsIt() throws {
        guard FileManager.default.fileExists(atPath: Self.jemalloc) else {
            throw XCTSkip("\(Self.jemalloc) is missing: `make test` installs libjemalloc2")
        }
        guard !AddressSanitizer.isActive else {
            throw XCTSkip("a preloaded jemalloc cannot come before the AddressSanitizer runtime")
        }
        let probe = try startProbe(["serve", "--admin"], environment: [
            "LD_PRELOAD": Self.jemalloc, "MALLOC_CONF": "prof:true,lg_prof_sample:12",
        ])
        let admin = Int(try probe.waitForLine(prefix: "admin ", timeout: .seconds(30)).dropFirst(6))!
        let port = Int(try probe.waitForLine(prefix: "port ", timeout: .seconds(30)).dropFirst(5))!
        // Some allocations to sample: responses of 64 KiB.
        for _ in 0..<50 { XCTAssertEqual(try get("/bytes?n=65536", port: port).status, 200) }
        let metrics = try get("/metrics", port: admin).bodyString
        XCTAssertTrue(metrics.contains("spindle_allocator_info{allocator=\"jemalloc\""), "jemalloc not recognised:\n\(metrics.prefix(3000))")
        XCTAssertNotNil(metrics.split(separator: "\n").first { $0.hasPrefix("spindle_allocator_bytes_in_use ") && !$0.hasSuffix(" 0") },
                        "no bytes in use from jemalloc's stats.allocated")

        let response = try get("/_spindle/heap-profile", port: admin)
        XCTAssertEqual(response.status, 200, response.description)
        XCTAssertTrue(response.bodyString.hasPrefix("heap_v2/"), "not a jemalloc heap profile: \(response.bodyString.prefix(200))")
        let path = try XCTUnwrap(response.header("x-spindle-heap-profile"))
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(FileManager.default.contents(atPath: path).map { [UInt8]($0) }, response.body, "the file on disk is what was sent")
        XCTAssertTrue(response.header("content-disposition")?.contains(".heap") ?? false)

        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/jeprof") else {
            throw XCTSkip("jeprof is missing: `make test` installs libjemalloc-dev")
        }
        let binary = try ProbeProcess.executable(named: "spindle-server-probe").path
        let jeprof = try runCommand("/usr/bin/jeprof", ["--text", binary, path])
        XCTAssertEqual(jeprof.status, 0, jeprof.output)
        XCTAssertTrue(jeprof.output.contains("Total:"), "jeprof's report has no total:\n\(jeprof.output.prefix(3000))")
        try probe.send(line: "stop")
        _ = try probe.waitForExit(timeout: .seconds(10))
    }

    // MARK: - Helpers

    private func get(_ path: String, port: Int) throws -> WireResponse {
        let client = try TestClient(port: port)
        defer { client.close() }
        try client.send("GET \(path) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        return try client.readResponse()
    }

    /// Runs `program` to its end (at most 60 s) and returns its exit status and its output
    /// (stdout and stderr together).
    private func runCommand(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let ended = waitUntil(timeout: .seconds(60)) { !process.isRunning }
        if !ended { process.terminate() }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
