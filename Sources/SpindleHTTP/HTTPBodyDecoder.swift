/// Delimits (and for chunked, decodes) a request body, whatever its framing: one loop in the
/// server for `Content-Length`, chunked and body-less requests.
///
/// Feed it the bytes after the head (`input[consumed...]` of `parseHead`), then each new read.
/// It yields body slices (`.data`), asks for more (`.needMore`: everything was consumed), or
/// reports the end and where the next pipelined request starts (`.end(consumed:)`). The
/// `Content-Length` limit was checked by the head parser; chunked bodies are checked as they
/// arrive. A value type; never allocates.
public struct HTTPBodyDecoder: Sendable {
    @usableFromInline var remaining: Int
    @usableFromInline let isChunked: Bool
    @usableFromInline var chunked: HTTPChunkedDecoder

    /// A decoder for a body with this framing. Cost: none (inlined, as the chunked decoder's).
    @inlinable public init(framing: HTTPBodyFraming, limits: HTTPLimits = .default) {
        switch framing {
        case .none: remaining = 0; isChunked = false
        case .contentLength(let n): remaining = n; isChunked = false
        case .chunked: remaining = 0; isChunked = true
        }
        chunked = HTTPChunkedDecoder(limits: limits)
    }

    /// Makes `maxBodyBytes` (0: no limit) the limit a chunked body is checked against from now
    /// on (a route with its own body limit); bytes already decoded count towards it. A
    /// `Content-Length` body's limit is checked by whoever read its head. Cost: none.
    package mutating func changeBodyLimit(_ maxBodyBytes: Int) {
        chunked.maxBodyBytes = maxBodyBytes
    }

    /// True once the whole body has been delivered. Cost: a compare or two (inlined: the server
    /// asks after every response, and a call would copy the decoder to pass it).
    @inlinable public var isComplete: Bool { isChunked ? chunked.isComplete : remaining == 0 }

    /// Body bytes still expected for a `Content-Length` body; nil for chunked. Cost: none.
    public var remainingLength: Int? { isChunked ? nil : remaining }

    /// The next event for `input` (see `HTTPBodyEvent`). Never allocates.
    public mutating func decode(_ input: UnsafeRawBufferPointer) -> HTTPBodyEvent {
        if isChunked { return chunked.decode(input) }
        if remaining == 0 { return .end(consumed: 0) }
        if input.isEmpty { return .needMore }
        let n = min(remaining, input.count)
        remaining -= n
        return .data(0..<n)
    }

    /// Decodes `buffer` in place (see `HTTPChunkedDecoder.decodeInPlace`); for a
    /// `Content-Length` body nothing moves. Cost: a `memmove` per chunk; no allocation.
    public mutating func decodeInPlace(_ buffer: UnsafeMutableRawBufferPointer) throws(HTTPParseError) -> HTTPInPlaceDecodeResult {
        try compactInPlace(buffer) { decode($0) }
    }
}
