// A 100 MiB upload to the Files executable in a subprocess (on the backend SPINDLE_IO names,
// as the other probes): the body goes to disk chunk by chunk, so the server's resident memory
// grows by far less than the upload; the stored file is then compared with what was sent.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleTestSupport
import XCTest

final class FilesLargeUploadTests: XCTestCase {
    private static let blockSize = 1 << 20
    private static let blocks = 100

    /// Block `index` of the upload: one pseudo-random MiB with the block's number in its first
    /// eight bytes, so that no two blocks are alike.
    private static func block(_ index: Int, base: [UInt8]) -> [UInt8] {
        var block = base
        for byte in 0..<8 { block[byte] = UInt8(truncatingIfNeeded: index >> (8 * byte)) }
        return block
    }

    func testA100MiBUploadKeepsTheServersMemoryFlat() throws {
        guard !AddressSanitizer.isActive else {
            // The server under test is built with ASan too, whose quarantine keeps freed memory resident.
            throw XCTSkip("resident memory measures AddressSanitizer's quarantine in this build, not the server")
        }
        let scratch = NSTemporaryDirectory() + "spindle-files-large-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let files = try ProbeProcess(executable: "Files", arguments: [
            "--port", "0", "--workers", "1", "--uploads", scratch, "--access-log", "off",
        ])
        defer { _ = try? files.waitForExit(timeout: .seconds(20)) }
        defer { try? files.send(signal: SIGTERM) }
        let port = try Self.listeningPort(of: files)

        // Warm up: pools, buffers and the code paths of an upload, so that the baseline
        // includes what any upload costs once.
        let base = pattern(seed: 99, count: Self.blockSize)
        for round in 0..<2 {
            let warmUp = try RawClient(port: port)
            let size = 8 * Self.blockSize
            try warmUp.send(rawRequest("PUT", "/uploads/warm-up.bin", fields: ["Content-Length: \(size)"]))
            for index in 0..<8 { try warmUp.send(Self.block(index, base: base)) }
            XCTAssertEqual(try warmUp.readResponse().status, round == 0 ? 201 : 200)
        }
        let baseline = try Self.residentBytes(of: files.processIdentifier)

        let peak = Locked(baseline)
        let sampling = Locked(true)
        let sampler = Thread {
            while sampling.current {
                if let rss = try? Self.residentBytes(of: files.processIdentifier) { peak.withLock { $0 = max($0, rss) } }
                usleep(10_000)
            }
        }
        sampler.start()
        let started = Date()
        let client = try RawClient(port: port)
        try client.send(rawRequest("PUT", "/uploads/large.bin", fields: ["Content-Length: \(Self.blocks * Self.blockSize)"]))
        for index in 0..<Self.blocks { try client.send(Self.block(index, base: base)) }
        let response = try client.readResponse()
        let seconds = Date().timeIntervalSince(started)
        sampling.withLock { $0 = false }
        while !sampler.isFinished { usleep(5_000) }

        XCTAssertEqual(response.status, 201, response.bodyString)
        XCTAssertEqual(response.bodyString, "created /uploads/large.bin (\(Self.blocks * Self.blockSize) bytes)\n")
        let growth = peak.current - baseline
        print("100 MiB upload in \(String(format: "%.1f", seconds)) s; server RSS \(baseline >> 10) KiB before, peak \(peak.current >> 10) KiB (+\(growth >> 10) KiB)")
        XCTAssertLessThan(growth, 16 << 20, "the server's RSS grew by \(growth >> 10) KiB during a 100 MiB upload")

        // The stored file, block by block.
        let stored = try XCTUnwrap(FileHandle(forReadingAtPath: scratch + "/large.bin"))
        defer { try? stored.close() }
        for index in 0..<Self.blocks {
            let read = try stored.read(upToCount: Self.blockSize).map { [UInt8]($0) } ?? []
            guard read == Self.block(index, base: base) else {
                XCTFail("block \(index) of the stored file differs from what was sent (\(read.count) bytes read)")
                break
            }
        }
        XCTAssertEqual(try stored.readToEnd() ?? Data(), Data(), "nothing after the last block")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch).sorted(), ["large.bin", "warm-up.bin"])
    }

    /// The port the server logged (`listening on http://127.0.0.1:PORT`).
    private static func listeningPort(of probe: ProbeProcess) throws -> Int {
        var port: Int? = nil
        let found = waitUntil(timeout: .seconds(30)) {
            for text in [probe.stdout, probe.stderr] {
                guard let range = text.range(of: "listening on http://127.0.0.1:") else { continue }
                port = Int(text[range.upperBound...].prefix { $0.isNumber })
                return port != nil
            }
            return !probe.isRunning
        }
        guard found, let port else { throw TestFailure("Files did not say where it listens:\n\(probe.stdout)\n\(probe.stderr)") }
        return port
    }

    /// `VmRSS` of process `pid`, in bytes.
    private static func residentBytes(of pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else {
            throw TestFailure("no VmRSS in /proc/\(pid)/status")
        }
        return kib << 10
    }
}
