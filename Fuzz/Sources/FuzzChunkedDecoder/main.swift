// libFuzzer target: HTTPChunkedDecoder on a chunked body (and whatever follows it). Three
// ways of decoding the same bytes must agree on the body, the bytes consumed and the ending:
// `decode` on the whole input, `decode` on two pieces split at a point chosen by the first two
// bytes, and `decodeInPlace` on a copy. Tight limits alternate with the defaults (first byte's
// low bit) so the size, line, extension and trailer limits are reached.
import FuzzSupport
import FuzzerDriver
import SpindleHTTP

private let tightLimits = HTTPLimits(maxRequestTargetLength: 64, maxHeaderBytes: 64, maxHeaderCount: 4,
                                     maxBodyBytes: 256, maxChunkLineLength: 12)

/// What decoding produced: the body, the input bytes used, and how it ended.
private struct Decoded: Equatable {
    var body: [UInt8] = []
    var consumed = 0
    var ending: Ending = .needMore
    enum Ending: Equatable { case needMore, end, error(HTTPParseError.Reason) }
}

/// Feeds `pieces` to one decoder with `decode`, as a connection would.
private func decodeStreaming(_ pieces: [ArraySlice<UInt8>], limits: HTTPLimits) -> Decoded {
    var decoder = HTTPChunkedDecoder(limits: limits)
    var result = Decoded()
    for piece in pieces {
        var rest = piece
        while true {
            let event = decoder.decode(rest)
            switch event {
            case .data(let range):
                invariant(!range.isEmpty && range.upperBound <= rest.count, "data \(range) of \(rest.count)")
                let start = rest.startIndex
                result.body += rest[(start + range.lowerBound)..<(start + range.upperBound)]
                result.consumed += range.upperBound
                rest = rest[(start + range.upperBound)...]
                continue
            case .needMore:
                result.consumed += rest.count
            case .end(let consumed):
                invariant(consumed >= 0 && consumed <= rest.count, "end consumed \(consumed) of \(rest.count)")
                invariant(decoder.isComplete, "ended but not complete")
                result.consumed += consumed
                result.ending = .end
            case .error(let error):
                result.ending = .error(error.reason)
                result.consumed = -1  // what an error consumed is unspecified: the connection closes
            }
            break
        }
        if result.ending != .needMore { break }
    }
    // bodyBytes sums the sizes declared so far: the data of the last chunk may still be coming.
    switch result.ending {
    case .end: invariant(decoder.bodyBytes == result.body.count, "ended: bodyBytes \(decoder.bodyBytes), body \(result.body.count)")
    case .needMore: invariant(decoder.bodyBytes >= result.body.count, "bodyBytes \(decoder.bodyBytes), body \(result.body.count)")
    case .error: break
    }
    invariant(!limits.bodyExceeds(result.body.count), "body of \(result.body.count) over the limit")
    return result
}

/// Decodes a copy of `input` in place in one call.
private func decodeCompacting(_ input: [UInt8], limits: HTTPLimits) -> Decoded {
    var decoder = HTTPChunkedDecoder(limits: limits)
    var copy = input
    var result = Decoded()
    copy.withUnsafeMutableBytes { buffer in
        do throws(HTTPParseError) {
            let decoded = try decoder.decodeInPlace(buffer)
            invariant(decoded.bodyBytes <= decoded.consumed && decoded.consumed <= buffer.count,
                      "in place: \(decoded) of \(buffer.count)")
            result.body = Array(buffer[0..<decoded.bodyBytes])
            result.consumed = decoded.consumed
            result.ending = decoded.isComplete ? .end : .needMore
        } catch {
            result.ending = .error(error.reason)
        }
    }
    if case .error = result.ending { return result }  // the buffer is garbage then: the connection closes
    invariant(Array(copy[result.consumed...]) == Array(input[result.consumed...]), "in place touched bytes after the body")
    return result
}

/// One fuzz input: runs the checks described at the top of this file; traps when one fails.
/// Returns 0 (libFuzzer's "keep going"). Allocates copies of the input.
// `@_cdecl`: libFuzzer's driver calls this C symbol once per input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChunkedDecoder(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = UnsafeRawBufferPointer(start: start.map(UnsafeRawPointer.init), count: count)
    let input = Array(data)
    let limits = (input.first ?? 0) & 1 == 0 ? HTTPLimits.default : tightLimits
    let split = splitPoint(of: data)
    // Skip the two bytes that chose the split (and the limits) when there are more.
    let body = input.count > 2 ? Array(input[2...]) : input
    let cut = min(split, body.count)
    let whole = decodeStreaming([body[...]], limits: limits)
    let pieces = decodeStreaming([body[..<cut], body[cut...]], limits: limits)
    invariant(whole == pieces, "split at \(cut): \(pieces) vs whole \(whole)")
    let compacted = decodeCompacting(body, limits: limits)
    switch (whole.ending, compacted.ending) {
    case (.error(let a), .error(let b)):
        invariant(a == b, "in place fails with \(b), streaming with \(a)")
    default:
        invariant(whole == compacted, "in place \(compacted) vs streaming \(whole)")
    }
    return 0
}

/// The program's entry: runs libFuzzer's driver (its command line) on this target until it is done.
// `@_cdecl`: SwiftPM links `main` to `FuzzChunkedDecoder_main`.
@_cdecl("FuzzChunkedDecoder_main")
public func fuzzChunkedDecoderMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, test: fuzzChunkedDecoder)
}
