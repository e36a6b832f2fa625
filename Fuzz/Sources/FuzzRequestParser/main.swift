// libFuzzer target: HTTPRequestParser and HTTPBodyDecoder over a byte stream (pipelined
// requests and their bodies). The input runs whole, then split in two at a point chosen by its
// first two bytes; both runs must give the same requests and the same ending. A second pair
// of runs uses tight limits so that every limit (target, head, field count, body, chunk line)
// is within the fuzzer's reach.
import FuzzSupport
import FuzzerDriver
import SpindleHTTP

private let tightLimits = HTTPLimits(maxRequestTargetLength: 64, maxHeaderBytes: 256, maxHeaderCount: 8,
                                     maxBodyBytes: 128, maxChunkLineLength: 16)

/// One fuzz input: runs the checks described at the top of this file; traps when one fails.
/// Returns 0 (libFuzzer's "keep going"). Allocates copies of the input.
// `@_cdecl`: libFuzzer's driver calls this C symbol once per input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestParser(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = UnsafeRawBufferPointer(start: start.map(UnsafeRawPointer.init), count: count)
    let input = Array(data)
    let split = splitPoint(of: data)
    for limits in [HTTPLimits.default, tightLimits] {
        let whole = RequestStream.run([input[...]], limits: limits)
        let pieces = RequestStream.run([input[..<split], input[split...]], limits: limits)
        invariant(whole == pieces, "split at \(split) gives \(pieces), whole gives \(whole)")
    }
    return 0
}

/// The program's entry: runs libFuzzer's driver (its command line) on this target until it is done.
// `@_cdecl`: SwiftPM links `main` to `FuzzRequestParser_main`.
@_cdecl("FuzzRequestParser_main")
public func fuzzRequestParserMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, test: fuzzRequestParser)
}
