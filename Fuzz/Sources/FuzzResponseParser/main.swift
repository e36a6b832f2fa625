// libFuzzer target: HTTPResponseParser (the HTTP client's response-head parser) on a response
// stream: interim 1xx heads, then a final head, each parsed in turn. The input runs whole and
// split in two at a point chosen by its first two bytes, for a GET and for a HEAD; both
// splits must give the same heads and the same ending. A complete head's length is within the
// input and the limits, and a HEAD response never has a body.
import FuzzSupport
import FuzzerDriver
import HTTPTypes
import SpindleHTTP

private let tightLimits = HTTPLimits(maxRequestTargetLength: 64, maxHeaderBytes: 256, maxHeaderCount: 8,
                                     maxBodyBytes: 128, maxChunkLineLength: 16)

/// A comparable record of one head.
private struct HeadRecord: Equatable {
    var version: HTTPVersion
    var status: Int
    var reason: String
    var fields: [String]
    var framing: HTTPResponseBodyFraming
    var keepAlive: Bool
    var length: Int
}

private enum Ending: Equatable { case incomplete, final, error(HTTPResponseParseError.Reason) }

private func run(_ pieces: [ArraySlice<UInt8>], method: HTTPRequest.Method, limits: HTTPLimits) -> ([HeadRecord], Ending) {
    var parser = HTTPResponseParser(limits: limits)
    var pending: [UInt8] = []
    var heads: [HeadRecord] = []
    for piece in pieces {
        pending.append(contentsOf: piece)
        while true {
            switch parser.parseHead(pending[...], requestMethod: method) {
            case .incomplete:
                break
            case .error(let error):
                return (heads, .error(error.reason))
            case .complete(let head, let consumed):
                invariant(consumed == head.length && consumed > 0 && consumed <= pending.count,
                          "consumed \(consumed), length \(head.length), of \(pending.count)")
                invariant(consumed <= limits.maxHeaderBytes + HTTPResponseParser.maxStatusLineLength + 2,
                          "head of \(consumed) bytes over the limits")
                if method == .head || head.isInterim { invariant(head.framing == .none, "a bodiless response with \(head.framing)") }
                heads.append(HeadRecord(version: head.version, status: head.status.code, reason: head.status.reasonPhrase,
                                        fields: head.headerFields.map { "\($0.name.rawName): \($0.value)" },
                                        framing: head.framing, keepAlive: head.keepAlive, length: head.length))
                pending.removeFirst(consumed)
                if head.isInterim && heads.count < 8 { continue }
                return (heads, .final)
            }
            break
        }
    }
    return (heads, .incomplete)
}

/// One fuzz input: runs the checks described at the top of this file; traps when one fails.
/// Returns 0 (libFuzzer's "keep going"). Allocates copies of the input.
// `@_cdecl`: libFuzzer's driver calls this C symbol once per input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResponseParser(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = UnsafeRawBufferPointer(start: start.map(UnsafeRawPointer.init), count: count)
    let input = Array(data)
    let split = splitPoint(of: data)
    for method in [HTTPRequest.Method.get, .head] {
        for limits in [HTTPLimits.default, tightLimits] {
            let whole = run([input[...]], method: method, limits: limits)
            let pieces = run([input[..<split], input[split...]], method: method, limits: limits)
            invariant(whole == pieces, "\(method) split at \(split): \(pieces) vs whole \(whole)")
        }
    }
    return 0
}

/// The program's entry: runs libFuzzer's driver (its command line) on this target until it is done.
// `@_cdecl`: SwiftPM links `main` to `FuzzResponseParser_main`.
@_cdecl("FuzzResponseParser_main")
public func fuzzResponseParserMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, test: fuzzResponseParser)
}
