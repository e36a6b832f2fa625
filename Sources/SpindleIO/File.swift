import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// A file opened through the worker's I/O backend: open, positional read/write, `statx` and
/// close each park the calling fiber while the kernel works (io_uring), or while a thread of the
/// offload pool does (epoll), so file I/O never stalls the worker thread.
public final class File {
    /// The file descriptor (valid until `close()`).
    public let descriptor: Int32
    unowned(unsafe) let backend: any IOBackend
    private(set) var isClosed = false

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
        /// Opens without waiting: a FIFO with no writer (or a device that would block) opens at
        /// once instead of parking the open forever (`O_NONBLOCK`). `open` clears the flag again
        /// once the file is open, so reads and writes of regular files behave as usual; check
        /// `status()` before reading anything else. Cost: one `fcntl` after the open.
        public static let nonBlockingOpen = Options(rawValue: O_NONBLOCK)
    }

    /// What `status()` reports.
    public struct Status: Sendable {
        /// Size in bytes.
        public var size: Int
        /// Permission and type bits (`st_mode`).
        public var mode: UInt16
        /// Last modification, seconds since the epoch.
        public var modificationTime: Int64
        /// The nanoseconds of the last modification within its second (0 ..< 1,000,000,000).
        public var modificationNanoseconds: Int32
        /// The inode number (with `device`, the file's identity).
        public var inode: UInt64
        /// The device the file lives on.
        public var device: UInt64
        /// A status with these values (`status()` makes the real ones).
        public init(size: Int, mode: UInt16, modificationTime: Int64 = 0, modificationNanoseconds: Int32 = 0,
                    inode: UInt64 = 0, device: UInt64 = 0) {
            self.size = size
            self.mode = mode
            self.modificationTime = modificationTime
            self.modificationNanoseconds = modificationNanoseconds
            self.inode = inode
            self.device = device
        }

        /// True for a directory.
        public var isDirectory: Bool { mode_t(mode) & S_IFMT == S_IFDIR }
        /// True for a regular file (not a directory, FIFO, socket or device).
        public var isRegularFile: Bool { mode_t(mode) & S_IFMT == S_IFREG }
    }

    private init(descriptor: Int32, backend: any IOBackend) {
        self.descriptor = descriptor
        self.backend = backend
    }

    deinit {
        if !isClosed { Glibc.close(descriptor) }
    }

    /// Opens `path` (relative to the working directory) with `options`; `permissions` apply when
    /// creating. Throws `IOError` naming the path (e.g. `openat(/x): ENOENT`).
    public static func open(_ path: String, options: Options = .readOnly, permissions: UInt32 = 0o644) throws -> File {
        let backend = IOBackends.current("File.open")
        let fd = try backend.openFile(path, flags: options.rawValue | O_CLOEXEC, permissions: permissions)
        let file = File(descriptor: fd, backend: backend)
        if options.contains(.nonBlockingOpen) { try FileSyscalls.clearNonBlocking(fd) }
        return file
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many (0 at end of file).
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        misusePrecondition(!isClosed, "File.read after close()")
        return try backend.readFile(descriptor, into: buffer, at: offset)
    }

    /// Reads up to `bytes.count` bytes at `offset` into the start of `bytes` (the array keeps
    /// its count); returns how many (0 at end of file). Parks like `read(into:at:)`; no
    /// allocation when `bytes` is not shared.
    public func read(into bytes: inout [UInt8], at offset: Int) throws -> Int {
        try bytes.withUnsafeMutableBytes { try read(into: $0, at: offset) }
    }

    /// Reads the whole file from `offset` to its end (64 KiB at a time, appended to one array).
    public func readAll(from offset: Int = 0) throws -> [UInt8] {
        misusePrecondition(offset >= 0, "File.readAll(from: \(offset)): a file offset cannot be negative")
        var bytes: [UInt8] = []
        _ = try forEachChunk(of: offset..<Int.max) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Reads the bytes at `range` into one new array, resubmitting after short reads. The array
    /// is shorter than `range` when the file ends first (it holds the bytes up to the end).
    /// Parks the fiber for each read; allocates the array once, `range.count` bytes.
    public func read(_ range: Range<Int>) throws -> [UInt8] {
        misusePrecondition(range.lowerBound >= 0, "File.read(\(range)): a file offset cannot be negative")
        guard !range.isEmpty else { return [] }
        var bytes = [UInt8](repeating: 0, count: range.count)
        var filled = 0
        while filled < bytes.count {
            let read = try bytes.withUnsafeMutableBytes { buffer in
                try self.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]), at: range.lowerBound + filled)
            }
            if read == 0 {
                bytes.removeLast(bytes.count - filled)
                break
            }
            filled += min(read, bytes.count - filled)
        }
        return bytes
    }

    /// Reads the bytes at `range` in successive chunks of at most `chunkSize` bytes, in order,
    /// and hands each to `body` (valid only during the call); stops at the end of the file or
    /// of `range`. Returns how many bytes were handed over. Parks the fiber for each read;
    /// allocates one buffer of `min(range.count, chunkSize)` bytes. Errors of `body` end the
    /// reading and are rethrown.
    public func forEachChunk(of range: Range<Int>, chunkSize: Int = 64 << 10,
                             _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        misusePrecondition(chunkSize > 0, "File.forEachChunk needs a positive chunkSize, not \(chunkSize)")
        misusePrecondition(range.lowerBound >= 0, "File.forEachChunk(of: \(range)): a file offset cannot be negative")
        guard !range.isEmpty else { return 0 }
        var buffer = [UInt8](repeating: 0, count: min(range.count, chunkSize))
        var offset = range.lowerBound
        while offset < range.upperBound {
            let read = try self.read(into: &buffer, at: offset)
            guard read > 0 else { break }
            let count = min(read, range.upperBound - offset)
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            offset += count
        }
        return offset - range.lowerBound
    }

    /// Writes all of `bytes` at `offset`, resubmitting after short writes.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        misusePrecondition(!isClosed, "File.write after close()")
        var done = 0
        while done < bytes.count {
            let n = try backend.writeFile(descriptor, UnsafeRawBufferPointer(rebasing: bytes[done...]), at: offset + done)
            if n == 0 { throw IOError("write", errno: EIO) }
            done += n
        }
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    /// Writes all of `bytes` (a part of an array, such as the bytes a read filled) at
    /// `offset`: what a stream written to disk chunk by chunk calls with one reused buffer.
    /// Parks like `write(_:at:)`; no allocation, no copy.
    public func write(_ bytes: ArraySlice<UInt8>, at offset: Int) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    /// Flushes the file's data, and the metadata needed to read it back (its size), to the
    /// device (`fdatasync`): after it returns, a crash or power loss keeps what was written.
    /// Call it before renaming a newly written file into place. Parks the fiber until the
    /// device has the data (io_uring, or an offload thread on epoll): milliseconds to seconds
    /// on a disk, depending on how much is unwritten.
    public func synchronize() throws {
        misusePrecondition(!isClosed, "File.synchronize after close()")
        try backend.synchronizeFile(descriptor)
    }

    /// Size, mode and modification time (`statx`).
    public func status() throws -> Status {
        misusePrecondition(!isClosed, "File.status after close()")
        return try backend.statusOfFile(descriptor)
    }

    /// Closes the file through the backend (parks the fiber). Idempotent. In a cancelled fiber,
    /// which cannot park (the backend would throw `CancellationError` before closing anything),
    /// it closes the descriptor at once on the calling thread instead: a handler whose
    /// connection was reset still closes its files.
    public func close() throws {
        guard !isClosed else { return }
        isClosed = true
        if Fiber.currentCore("File.close").isCancelRequested {
            Glibc.close(descriptor)
            return
        }
        try backend.closeFile(descriptor)
    }
}
