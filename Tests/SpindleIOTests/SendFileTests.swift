// `TCPConnection.send(_:range:)`: a file's bytes to a socket with no copy through user space
// (sendfile on epoll, splice through a pipe on io_uring), on whichever backend SPINDLE_IO
// selects (make test runs this suite on both).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleFibers
import SpindleIO
import SpindleMemory
import SpindleTestSupport
import XCTest

final class SendFileTests: IOTestCase {
    private var path = ""
    private let content = pattern(seed: 21, count: 3 << 20 + 12_345)

    override func setUp() {
        super.setUp()
        path = NSTemporaryDirectory() + "spindle-sendfile-\(getpid())-\(UUID().uuidString).bin"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(content)))
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: path)
        super.tearDown()
    }

    /// Ranges — whole file, a middle slice not aligned to pages, one byte, empty, and one
    /// running past the end (sent up to the end, the count says how much) — arrive byte for
    /// byte, one after another on one connection; then the descriptors are what they were.
    func testRangesArriveExactly() throws {
        let ranges: [Range<Int>] = [0..<content.count, 4_097..<2_000_001, 77..<78, 500..<500,
                                    (content.count - 1_000)..<(content.count + 5_000)]
        let expected = ranges.map { Array(content[min($0.lowerBound, content.count)..<min($0.upperBound, content.count)]) }
        let descriptorsBefore = openDescriptorCount()
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let sentCounts = Locked<[Int]>([])
        let path = self.path
        let server = BackgroundRuntime { _ in
            defer { listener.close() }
            let connection = try listener.accept()
            defer { connection.close() }
            let file = try File.open(path)
            defer { try? file.close() }
            for range in ranges {
                let sent = try connection.send(file, range: range, deadline: .now + .seconds(20))
                sentCounts.withLock { $0.append(sent) }
            }
        }
        let client = try TestClient(port: listener.address.port)
        for (range, bytes) in zip(ranges, expected) {
            let received = try client.receive(exactly: bytes.count)
            XCTAssertTrue(received == bytes, "range \(range): \(received.count) bytes differ from the file's")
        }
        XCTAssertTrue(try client.receiveToEnd().isEmpty, "bytes beyond the ranges")
        client.close()
        try server.stop()
        XCTAssertEqual(sentCounts.current, expected.map(\.count))
        // Pipes kept for splicing belong to the worker and close with it.
        XCTAssertTrue(waitUntil(timeout: .seconds(3)) { openDescriptorCount() == descriptorsBefore },
                      "descriptors: \(descriptorsBefore) before, \(openDescriptorCount()) after")
    }

    /// A peer that does not read: the send parks once the socket is full and its deadline ends
    /// it with TimeoutError (< 3 s). A pipe left half full by it is not reused: the next
    /// transfer, to another connection, arrives exactly.
    func testDeadlineEndsASendToAPeerThatDoesNotRead() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let outcome = Locked<TimedOutcome?>(nil)
        let secondSent = Locked<Int?>(nil)
        let path = self.path
        let total = content.count
        let server = BackgroundRuntime { _ in
            defer { listener.close() }
            let file = try File.open(path)
            defer { try? file.close() }
            let stalled = try listener.accept()
            defer { stalled.close() }
            outcome.set(timed {
                // A few MiB more than any socket buffer holds, from a file: sent again and again.
                for _ in 0..<64 { _ = try stalled.send(file, range: 0..<total, deadline: .now + .milliseconds(300)) }
            })
            let reader = try listener.accept()
            defer { reader.close() }
            secondSent.set(try reader.send(file, range: 0..<total, deadline: .now + .seconds(20)))
        }
        let stalled = try TestClient(port: listener.address.port)
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { outcome.current != nil })
        let reader = try TestClient(port: listener.address.port)
        let received = try reader.receive(exactly: content.count)
        XCTAssertTrue(received == content, "the transfer after a timed-out one differs from the file")
        stalled.close()
        reader.close()
        try server.stop()
        let result = try XCTUnwrap(outcome.current)
        XCTAssertEqual(result.error, "TimeoutError", "\(result)")
        XCTAssertLessThan(result.milliseconds, 3000, "\(result)")
        XCTAssertEqual(secondSent.current, content.count)
    }

    /// A peer that resets mid-transfer: the send throws an IOError (EPIPE or ECONNRESET), not
    /// a timeout or a trap, and the worker goes on serving.
    func testAResetPeerEndsTheSendWithAnError() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let failure = Locked<String?>(nil)
        let path = self.path
        let total = content.count
        let server = BackgroundRuntime { _ in
            defer { listener.close() }
            let file = try File.open(path)
            defer { try? file.close() }
            let connection = try listener.accept()
            defer { connection.close() }
            do {
                for _ in 0..<64 { _ = try connection.send(file, range: 0..<total, deadline: .now + .seconds(20)) }
                failure.set("no error")
            } catch let error as IOError {
                failure.set(Errno.name(error.errno))
            } catch {
                failure.set("\(type(of: error))")
            }
        }
        let client = try TestClient(port: listener.address.port)
        _ = try client.receive(exactly: 100_000)
        client.closeWithReset()
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { failure.current != nil })
        try server.stop()
        XCTAssertTrue(["EPIPE", "ECONNRESET"].contains(failure.current ?? ""), "\(failure.current ?? "-")")
    }
}

/// Descriptors open in this process now.
private func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}
