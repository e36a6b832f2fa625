#if canImport(Glibc)
import Glibc
#endif
import Spindle
import SpindleFibers
import SpindleHTTP
import SpindleIO

/// Writes uploads into a directory, streamed and atomic, and removes them.
///
/// An upload goes to a temporary file in the directory (`.upload-<random>.part`: a dot name,
/// which no request can name or be served), one chunk at a time as the body arrives — read from
/// the connection into one reused buffer of `chunkBytes`, then written at its offset through
/// SpindleIO's `File` (an io_uring write, or the offload pool on epoll), so the body is never
/// held in memory whatever its size. Once the whole body is there the file is flushed to disk
/// (`File.synchronize`) and renamed over the name in one step: a reader sees the old file or
/// the new one, never a part. An upload that fails — a body over the limit (`413`), cut off by
/// the client, too slow (`408`), a full disk — removes its temporary file and leaves the name
/// as it was. (A process killed mid-upload leaves its `.part` file; nothing ever serves it.)
///
/// `Sendable`: immutable; every call runs in the request's fiber and parks it for file I/O.
public struct UploadStore: Sendable {
    /// The directory, canonical (as `StaticFiles` resolved it).
    public let directory: String
    /// The largest upload in bytes (`FilesConfiguration.maxUploadBytes`).
    public let maxBytes: Int
    /// Bytes read from the connection at a time (`FilesConfiguration.uploadChunkBytes`).
    public let chunkBytes: Int

    /// A store writing into `directory` (which must exist).
    public init(directory: String, maxBytes: Int, chunkBytes: Int) {
        self.directory = directory
        self.maxBytes = maxBytes
        self.chunkBytes = chunkBytes
    }

    /// What `store` did.
    public enum Outcome: Equatable, Sendable {
        /// The name was free: a new file of this many bytes.
        case created(bytes: Int)
        /// An existing file of that name was replaced by one of this many bytes.
        case replaced(bytes: Int)
    }

    /// Streams `body` into the file `name` (see the type): `.created` or `.replaced` with its
    /// size. Throws the body's `HTTPError` (`413` over `maxBytes`, `400` cut off, `408` too
    /// slow), `CancellationError` when the connection closed under it, or the `IOError` of a
    /// failed write; each time the temporary file is removed and the name left as it was.
    /// Parks the fiber for every read and write; allocates one `chunkBytes` buffer.
    public func store(_ name: UploadName, from body: RequestBody) throws -> Outcome {
        let target = directory + "/" + name.value
        let temporary = directory + "/.upload-" + String(UInt64.random(in: .min ... .max), radix: 16) + ".part"
        let file = try File.open(temporary, options: [.writeOnly, .create, .exclusive], permissions: 0o644)
        let size: Int
        do {
            size = try write(body, to: file)
            try file.synchronize()
            try file.close()
        } catch {
            Self.discard(temporary, closing: file)
            throw error
        }
        do {
            // Not replacing first, so that whether the name was free is learnt in the same step.
            try File.rename(temporary, to: target, replacing: false)
            return .created(bytes: size)
        } catch let error as IOError where error.errno == EEXIST {
            do {
                try File.rename(temporary, to: target)
                return .replaced(bytes: size)
            } catch {
                Self.discard(temporary, closing: nil)
                throw error
            }
        } catch {
            Self.discard(temporary, closing: nil)
            throw error
        }
    }

    /// Removes the file `name`: true when it was there, false when there was none. Throws the
    /// `IOError` of any other failure. Parks the fiber while the directory is updated.
    public func remove(_ name: UploadName) throws -> Bool {
        do {
            try File.remove(directory + "/" + name.value)
            return true
        } catch let error as IOError where error.errno == ENOENT {
            return false
        }
    }

    /// Copies the body to `file` chunk by chunk; returns its size. Counts the bytes itself as
    /// well: the route's body limit already stops a body past `maxBytes`, this keeps the store
    /// correct on a route registered without it.
    private func write(_ body: RequestBody, to file: File) throws -> Int {
        var chunk = [UInt8](repeating: 0, count: chunkBytes)
        var size = 0
        while true {
            let count = try body.read(into: &chunk)
            if count == 0 { return size }
            let (total, overflow) = size.addingReportingOverflow(count)
            guard !overflow, total <= maxBytes else { throw HTTPError(.contentTooLarge, "the upload is over \(maxBytes) bytes") }
            try file.write(chunk[0..<count], at: size)
            size = total
        }
    }

    /// Closes `file` (when given) and removes the temporary file at `path`. In a fiber that was
    /// cancelled (its connection closed under the upload) every file call would throw
    /// `CancellationError` before doing anything, so the cleanup runs in a fiber of its own.
    private static func discard(_ path: String, closing file: File?) {
        let cleanup = {
            try? file?.close()
            try? File.remove(path)
        }
        if Fiber.isCancelled {
            Fiber.spawnDetached(name: "upload cleanup", cleanup)
        } else {
            cleanup()
        }
    }
}
