// The conformance driver: plays the server's part. It keeps unconsumed bytes in a buffer,
// hands the parser the incomplete head again (copied to a fresh address each time, as a server
// compacting its buffer would), feeds body bytes to HTTPBodyDecoder, and records what came out.
// Running the same input whole, split at every byte boundary and byte by byte must give the
// same Outcome.
import HTTPTypes
import SpindleHTTP
import XCTest

/// What the parser reported about one request (Strings made after the fact, for comparison).
struct ParsedRequest: Equatable, CustomStringConvertible {
    var method: String
    var target: String
    /// The target up to its first `?` (`HTTPRequestHead.targetBeforeQuery`, from the offset
    /// the parser noted): compared on every parse path like the rest.
    var targetBeforeQuery: String
    /// What follows the target's first `?` (`HTTPRequestHead.queryBytes`), nil without one.
    var query: String?
    var version: HTTPVersion
    var form: HTTPRequestTargetForm
    var fields: [String]  // "name: value" as views, received case
    var host: String?
    var framing: HTTPBodyFraming
    var keepAlive: Bool
    var expectsContinue: Bool
    var headLength: Int
    var body: [UInt8] = []
    var wireLength = 0  // head + body framing, as consumed

    init(_ head: HTTPRequestHead) {
        method = head.methodString
        target = head.targetString
        targetBeforeQuery = String(decoding: head.targetBeforeQuery, as: UTF8.self)
        query = head.queryBytes.map { String(decoding: $0, as: UTF8.self) }
        version = head.version
        form = head.targetForm
        fields = head.fields.map { "\($0.nameString): \($0.valueString)" }
        host = head.hostBytes.map { String(decoding: $0, as: UTF8.self) }
        framing = head.framing
        keepAlive = head.keepAlive
        expectsContinue = head.expectsContinue
        headLength = head.length
    }

    var description: String {
        "\(method) \(target) \(version) \(form) fields=\(fields) framing=\(framing) keepAlive=\(keepAlive) continue=\(expectsContinue) body=\(String(decoding: body, as: UTF8.self).debugDescription) head=\(headLength) wire=\(wireLength)"
    }
}

/// How the byte stream ended.
enum Ending: Equatable {
    case idle
    case incompleteHead
    case incompleteBody
    case error(HTTPParseError.Reason)
}

struct Outcome: Equatable {
    var requests: [ParsedRequest] = []
    var ending: Ending = .idle
}

enum Driver {
    /// Feeds `pieces` one after another, as reads from a socket would deliver them.
    static func run(_ pieces: [ArraySlice<UInt8>], limits: HTTPLimits) -> Outcome {
        var parser = HTTPRequestParser(limits: limits)
        var pending: [UInt8] = []
        var decoder: HTTPBodyDecoder? = nil
        var current: ParsedRequest? = nil
        var outcome = Outcome()
        var consumedTotal = 0
        var requestStart = 0
        for piece in pieces {
            pending.append(contentsOf: piece)
            feeding: while true {
                if decoder == nil {
                    enum HeadStep { case incomplete, error(HTTPParseError), complete(ParsedRequest, Int) }
                    let step: HeadStep = pending.withUnsafeBytes { source in
                        // A fresh address every call: the parser must not keep pointers.
                        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 1)
                        defer {
                            copy.initializeMemory(as: UInt8.self, repeating: 0xEE)  // poison
                            copy.deallocate()
                        }
                        copy.copyMemory(from: source)
                        switch parser.parseHead(UnsafeRawBufferPointer(rebasing: copy[0..<source.count])) {
                        case .incomplete: return .incomplete
                        case .error(let e): return .error(e)
                        case .complete(let head, let consumed): return .complete(ParsedRequest(head), consumed)
                        }
                    }
                    switch step {
                    case .incomplete:
                        break feeding
                    case .error(let e):
                        XCTAssertTrue(e.closesConnection)
                        outcome.ending = .error(e.reason)
                        return outcome
                    case .complete(let request, let consumed):
                        XCTAssertEqual(request.headLength, consumed)
                        requestStart = consumedTotal
                        consumedTotal += consumed
                        pending.removeFirst(consumed)
                        current = request
                        decoder = HTTPBodyDecoder(framing: request.framing, limits: limits)
                    }
                }
                let event = pending.withUnsafeBytes { decoder!.decode($0) }
                switch event {
                case .data(let range):
                    XCTAssertFalse(range.isEmpty, "a data event carries bytes")
                    current!.body += pending[range]
                    consumedTotal += range.upperBound
                    pending.removeFirst(range.upperBound)
                case .needMore:
                    consumedTotal += pending.count
                    pending.removeAll()
                    break feeding
                case .end(let consumed):
                    consumedTotal += consumed
                    pending.removeFirst(consumed)
                    current!.wireLength = consumedTotal - requestStart
                    outcome.requests.append(current!)
                    current = nil
                    decoder = nil
                case .error(let e):
                    outcome.ending = .error(e.reason)
                    return outcome
                }
            }
        }
        if decoder != nil { outcome.ending = .incompleteBody }
        else if parser.bytesScanned > 0 || !pending.isEmpty { outcome.ending = .incompleteHead }
        return outcome
    }

    static func whole(_ input: [UInt8], limits: HTTPLimits) -> Outcome { run([input[...]], limits: limits) }

    /// Runs `input` whole, split in two at every boundary, and byte by byte; fails unless every
    /// run gives the whole run's outcome. Returns that outcome.
    static func everySplit(_ input: [UInt8], limits: HTTPLimits, name: String,
                           file: StaticString = #filePath, line: UInt = #line) -> Outcome {
        let reference = whole(input, limits: limits)
        for k in 1..<max(input.count, 1) {
            let split = run([input[..<k], input[k...]], limits: limits)
            if split != reference {
                XCTFail("\(name): split at \(k) gives \(split), whole gives \(reference)", file: file, line: line)
                return reference
            }
        }
        let bytewise = run(input.indices.map { input[$0...$0] }, limits: limits)
        XCTAssertEqual(bytewise, reference, "\(name): byte-by-byte differs from whole", file: file, line: line)
        return reference
    }
}

/// The bytes of a string (UTF-8).
func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
