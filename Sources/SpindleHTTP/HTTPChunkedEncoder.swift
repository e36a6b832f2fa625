import HTTPTypes

/// The chunked transfer coding for response bodies (RFC 9112 §7.1): `size-in-hex CRLF data
/// CRLF` per chunk, then `0 CRLF [trailers] CRLF`. Stateless; appends to an `HTTPOutputBuffer`.
public enum HTTPChunkedEncoder {
    /// Appends one chunk holding `data`. Empty data writes nothing (an empty chunk would end
    /// the body). Cost: a memcpy of the data plus ≤ 20 framing bytes; no allocation.
    public static func writeChunk(_ data: UnsafeRawBufferPointer, into buffer: inout HTTPOutputBuffer) {
        guard !data.isEmpty else { return }
        buffer.reserveAdditional(data.count + 20)
        buffer.append(hex: data.count)
        buffer.append("\r\n" as StaticString)
        buffer.append(data)
        buffer.append("\r\n" as StaticString)
    }

    /// The bytes that frame a chunk sent without copying its data (a vectored send of size
    /// line, data, `crlf`): writes `size-in-hex CRLF` for `count` (> 0) into `line` (at least
    /// `maxSizeLineLength` bytes) and returns its length. No allocation.
    public static func writeSizeLine(_ count: Int, into line: UnsafeMutableRawBufferPointer) -> Int {
        precondition(count > 0 && line.count >= maxSizeLineLength, "HTTPChunkedEncoder.writeSizeLine: a positive count and \(maxSizeLineLength) bytes of room")
        let digits = HTTPOutputBuffer.writeHex(count, to: line.baseAddress!)
        line[digits] = 0x0D
        line[digits + 1] = 0x0A
        return digits + 2
    }

    /// The most bytes `writeSizeLine` writes: 16 hex digits and CRLF.
    public static let maxSizeLineLength = 18

    /// The CRLF after a chunk's data, as bytes in static memory (valid for the process's life).
    public static var crlf: UnsafeRawBufferPointer {
        let text: StaticString = "\r\n"
        return UnsafeRawBufferPointer(start: text.utf8Start, count: 2)
    }

    /// Appends the last chunk and the end of the body: `0\r\n\r\n`. Cost: one memcpy.
    public static func writeLastChunk(into buffer: inout HTTPOutputBuffer) {
        buffer.append("0\r\n\r\n" as StaticString)
    }

    /// Appends the last chunk followed by trailer fields and the final CRLF. No allocation.
    public static func writeLastChunk(trailers: HTTPFields, into buffer: inout HTTPOutputBuffer) {
        buffer.append("0\r\n" as StaticString)
        var k = trailers.startIndex
        while k < trailers.endIndex {
            buffer.append(trailers[k])
            k += 1
        }
        buffer.append("\r\n" as StaticString)
    }
}
