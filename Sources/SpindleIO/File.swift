import CSpindle
import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// A file opened through io_uring: open, positional read/write, `statx` and close each park the
/// calling fiber while the kernel works (file I/O never stalls the worker thread).
public final class File {
    /// The file descriptor (valid until `close()`).
    public let descriptor: Int32
    unowned(unsafe) let reactor: Reactor
    private var isClosed = false

    /// How to open a file.
    public struct Options: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let readOnly = Options([])
        public static let writeOnly = Options(rawValue: O_WRONLY)
        public static let readWrite = Options(rawValue: O_RDWR)
        public static let create = Options(rawValue: O_CREAT)
        public static let truncate = Options(rawValue: O_TRUNC)
        public static let append = Options(rawValue: O_APPEND)
        public static let exclusive = Options(rawValue: O_EXCL)
    }

    /// What `status()` reports.
    public struct Status: Sendable {
        /// Size in bytes.
        public var size: Int
        /// Permission and type bits (`st_mode`).
        public var mode: UInt16
        /// Last modification, seconds since the epoch.
        public var modificationTime: Int64
        /// True for a directory.
        public var isDirectory: Bool { Int32(mode) & S_IFMT == S_IFDIR }
    }

    private init(descriptor: Int32, reactor: Reactor) {
        self.descriptor = descriptor
        self.reactor = reactor
    }

    deinit {
        if !isClosed { Glibc.close(descriptor) }
    }

    /// Opens `path` (relative to the working directory) with `options`; `permissions` apply when
    /// creating. Throws `IOError` naming the path (e.g. `openat(/x): ENOENT`).
    public static func open(_ path: String, options: Options = .readOnly, permissions: UInt32 = 0o644) throws -> File {
        let reactor = Reactor.current("File.open")
        let fd: Int32 = try path.withCString { cPath in
            try reactor.perform("openat(\(path))") { sqe in
                io_uring_prep_openat(sqe, AT_FDCWD, cPath, options.rawValue | O_CLOEXEC, permissions)
            }.result
        }
        return File(descriptor: fd, reactor: reactor)
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many (0 at end of file).
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        misusePrecondition(!isClosed, "File.read after close()")
        let fd = descriptor
        return Int(try reactor.perform("read") { sqe in
            io_uring_prep_read(sqe, fd, buffer.baseAddress, UInt32(clamping: buffer.count), UInt64(offset))
        }.result)
    }

    /// Reads the whole file from `offset` to its end.
    public func readAll(from offset: Int = 0) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var position = offset
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0, at: position) }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
            position += n
        }
    }

    /// Writes all of `bytes` at `offset`, resubmitting after short writes.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        misusePrecondition(!isClosed, "File.write after close()")
        var done = 0
        let fd = descriptor
        while done < bytes.count {
            let n = try reactor.perform("write") { sqe in
                io_uring_prep_write(sqe, fd, bytes.baseAddress! + done, UInt32(clamping: bytes.count - done), UInt64(offset + done))
            }.result
            if n == 0 { throw IOError("write", errno: EIO) }
            done += Int(n)
        }
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    /// Size, mode and modification time (`statx`).
    public func status() throws -> Status {
        let fd = descriptor
        let decoded = try withUnsafeTemporaryAllocation(byteCount: Int(SPINDLE_STATX_BUFFER_SIZE), alignment: 16) { buffer in
            _ = try reactor.perform("statx") { sqe in spindle_prep_statx_fd(sqe, fd, buffer.baseAddress) }
            return spindle_statx_decode(buffer.baseAddress)
        }
        return Status(size: Int(decoded.size), mode: UInt16(truncatingIfNeeded: decoded.mode),
                      modificationTime: decoded.modification_seconds)
    }

    /// Closes the file through the ring. Idempotent.
    public func close() throws {
        guard !isClosed else { return }
        isClosed = true
        let fd = descriptor
        _ = try reactor.perform("close") { sqe in io_uring_prep_close(sqe, fd) }
    }
}
