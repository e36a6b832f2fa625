// libFuzzer target: WebSocketFrameHeader.parse (as a server, masked, and as a client,
// unmasked), unmask, and UTF8Validator. Invariants: a parsed header fits in the input and
// within the limit, and every shorter prefix of it is `.incomplete`; unmasking twice gives the
// payload back, in one piece or two; the validator accepts exactly what Swift's own UTF-8
// decoding accepts, fed whole or split.
import FuzzSupport
import FuzzerDriver
import SpindleHTTP

private let maxPayload = 1 << 16

private func checkHeader(_ data: UnsafeRawBufferPointer, requireMask: Bool) {
    let parsed = WebSocketFrameHeader.parse(data, maxPayload: maxPayload, requireMask: requireMask)
    guard case .header(let header) = parsed else { return }
    invariant(header.headerLength >= 2 && header.headerLength <= 14 && header.headerLength <= data.count,
              "header length \(header.headerLength) of \(data.count)")
    invariant(header.payloadLength >= 0 && header.payloadLength <= maxPayload, "payload length \(header.payloadLength)")
    invariant(!requireMask || header.maskingKey != nil, "an unmasked frame passed requireMask")
    if header.opcode.isControl { invariant(header.isFinal && header.payloadLength <= 125, "bad control frame passed") }
    for shorter in 0..<header.headerLength {
        let prefix = WebSocketFrameHeader.parse(UnsafeRawBufferPointer(rebasing: data[0..<shorter]),
                                                maxPayload: maxPayload, requireMask: requireMask)
        invariant(prefix == .incomplete, "prefix of \(shorter) bytes gives \(prefix)")
    }
    // The payload present after the header, unmasked in two pieces, must equal one-piece
    // unmasking, and masking again restores it.
    guard let key = header.maskingKey else { return }
    let available = min(header.payloadLength, data.count - header.headerLength)
    let original = Array(data[header.headerLength..<(header.headerLength + available)])
    var whole = original
    whole.withUnsafeMutableBytes { WebSocketFrameHeader.unmask($0, key: key) }
    var pieces = original
    let cut = available / 2
    pieces.withUnsafeMutableBytes { buffer in
        WebSocketFrameHeader.unmask(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<cut]), key: key)
        WebSocketFrameHeader.unmask(UnsafeMutableRawBufferPointer(rebasing: buffer[cut...]), key: key, position: cut)
    }
    invariant(whole == pieces, "unmasking in two pieces differs")
    whole.withUnsafeMutableBytes { WebSocketFrameHeader.unmask($0, key: key) }
    invariant(whole == original, "unmasking twice does not restore the payload")
}

private func checkUTF8(_ data: UnsafeRawBufferPointer) {
    let expected = String(validating: data, as: UTF8.self) != nil
    var whole = UTF8Validator()
    let wholeValid = whole.consume(data) && whole.isComplete
    invariant(wholeValid == expected, "validator says \(wholeValid), Swift says \(expected)")
    let cut = splitPoint(of: data)
    var split = UTF8Validator()
    let splitValid = split.consume(UnsafeRawBufferPointer(rebasing: data[0..<cut]))
        && split.consume(UnsafeRawBufferPointer(rebasing: data[cut...])) && split.isComplete
    invariant(splitValid == expected, "validator split at \(cut) says \(splitValid), Swift says \(expected)")
}

/// One fuzz input: runs the checks described at the top of this file; traps when one fails.
/// Returns 0 (libFuzzer's "keep going"). Allocates copies of the input.
// `@_cdecl`: libFuzzer's driver calls this C symbol once per input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocketFrame(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = UnsafeRawBufferPointer(start: start.map(UnsafeRawPointer.init), count: count)
    checkHeader(data, requireMask: true)
    checkHeader(data, requireMask: false)
    checkUTF8(data)
    return 0
}

/// The program's entry: runs libFuzzer's driver (its command line) on this target until it is done.
// `@_cdecl`: SwiftPM links `main` to `FuzzWebSocketFrame_main`.
@_cdecl("FuzzWebSocketFrame_main")
public func fuzzWebSocketFrameMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, test: fuzzWebSocketFrame)
}
