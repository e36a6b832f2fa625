// Files written chunk by chunk from one reused buffer, synchronised, renamed into place (over an
// old file, or refusing to) and removed, through the worker's backend (run on both backends).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import XCTest

final class FileNamesTests: IOTestCase {
    private var directory: String = ""

    override func setUp() {
        super.setUp()
        directory = NSTemporaryDirectory() + "spindle-io-names-\(getpid())-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
        super.tearDown()
    }

    /// A stream written as slices of one buffer lands whole at consecutive offsets; renamed
    /// over an old file, the name shows the new bytes at once while a descriptor opened on the
    /// old file still reads the old ones, and the temporary name is gone.
    func testAStreamWrittenInSlicesReplacesAnOldFileInOneStep() throws {
        let target = directory + "/report.bin", temporary = directory + "/.report.part"
        let old = pattern(seed: 1, count: 5_000)
        XCTAssertTrue(FileManager.default.createFile(atPath: target, contents: Data(old)))
        let stream = pattern(seed: 2, count: 300_001)
        let (oldThroughDescriptor, newThroughName) = try onWorker { _ -> ([UInt8], [UInt8]) in
            let reader = try File.open(target)
            defer { try? reader.close() }
            let file = try File.open(temporary, options: [.writeOnly, .create, .exclusive])
            var buffer = [UInt8](repeating: 0, count: 7_000)
            var offset = 0
            while offset < stream.count {
                let count = min(buffer.count, stream.count - offset)
                buffer.replaceSubrange(0..<count, with: stream[offset..<(offset + count)])
                try file.write(buffer[0..<count], at: offset)
                offset += count
            }
            try file.synchronize()
            try file.close()
            try File.rename(temporary, to: target)
            let renamed = try File.open(target)
            defer { try? renamed.close() }
            return (try reader.readAll(), try renamed.readAll())
        }
        XCTAssertTrue(oldThroughDescriptor == old, "the old file, still open, is unchanged")
        XCTAssertTrue(newThroughName == stream, "the name shows the whole stream")
        XCTAssertFalse(FileManager.default.fileExists(atPath: temporary))
        XCTAssertEqual(FileManager.default.contents(atPath: target).map { [UInt8]($0) }, stream)
    }

    /// Without `replacing`, a rename to a free name succeeds and one to a taken name fails with
    /// EEXIST naming both paths, leaving both files as they were; a missing source is ENOENT.
    func testARenameThatMustNotReplaceRefusesATakenName() throws {
        let first = directory + "/first.txt", second = directory + "/second.txt", taken = directory + "/taken.txt"
        XCTAssertTrue(FileManager.default.createFile(atPath: first, contents: Data("one".utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: second, contents: Data("two".utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: taken, contents: Data("kept".utf8)))
        let missing = directory + "/missing.txt"
        let directory = self.directory
        let errors = try onWorker { _ -> [IOError?] in
            var errors: [IOError?] = []
            for (from, to) in [(first, directory + "/free.txt"), (second, taken), (missing, directory + "/other.txt")] {
                do {
                    try File.rename(from, to: to, replacing: false)
                    errors.append(nil)
                } catch let error as IOError {
                    errors.append(error)
                }
            }
            return errors
        }
        XCTAssertNil(errors[0], "a free name is taken")
        XCTAssertEqual(FileManager.default.contents(atPath: directory + "/free.txt"), Data("one".utf8))
        XCTAssertFalse(FileManager.default.fileExists(atPath: first))
        let refused = try XCTUnwrap(errors[1], "renaming over a taken name without replacing succeeded")
        XCTAssertEqual(refused.errno, EEXIST)
        XCTAssertTrue(refused.description.contains(second) && refused.description.contains(taken), refused.description)
        XCTAssertEqual(FileManager.default.contents(atPath: taken), Data("kept".utf8))
        XCTAssertEqual(FileManager.default.contents(atPath: second), Data("two".utf8))
        XCTAssertEqual(errors[2]?.errno, ENOENT)
    }

    /// `remove` takes the name away (a descriptor still open reads on); removing it again is
    /// ENOENT naming the path, and a directory is refused.
    func testRemoveTakesTheNameAway() throws {
        let path = directory + "/gone.txt"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("still here".utf8)))
        try FileManager.default.createDirectory(atPath: directory + "/sub", withIntermediateDirectories: false)
        let directory = self.directory
        let (readAfterRemove, again, ofDirectory) = try onWorker { _ -> ([UInt8], IOError?, IOError?) in
            let open = try File.open(path)
            defer { try? open.close() }
            try File.remove(path)
            var again: IOError? = nil, ofDirectory: IOError? = nil
            do { try File.remove(path) } catch let error as IOError { again = error }
            do { try File.remove(directory + "/sub") } catch let error as IOError { ofDirectory = error }
            return (try open.readAll(), again, ofDirectory)
        }
        XCTAssertEqual(readAfterRemove, Array("still here".utf8))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(again?.errno, ENOENT)
        XCTAssertTrue(again?.description.contains(path) == true, "\(String(describing: again))")
        XCTAssertEqual(ofDirectory?.errno, EISDIR)
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/sub"))
    }
}
