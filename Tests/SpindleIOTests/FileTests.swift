// Files through the ring: open, positional write/read, statx and close, and errors naming the path.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import XCTest

final class FileTests: IOTestCase {
    private var directory: String = ""

    override func setUp() {
        super.setUp()
        directory = NSTemporaryDirectory() + "spindle-io-tests-\(getpid())-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
        super.tearDown()
    }

    /// Create, write (including past the end: a hole), read back, statx size/mode, close; then
    /// reopen read-only and read at an offset.
    func testCreateWriteReadStatClose() throws {
        let path = directory + "/data.bin"
        let body = pattern(seed: 9, count: 200_000)
        let tail = Array("tail".utf8)
        let directory = self.directory
        let result = try onWorker { _ -> (written: File.Status, back: [UInt8], slice: [UInt8], reopened: Int, isDirectory: Bool) in
            let file = try File.open(path, options: [.readWrite, .create, .exclusive], permissions: 0o640)
            try file.write(body, at: 0)
            try file.write(tail, at: 300_000)
            let status = try file.status()
            let back = try file.readAll()
            try file.close()
            try file.close()  // idempotent
            let again = try File.open(path)
            var slice = [UInt8](repeating: 0, count: 10)
            let n = try slice.withUnsafeMutableBytes { try again.read(into: $0, at: 299_998) }
            slice.removeLast(10 - n)
            let size = try again.status().size
            try again.close()
            let dir = try File.open(directory)
            let isDirectory = try dir.status().isDirectory
            try dir.close()
            return (status, back, slice, size, isDirectory)
        }
        XCTAssertEqual(result.written.size, 300_004)
        XCTAssertEqual(Int32(result.written.mode) & 0o777, 0o640 & ~currentUmask())
        XCTAssertEqual(UInt32(result.written.mode) & S_IFMT, S_IFREG)
        XCTAssertFalse(result.written.isDirectory)
        XCTAssertGreaterThan(result.written.modificationTime, 1_600_000_000)
        XCTAssertEqual(result.back.count, 300_004)
        XCTAssertTrue(Array(result.back[0..<200_000]) == body)
        XCTAssertTrue(result.back[200_000..<300_000].allSatisfy { $0 == 0 }, "the hole reads as zeros")
        XCTAssertEqual(Array(result.back[300_000...]), tail)
        XCTAssertEqual(result.slice, [0, 0] + tail)
        XCTAssertEqual(result.reopened, 300_004)
        XCTAssertTrue(result.isDirectory)
        // And the bytes really are on disk, as seen without Spindle.
        XCTAssertEqual(FileManager.default.contents(atPath: path).map { [UInt8]($0) }, result.back)
    }

    /// Opening a missing file throws an IOError with ENOENT whose description names the errno
    /// and the path; O_EXCL on an existing file gives EEXIST.
    func testOpenErrorsNameErrnoAndPath() throws {
        let missing = directory + "/no-such-file.txt"
        let existing = directory + "/exists.txt"
        XCTAssertTrue(FileManager.default.createFile(atPath: existing, contents: Data("x".utf8)))
        let errors = try onWorker { _ -> [IOError?] in
            var errors: [IOError?] = []
            let attempts: [(String, File.Options)] = [(missing, .readOnly), (existing, [.writeOnly, .create, .exclusive])]
            for (path, options) in attempts {
                do {
                    let file = try File.open(path, options: options)
                    try file.close()
                    errors.append(nil)
                } catch let error as IOError {
                    errors.append(error)
                }
            }
            return errors
        }
        let enoent = try XCTUnwrap(errors[0], "opening a missing file succeeded")
        XCTAssertEqual(enoent.errno, ENOENT)
        XCTAssertTrue(enoent.description.contains("ENOENT"), enoent.description)
        XCTAssertTrue(enoent.description.contains(missing), enoent.description)
        let eexist = try XCTUnwrap(errors[1], "O_EXCL on an existing file succeeded")
        XCTAssertEqual(eexist.errno, EEXIST)
        XCTAssertTrue(eexist.description.contains(existing), eexist.description)
    }

    /// Sixteen fibers each write and read back their own file at the same time.
    func testConcurrentFilesFromManyFibers() throws {
        let directory = self.directory
        let mismatches = try onWorker { _ -> [String] in
            var mismatches: [String] = []
            let group = WaitGroup()
            for i in 0..<16 {
                group.add()
                Fiber.spawn {
                    defer { group.done() }
                    do {
                        let path = directory + "/f\(i)"
                        let bytes = pattern(seed: 100 + i, count: 70_000 + i * 1000)
                        let file = try File.open(path, options: [.readWrite, .create, .truncate])
                        try file.write(bytes, at: 0)
                        let back = try file.readAll()
                        let size = try file.status().size
                        try file.close()
                        if back != bytes || size != bytes.count { mismatches.append("file \(i): size \(size)") }
                    } catch {
                        mismatches.append("file \(i): \(error)")
                    }
                }
            }
            try group.wait()
            return mismatches
        }
        XCTAssertEqual(mismatches, [])
    }
}

private func currentUmask() -> Int32 {
    let mask = umask(0o022)
    umask(mask)
    return Int32(bitPattern: mask)
}
