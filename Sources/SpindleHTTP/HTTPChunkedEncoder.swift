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
