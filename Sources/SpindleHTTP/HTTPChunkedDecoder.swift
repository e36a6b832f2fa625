/// What a body decoder found in the bytes it was given.
public enum HTTPBodyEvent: Hashable, Sendable {
    /// Body bytes at `input[range]`. Everything before `range.upperBound` is consumed: call
    /// again with `input[range.upperBound...]` (it may be empty) for more.
    case data(Range<Int>)
    /// All the input was consumed (framing only, or nothing), and the body is not finished:
    /// call again with the next bytes that arrive. Nothing needs to be kept.
    case needMore
    /// The body ended after `consumed` bytes of the input; the next pipelined request starts
    /// there. After the end, every call returns `.end(consumed: 0)`.
    case end(consumed: Int)
    /// The body is malformed or too large: answer `error.status` and close the connection.
    case error(HTTPParseError)
}

/// An incremental decoder for the chunked transfer coding (RFC 9112 §7.1).
///
/// Streaming and byte-resumable: input may be split anywhere (byte by byte too); partial
/// chunk-size lines live in the decoder's state, so a `.needMore` means every byte was used and
/// the caller keeps nothing. Data is yielded as slices of the input (`.data(range)`, zero copy)
/// or compacted in place (`decodeInPlace`). Chunk extensions are validated and ignored; the
/// trailer section is validated (like header fields) and discarded.
///
/// Strict: the size is `1*HEXDIG` (no `0x`, sign, or surrounding spaces; whitespace is only
/// allowed before a `;`), lines end with CRLF, data is followed by CRLF, sizes above 63 bits
/// are rejected. A value type of ~100 bytes; never allocates.
public struct HTTPChunkedDecoder: Sendable {
    @usableFromInline enum Phase: UInt8, Sendable {
        case sizeStart, size, sizeWhitespace, extension_, sizeLF, data, dataCR, dataLF
        case trailerLineStart, trailerName, trailerValue, trailerLF, endLF, done
    }

    /// The most body bytes (0: no limit); `HTTPBodyDecoder.changeBodyLimit` may change it.
    @usableFromInline var maxBodyBytes: Int
    @usableFromInline let maxLine: Int
    @usableFromInline let maxExtensionBytes: Int
    @usableFromInline let maxTrailerBytes: Int
    @usableFromInline let maxTrailerCount: Int
    @usableFromInline var phase = Phase.sizeStart
    @usableFromInline var size = 0
    @usableFromInline var remaining = 0
    @usableFromInline var lineLength = 0
    @usableFromInline var extensionBytes = 0
    @usableFromInline var trailerBytes = 0
    @usableFromInline var trailerCount = 0
    @usableFromInline var failure: HTTPParseError? = nil

    /// Body bytes decoded so far (the sum of the chunk sizes seen).
    public private(set) var bodyBytes = 0

    /// Creates a decoder enforcing `maxBodyBytes` (413), `maxChunkLineLength` (400),
    /// `maxHeaderBytes` for all extensions together (413) and for the trailers (431), and
    /// `maxHeaderCount` trailer fields (431). Cost: none (inlined: the server makes one per
    /// request, in place).
    @inlinable public init(limits: HTTPLimits = .default) {
        maxBodyBytes = limits.maxBodyBytes
        maxLine = limits.maxChunkLineLength
        maxExtensionBytes = limits.maxHeaderBytes
        maxTrailerBytes = limits.maxHeaderBytes
        maxTrailerCount = limits.maxHeaderCount
    }

    /// True once the last chunk and the trailer section have been decoded. Cost: a compare.
    @inlinable public var isComplete: Bool { phase == .done }

    /// Decodes from the start of `input`: returns the next slice of body data, or says that
    /// more input is needed, or where the body ended. Never allocates.
    public mutating func decode(_ input: UnsafeRawBufferPointer) -> HTTPBodyEvent {
        if let failure { return .error(failure) }
        if phase == .done { return .end(consumed: 0) }
        guard let base = input.baseAddress else { return .needMore }
        let p = base.assumingMemoryBound(to: UInt8.self)
        let end = input.count
        let table = ByteClass.table
        var i = 0
        while i < end {
            if phase == .data {
                let n = min(remaining, end - i)
                remaining -= n
                if remaining == 0 { phase = .dataCR }
                return .data(i..<(i + n))
            }
            let c = p[i]
            i += 1
            if let reason = step(c, table) {
                let error = HTTPParseError(reason)
                failure = error
                return .error(error)
            }
            if phase == .done { return .end(consumed: i) }
        }
        return .needMore
    }

    /// Decodes `buffer` in place: the body bytes found are moved to its front. Returns how many
    /// body bytes are now at `buffer[0..<bodyBytes]`, how many input bytes were consumed
    /// (`buffer[consumed...]` is untouched: the next request), and whether the body ended.
    /// Cost: one `memmove` per chunk found; no allocation.
    public mutating func decodeInPlace(_ buffer: UnsafeMutableRawBufferPointer) throws(HTTPParseError) -> HTTPInPlaceDecodeResult {
        try compactInPlace(buffer) { decode($0) }
    }

    /// One byte of framing (everything but chunk data).
    mutating func step(_ c: UInt8, _ table: UnsafePointer<UInt8>) -> HTTPParseError.Reason? {
        switch phase {
        case .sizeStart:
            guard let v = ByteClass.hexValue(c) else {
                return c == ASCII.lf ? .bareLineFeed : .invalidChunkSize
            }
            size = v
            lineLength = 1
            phase = .size
        case .size, .sizeWhitespace, .extension_:
            if c == ASCII.cr {
                // "5 \r\n": whitespace is allowed only before a ';' (BWS of chunk-ext).
                if phase == .sizeWhitespace { return .invalidChunkSize }
                phase = .sizeLF
                return nil
            }
            if c == ASCII.lf { return .bareLineFeed }
            lineLength += 1
            if lineLength > maxLine { return .chunkLineTooLong }
            switch phase {
            case .size:
                if let v = ByteClass.hexValue(c) {
                    guard size <= (Int.max >> 4) else { return .chunkSizeOverflow }
                    size = size << 4 | v
                } else if c == ASCII.semicolon {
                    phase = .extension_
                } else if table[Int(c)] & ByteClass.whitespace != 0 {
                    phase = .sizeWhitespace
                } else {
                    return .invalidChunkSize
                }
            case .sizeWhitespace:
                if c == ASCII.semicolon { phase = .extension_ }
                else if table[Int(c)] & ByteClass.whitespace == 0 { return .invalidChunkSize }
            default:
                extensionBytes += 1
                if extensionBytes > maxExtensionBytes { return .chunkExtensionsTooLarge }
                if table[Int(c)] & ByteClass.fieldValue == 0 { return .invalidChunkExtension }
            }
        case .sizeLF:
            guard c == ASCII.lf else { return .bareCarriageReturn }
            if size == 0 {
                phase = .trailerLineStart
                return nil
            }
            let (total, overflow) = bodyBytes.addingReportingOverflow(size)
            if overflow || (maxBodyBytes != 0 && total > maxBodyBytes) { return .contentTooLarge }
            bodyBytes = total
            remaining = size
            phase = .data
        case .data:
            preconditionFailure("chunk data is consumed by decode, not step")
        case .dataCR:
            guard c == ASCII.cr else { return .invalidChunkTerminator }
            phase = .dataLF
        case .dataLF:
            guard c == ASCII.lf else { return .invalidChunkTerminator }
            phase = .sizeStart
        case .trailerLineStart, .trailerName, .trailerValue, .trailerLF, .endLF:
            trailerBytes += 1
            if trailerBytes > maxTrailerBytes { return .trailerSectionTooLarge }
            return trailerStep(c, table)
        case .done:
            break
        }
        return nil
    }

    /// One byte of the trailer section: field lines validated like the head's, then CRLF.
    mutating func trailerStep(_ c: UInt8, _ table: UnsafePointer<UInt8>) -> HTTPParseError.Reason? {
        let cls = table[Int(c)]
        switch phase {
        case .trailerLineStart:
            if c == ASCII.cr { phase = .endLF }
            else if cls & ByteClass.token != 0 {
                trailerCount += 1
                if trailerCount > maxTrailerCount { return .trailerSectionTooLarge }
                phase = .trailerName
            } else if cls & ByteClass.whitespace != 0 { return .lineFolding }
            else { return c == ASCII.lf ? .bareLineFeed : .invalidFieldName }
        case .trailerName:
            if c == ASCII.colon { phase = .trailerValue }
            else if cls & ByteClass.token == 0 {
                if cls & ByteClass.whitespace != 0 { return .whitespaceBeforeColon }
                return c == ASCII.cr || c == ASCII.lf ? .missingColon : .invalidFieldName
            }
        case .trailerValue:
            if c == ASCII.cr { phase = .trailerLF }
            else if cls & ByteClass.fieldValue == 0 { return c == ASCII.lf ? .bareLineFeed : .invalidFieldValue }
        case .trailerLF:
            guard c == ASCII.lf else { return .bareCarriageReturn }
            phase = .trailerLineStart
        case .endLF:
            guard c == ASCII.lf else { return .bareCarriageReturn }
            phase = .done
        default:
            break
        }
        return nil
    }
}

/// The result of `decodeInPlace`.
public struct HTTPInPlaceDecodeResult: Hashable, Sendable {
    /// Body bytes now at the front of the buffer.
    public var bodyBytes: Int
    /// Input bytes used; the rest of the buffer was not touched.
    public var consumed: Int
    /// True when the body ended within the consumed bytes.
    public var isComplete: Bool
    /// Creates a result (decoders make these; public for tests and wrappers). Cost: none.
    public init(bodyBytes: Int, consumed: Int, isComplete: Bool) {
        self.bodyBytes = bodyBytes
        self.consumed = consumed
        self.isComplete = isComplete
    }
}

/// Runs `decode` over `buffer` until it needs more input or the body ends, moving each data
/// slice down to the front. Data never moves up (framing only shrinks), so memmove is safe.
func compactInPlace(_ buffer: UnsafeMutableRawBufferPointer,
                    _ decode: (UnsafeRawBufferPointer) -> HTTPBodyEvent) throws(HTTPParseError) -> HTTPInPlaceDecodeResult {
    var written = 0
    var offset = 0
    while true {
        let rest = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[offset...])
        switch decode(rest) {
        case .data(let range):
            let n = range.count
            if n > 0, offset + range.lowerBound != written {
                (buffer.baseAddress! + written).copyMemory(from: buffer.baseAddress! + offset + range.lowerBound, byteCount: n)
            }
            written += n
            offset += range.upperBound
        case .needMore:
            return HTTPInPlaceDecodeResult(bodyBytes: written, consumed: buffer.count, isComplete: false)
        case .end(let consumed):
            return HTTPInPlaceDecodeResult(bodyBytes: written, consumed: offset + consumed, isComplete: true)
        case .error(let error):
            throw error
        }
    }
}
