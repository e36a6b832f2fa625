import SpindleIO

/// The body of a file response: `range` of an open file.
///
/// Up to `chunkSize` bytes, it is read whole before the response is returned. Larger, it
/// becomes a `sizedStream` body whose bytes the kernel moves from the page cache to the socket
/// (`BodyWriter.write(contentsOf:range:)`: `sendfile` or `splice`, no copy through user space
/// and no buffer; a file the kernel cannot splice is read and sent 64 KiB at a time). Both go
/// out with `Content-Length`; for `HEAD` nothing is read and the head says the length a `GET`
/// would get.
///
/// The length is fixed when the response starts, from the file's status: a file that grows
/// meanwhile is sent to that length only (its validators described that much); a file that
/// shrinks ends the body early with `StaticFileChangedError`, which aborts the response (the
/// connection closes short of `Content-Length`: the client sees the transfer fail, never a
/// short body framed as complete).
struct FileBody {
    let opened: StaticFileRoot.Opened
    let range: Range<Int>
    let chunkSize: Int

    /// The body to put in the response; reads now when it is small (parks the fiber), and
    /// closes the file unless a streamed body still needs it (then that body closes it when
    /// done, or the file's deinit does if the body is never written). Throws read errors and
    /// `StaticFileChangedError` for a file that shrank.
    func body(isHEAD: Bool) throws -> Response.Body {
        if isHEAD {
            opened.close()
            return .sizedStream(length: range.count) { _ in }
        }
        if range.count <= chunkSize {
            defer { opened.close() }
            let bytes = try opened.file.read(range)
            guard bytes.count == range.count else {
                throw StaticFileChangedError(expected: range, endedAt: range.lowerBound + bytes.count)
            }
            return .bytes(bytes)
        }
        let (opened, range) = (self.opened, self.range)
        return .sizedStream(length: range.count) { writer in
            defer { opened.close() }
            let sent = try writer.write(contentsOf: opened.file, range: range)
            guard sent == range.count else { throw StaticFileChangedError(expected: range, endedAt: range.lowerBound + sent) }
        }
    }

    /// The whole of a regular file, `opened.status.size` bytes (parks the fiber for the reads).
    /// Throws read errors and `StaticFileChangedError` for a file that shrank.
    static func readWhole(_ opened: StaticFileRoot.Opened) throws -> [UInt8] {
        let size = opened.status.size
        let bytes = try opened.file.read(0..<size)
        guard bytes.count == size else { throw StaticFileChangedError(expected: 0..<size, endedAt: bytes.count) }
        return bytes
    }
}

/// A file became shorter while `StaticFiles` was sending it: the response cannot be completed
/// with the length it started with, so it is aborted.
public struct StaticFileChangedError: Error, CustomStringConvertible, Sendable {
    /// The bytes the response was to carry.
    public let expected: Range<Int>
    /// Where the file ended.
    public let endedAt: Int

    public var description: String {
        "StaticFiles: the file ended at byte \(endedAt) while bytes \(expected.lowerBound)..<\(expected.upperBound) were being sent (it shrank); response aborted"
    }
}
