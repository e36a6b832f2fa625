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

    /// `status()` says which file it is (inode, device, modification time to the nanosecond),
    /// as `stat` does, and what kind: regular, directory, or neither (a FIFO).
    func testStatusIdentifiesTheFileAndItsKind() throws {
        let path = directory + "/identity.txt"
        let fifo = directory + "/fifo"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("abc".utf8)))
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        var expected = stat()
        XCTAssertEqual(stat(path, &expected), 0)
        let directory = self.directory
        let (file, folder, pipe, flags) = try onWorker { _ -> (File.Status, File.Status, File.Status, [Int32]) in
            let file = try File.open(path, options: [.readOnly, .nonBlockingOpen])
            let folder = try File.open(directory)
            // Without `nonBlockingOpen` this open would wait for a writer forever.
            let pipe = try File.open(fifo, options: [.readOnly, .nonBlockingOpen])
            let flags = [fcntl(file.descriptor, F_GETFL), fcntl(pipe.descriptor, F_GETFL)]
            defer { for opened in [file, folder, pipe] { try? opened.close() } }
            return (try file.status(), try folder.status(), try pipe.status(), flags)
        }
        XCTAssertEqual(file.inode, UInt64(expected.st_ino))
        XCTAssertEqual(file.device, UInt64(expected.st_dev))
        XCTAssertEqual(file.modificationTime, Int64(expected.st_mtim.tv_sec))
        XCTAssertEqual(Int(file.modificationNanoseconds), expected.st_mtim.tv_nsec)
        XCTAssertEqual(file.size, 3)
        XCTAssertTrue(file.isRegularFile)
        XCTAssertFalse(file.isDirectory)
        XCTAssertTrue(folder.isDirectory)
        XCTAssertFalse(folder.isRegularFile)
        XCTAssertFalse(pipe.isRegularFile || pipe.isDirectory, "a FIFO is neither")
        XCTAssertEqual(flags[0] & O_NONBLOCK, 0, "the flag is cleared once the file is open")
        XCTAssertEqual(flags[1] & O_NONBLOCK, 0)
    }

    /// `read(into:at:)` with an array fills its start and says how much; 0 at the end.
    func testReadIntoAnArray() throws {
        let path = directory + "/array.bin"
        let bytes = pattern(seed: 4, count: 1000)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let (first, firstCount, last, lastCount, end) = try onWorker { _ -> ([UInt8], Int, [UInt8], Int, Int) in
            let file = try File.open(path)
            defer { try? file.close() }
            var buffer = [UInt8](repeating: 7, count: 600)
            let firstCount = try file.read(into: &buffer, at: 0)
            let first = buffer
            let lastCount = try file.read(into: &buffer, at: 600)
            let end = try file.read(into: &buffer, at: 1000)
            return (first, firstCount, buffer, lastCount, end)
        }
        XCTAssertEqual(firstCount, 600)
        XCTAssertEqual(first, Array(bytes[0..<600]))
        XCTAssertEqual(lastCount, 400)
        XCTAssertEqual(Array(last[0..<400]), Array(bytes[600...]))
        XCTAssertEqual(last.count, 600, "the array keeps its count")
        XCTAssertEqual(end, 0)
    }

    /// `read(_ range:)` returns exactly the range's bytes, fewer when the file ends inside it,
    /// none for an empty range or one past the end; `forEachChunk(of:chunkSize:)` hands over
    /// the range in order in chunks no larger than asked, stops at the end of the file, and
    /// rethrows what its body throws.
    func testRangeReadsAndChunks() throws {
        let path = directory + "/ranges.bin"
        let bytes = pattern(seed: 5, count: 100_000)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        struct Stop: Error {}
        let result = try onWorker { _ -> (middle: [UInt8], tail: [UInt8], empty: [UInt8], past: [UInt8],
                                          chunks: [Int], joined: [UInt8], covered: Int, pastEnd: Int, stoppedAfter: Int) in
            let file = try File.open(path)
            defer { try? file.close() }
            let middle = try file.read(1000..<71_000)
            let tail = try file.read(99_000..<150_000)
            let empty = try file.read(500..<500)
            let past = try file.read(200_000..<200_010)
            var chunks: [Int] = []
            var joined: [UInt8] = []
            let covered = try file.forEachChunk(of: 10..<50_010, chunkSize: 16_384) { chunk in
                chunks.append(chunk.count)
                joined.append(contentsOf: chunk)
            }
            let pastEnd = try file.forEachChunk(of: 90_000..<120_000) { _ in }
            var calls = 0
            do {
                _ = try file.forEachChunk(of: 0..<100_000, chunkSize: 1000) { _ in
                    calls += 1
                    if calls == 3 { throw Stop() }
                }
            } catch is Stop {}
            return (middle, tail, empty, past, chunks, joined, covered, pastEnd, calls)
        }
        XCTAssertEqual(result.middle, Array(bytes[1000..<71_000]))
        XCTAssertEqual(result.tail, Array(bytes[99_000...]), "the file ends inside the range")
        XCTAssertEqual(result.empty, [])
        XCTAssertEqual(result.past, [])
        XCTAssertEqual(result.chunks, [16_384, 16_384, 16_384, 848])
        XCTAssertEqual(result.joined, Array(bytes[10..<50_010]))
        XCTAssertEqual(result.covered, 50_000)
        XCTAssertEqual(result.pastEnd, 10_000, "up to the end of the file")
        XCTAssertEqual(result.stoppedAfter, 3, "the body's error ends the reading")
    }

    /// `canonicalPath` resolves a path as `realpath` does; `resolvedPath` says where an open
    /// file really is, through the links its open followed, and that it was deleted.
    func testCanonicalAndResolvedPaths() throws {
        let canonicalDirectory = try File.canonicalPath(directory)
        try FileManager.default.createDirectory(atPath: directory + "/sub", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/sub/target.txt", contents: Data("t".utf8)))
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: "sub/target.txt")
        XCTAssertEqual(try File.canonicalPath(directory + "/sub/../link"), canonicalDirectory + "/sub/target.txt")
        XCTAssertThrowsError(try File.canonicalPath(directory + "/missing")) { error in
            XCTAssertEqual((error as? IOError)?.errno, ENOENT)
        }
        let directory = self.directory
        let (viaLink, deleted) = try onWorker { _ -> (String, String) in
            let file = try File.open(directory + "/link")
            defer { try? file.close() }
            let viaLink = try file.resolvedPath()
            unlink(directory + "/sub/target.txt")
            return (viaLink, try file.resolvedPath())
        }
        XCTAssertEqual(viaLink, canonicalDirectory + "/sub/target.txt")
        XCTAssertEqual(deleted, canonicalDirectory + "/sub/target.txt (deleted)")
    }

    /// Which open errors mean "no file to read there" (`isFileUnavailable`) and which are
    /// failures of their own.
    func testWhichOpenErrorsMeanTheFileIsUnavailable() {
        for code in [ENOENT, ENOTDIR, ENAMETOOLONG, ELOOP, EACCES, EPERM] {
            XCTAssertTrue(IOError("openat", errno: code).isFileUnavailable, "errno \(code)")
        }
        for code in [EMFILE, ENFILE, EIO, EEXIST, ENOMEM] {
            XCTAssertFalse(IOError("openat", errno: code).isFileUnavailable, "errno \(code)")
        }
    }
}

private func currentUmask() -> Int32 {
    let mask = umask(0o022)
    umask(mask)
    return Int32(bitPattern: mask)
}
