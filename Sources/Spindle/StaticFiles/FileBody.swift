import SpindleIO

/// The body of a file response: `range` of an open file, read `chunkSize` bytes at a time.
///
/// Up to `chunkSize` bytes, it is read whole before the response is returned and sent with
/// `Content-Length` (for `HEAD`, a zeroed buffer of that length stands in, so the head says the
/// length a `GET` would get, and nothing is read). Larger, it becomes a streamed body that
/// reads and sends one chunk at a time: the memory a transfer holds is one `chunkSize` buffer
/// whatever the file's size. `Response` has no streamed body with a known length yet, so such
/// bodies go out chunked (close-delimited to HTTP/1.0 clients), and their `HEAD` says
/// `Transfer-Encoding: chunked` too.
///
/// The length is fixed when the response starts, from the file's status: a file that grows
/// meanwhile is sent to that length only (its validators described that much); a file that
/// shrinks ends the body early with `StaticFileChangedError`, which aborts the response (no
/// last chunk: the client sees the transfer fail, never a short body framed as complete) and
/// closes the connection.
struct FileBody {
    let opened: StaticFileRoot.Opened
    let range: Range<Int>
    let chunkSize: Int

    /// The body to put in the response; reads now when it is small (parks the fiber), and
    /// closes the file unless a streamed body still needs it (then that body closes it when
    /// done, or the file's deinit does if the body is never written). Throws read errors and
    /// `StaticFileChangedError` for a file that shrank.
    func body(isHEAD: Bool) throws -> Response.Body {
        if range.count <= chunkSize {
            defer { opened.close() }
            var bytes = [UInt8](repeating: 0, count: range.count)
            if !isHEAD { try read(into: &bytes) }
            return .bytes(bytes)
        }
        if isHEAD {
            opened.close()
            return .stream { _ in }
        }
        let (opened, range, chunkSize) = (self.opened, self.range, self.chunkSize)
        return .stream { writer in
            defer { opened.close() }
            var buffer = [UInt8](repeating: 0, count: chunkSize)
            var offset = range.lowerBound
            while offset < range.upperBound {
                let read = try opened.file.read(into: &buffer, at: offset)
                guard read > 0 else { throw StaticFileChangedError(expected: range, endedAt: offset) }
                let count = min(read, range.upperBound - offset)
                try writer.write(buffer[0..<count])
                offset += count
            }
        }
    }

    /// Fills `bytes` from `range.lowerBound`.
    private func read(into bytes: inout [UInt8]) throws {
        var filled = 0
        var chunk = [UInt8](repeating: 0, count: min(bytes.count, chunkSize))
        while filled < bytes.count {
            let read = try opened.file.read(into: &chunk, at: range.lowerBound + filled)
            guard read > 0 else { throw StaticFileChangedError(expected: range, endedAt: range.lowerBound + filled) }
            let count = min(read, bytes.count - filled)
            bytes.replaceSubrange(filled..<(filled + count), with: chunk[0..<count])
            filled += count
        }
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
