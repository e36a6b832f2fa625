// libFuzzer target: PercentEncoding (strict and lenient decoding, encoding) and
// QueryParameters (strict and lenient parsing, firstValue). Invariants:
// - strict decoding succeeds ⇒ lenient decoding gives the same bytes;
// - strict decoding fails only as documented: a bad escape at an offset holding `%`, or
//   (String decoding) invalid UTF-8;
// - encode then strict decode gives the bytes back, for every component;
// - a strictly parsed query, encoded again and reparsed, gives the same pairs, and
//   `firstValue` agrees with the parsed pairs on the first name.
import FuzzSupport
import FuzzerDriver
import SpindleHTTP

private let components: [PercentEncoding.Component] = [.pathSegment, .path, .formComponent]

private func checkDecoding(_ input: [UInt8], plusAsSpace: Bool) {
    let lenient = PercentEncoding.decodeLeniently(input, plusAsSpace: plusAsSpace)
    invariant(lenient.count <= input.count, "lenient decoding grew the input")
    do {
        let strict = try PercentEncoding.decode(input, plusAsSpace: plusAsSpace)
        invariant(strict == lenient, "strict \(strict) vs lenient \(lenient)")
    } catch {
        switch error {
        case .invalidEscape(let offset):
            invariant(offset >= 0 && offset < input.count && input[offset] == UInt8(ascii: "%"),
                      "invalid escape reported at \(offset) of \(input.count)")
        case .invalidUTF8:
            invariant(false, "byte decoding reported invalid UTF-8")
        }
    }
    let lenientString = PercentEncoding.decodeStringLeniently(input, plusAsSpace: plusAsSpace)
    if let strictString = try? PercentEncoding.decodeString(input, plusAsSpace: plusAsSpace) {
        invariant(strictString == lenientString, "strict string vs lenient string")
        invariant(Array(strictString.utf8) == lenient, "decoded string is not the decoded bytes")
    }
}

private func checkEncoding(_ input: [UInt8]) {
    for component in components {
        let encoded = Array(PercentEncoding.encode(input, for: component).utf8)
        invariant(encoded.allSatisfy { $0 < 0x80 }, "encoding is not ASCII")
        let decoded = try? PercentEncoding.decode(encoded, plusAsSpace: component == .formComponent)
        invariant(decoded == input, "\(component): encoded then decoded differs")
        if component == .pathSegment { invariant(!encoded.contains(UInt8(ascii: "/")), "a segment with a slash") }
    }
}

private func checkQuery(_ input: [UInt8]) {
    let limits = QueryParameters.Limits(maxCount: 64, maxBytes: 4096)
    let lenient = try? QueryParameters(parsing: input, decoding: .lenient, limits: limits)
    guard let strict = try? QueryParameters(parsing: input, decoding: .strict, limits: limits) else { return }
    invariant(lenient != nil, "strict parse succeeded, lenient failed")
    invariant(strict.count == lenient!.count, "strict and lenient pair counts differ")
    for i in strict.indices {
        invariant(strict[i] == lenient![i], "pair \(i) differs between strict and lenient")
    }
    let reparsed = try? QueryParameters(parsing: Array(strict.encoded.utf8), decoding: .strict, limits: .default)
    invariant(reparsed != nil, "the encoding of a parsed query does not parse")
    invariant(reparsed!.count == strict.count && zip(reparsed!, strict).allSatisfy { $0 == $1 }, "encode/reparse changed the pairs")
    if let first = strict.first {
        let found = try? QueryParameters.firstValue(named: first.name, in: input)
        invariant(found == strict.first(first.name), "firstValue disagrees with the parsed pairs")
    }
}

/// One fuzz input: runs the checks described at the top of this file; traps when one fails.
/// Returns 0 (libFuzzer's "keep going"). Allocates copies of the input.
// `@_cdecl`: libFuzzer's driver calls this C symbol once per input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPercentDecoding(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = Array(UnsafeRawBufferPointer(start: start.map(UnsafeRawPointer.init), count: count))
    checkDecoding(input, plusAsSpace: false)
    checkDecoding(input, plusAsSpace: true)
    checkEncoding(input)
    checkQuery(input)
    return 0
}

/// The program's entry: runs libFuzzer's driver (its command line) on this target until it is done.
// `@_cdecl`: SwiftPM links `main` to `FuzzPercentDecoding_main`.
@_cdecl("FuzzPercentDecoding_main")
public func fuzzPercentDecodingMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, test: fuzzPercentDecoding)
}
