// Runs the response conformance table (HTTPResponseParserCases.swift): each case whole, split in
// two at every byte boundary, and byte by byte, with the head re-presented in a fresh array on
// every call (as a client compacting its receive buffer would). Then interim responses followed
// by the final one, and random input that must never trap.
import HTTPTypes
import SpindleHTTP
import XCTest

/// What the parser made of one input, comparable across splits.
private enum ResponseOutcome: Equatable, CustomStringConvertible {
    case head(status: Int, reason: String, version: HTTPVersion, fields: [String], framing: HTTPResponseBodyFraming, keepAlive: Bool, consumed: Int)
    case error(HTTPResponseParseError.Reason)
    case incomplete

    var description: String {
        switch self {
        case .head(let status, let reason, let version, let fields, let framing, let keepAlive, let consumed):
            return "\(status) \(reason.debugDescription) \(version) \(fields) \(framing) keepAlive=\(keepAlive) consumed=\(consumed)"
        case .error(let reason): return "error(\(reason))"
        case .incomplete: return "incomplete"
        }
    }
}

/// Feeds `pieces` one after another to one parser; the pending bytes move to a new array each call.
private func feed(_ pieces: [ArraySlice<UInt8>], method: HTTPRequest.Method, limits: HTTPLimits) -> ResponseOutcome {
    var parser = HTTPResponseParser(limits: limits)
    var pending: [UInt8] = []
    for piece in pieces {
        pending = Array(pending) + piece  // a fresh array: nothing may depend on the old storage
        switch parser.parseHead(pending[...], requestMethod: method) {
        case .incomplete:
            continue
        case .error(let error):
            return .error(error.reason)
        case .complete(let head, let consumed):
            return .head(status: head.status.code, reason: head.status.reasonPhrase, version: head.version,
                         fields: head.headerFields.map { "\($0.name): \($0.value)" }, framing: head.framing,
                         keepAlive: head.keepAlive, consumed: consumed)
        }
    }
    return .incomplete
}

final class HTTPResponseParserTests: XCTestCase {
    func testTableIsLargeCoversEveryReasonAndNamesAreUnique() {
        XCTAssertGreaterThanOrEqual(responseCases.count, 25)
        XCTAssertEqual(Set(responseCases.map(\.name)).count, responseCases.count, "duplicate case names")
        let reasons = Set(responseCases.compactMap { c -> HTTPResponseParseError.Reason? in
            if case .reject(let reason) = c.expect { return reason } else { return nil }
        })
        let untested = HTTPResponseParseError.Reason.allCases.filter { !reasons.contains($0) }
        XCTAssertEqual(untested, [], "every rejection reason has a conformance case")
    }

    func testAcceptedResponses() { run(acceptedResponses) }
    func testStatusLineRejections() { run(statusLineRejections) }
    func testFieldRejections() { run(responseFieldRejections) }
    func testFramingRejections() { run(responseFramingRejections) }
    func testLimits() { run(responseLimitCases) }

    private func run(_ cases: [ResponseCase], file: StaticString = #filePath, line: UInt = #line) {
        for c in cases {
            let whole = feed([c.input[...]], method: c.method, limits: c.limits)
            check(c, whole, "whole", file: file, line: line)
            for split in 1..<max(1, c.input.count) {
                let outcome = feed([c.input[..<split], c.input[split...]], method: c.method, limits: c.limits)
                XCTAssertEqual(outcome, whole, "\(c.name): split at \(split)", file: file, line: line)
            }
            let bytewise = feed(c.input.indices.map { c.input[$0...$0] }, method: c.method, limits: c.limits)
            XCTAssertEqual(bytewise, whole, "\(c.name): byte by byte", file: file, line: line)
        }
    }

    private func check(_ c: ResponseCase, _ outcome: ResponseOutcome, _ how: String, file: StaticString, line: UInt) {
        let label = "\(c.name) (\(how)): got \(outcome)"
        switch c.expect {
        case .incomplete:
            XCTAssertEqual(outcome, .incomplete, label, file: file, line: line)
        case .reject(let reason):
            XCTAssertEqual(outcome, .error(reason), label, file: file, line: line)
        case .accept(let want):
            guard case .head(let status, let reason, let version, let fields, let framing, let keepAlive, let consumed) = outcome else {
                return XCTFail(label, file: file, line: line)
            }
            XCTAssertEqual(status, want.status, label, file: file, line: line)
            XCTAssertEqual(framing, want.framing, label, file: file, line: line)
            XCTAssertEqual(keepAlive, want.keepAlive, label, file: file, line: line)
            XCTAssertEqual(consumed, c.input.count, "\(label): consumed", file: file, line: line)
            if let wanted = want.reason { XCTAssertEqual(reason, wanted, label, file: file, line: line) }
            if let wanted = want.version { XCTAssertEqual(version, wanted, label, file: file, line: line) }
            if let wanted = want.fields { XCTAssertEqual(fields, wanted, label, file: file, line: line) }
        }
    }

    func testInterimResponsesAreFollowedByTheFinalOneInTheSameBytes() {
        let bytes = Array("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok".utf8)
        var parser = HTTPResponseParser()
        var offset = 0
        var statuses: [Int] = []
        while true {
            guard case .complete(let head, let consumed) = parser.parseHead(bytes[offset...], requestMethod: .post) else {
                return XCTFail("expected a head at \(offset)")
            }
            statuses.append(head.status.code)
            offset += consumed
            if !head.isInterim {
                XCTAssertEqual(head.framing, .contentLength(2))
                break
            }
        }
        XCTAssertEqual(statuses, [100, 103, 201])
        XCTAssertEqual(Array(bytes[offset...]), Array("ok".utf8))
    }

    func testAnErrorIsStickyUntilReset() {
        var parser = HTTPResponseParser()
        let bad = Array("HTTP/1.1 200 OK\nX".utf8)
        guard case .error(let first) = parser.parseHead(bad[...], requestMethod: .get) else { return XCTFail("expected an error") }
        guard case .error(let second) = parser.parseHead(Array("HTTP/1.1 200 OK\r\n\r\n".utf8)[...], requestMethod: .get) else {
            return XCTFail("the error must stick")
        }
        XCTAssertEqual(first, second)
        parser.reset()
        guard case .complete(let head, _) = parser.parseHead(Array("HTTP/1.1 200 OK\r\n\r\n".utf8)[...], requestMethod: .get) else {
            return XCTFail("a reset parser parses again")
        }
        XCTAssertEqual(head.status.code, 200)
    }

    /// Random bytes, and random mutations of valid heads, fed in random pieces: every call
    /// returns (no trap), and an input's outcome does not depend on how it was split.
    func testRandomInputNeverTrapsAndIsSplitIndependent() {
        var seed: UInt64 = 0x5EED_0F_C11E47
        func next() -> UInt64 {
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D4_9BB1_33A1_11EB
            return z ^ (z >> 31)
        }
        let seeds = acceptedResponses.map(\.input)
        let alphabet = Array("HTP/1.0 23456789\r\n:,;-\t chunkedContent-LengthTransfer-Encoding".utf8) + [0, 0x7F, 0xFF]
        var outcomes = [0, 0, 0]
        for round in 0..<3000 {
            var input: [UInt8]
            if round % 3 == 0 {
                input = (0..<Int(next() % 120)).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }
            } else {
                input = seeds[Int(next() % UInt64(seeds.count))]
                for _ in 0..<Int(1 + next() % 4) where !input.isEmpty {
                    input[Int(next() % UInt64(input.count))] = alphabet[Int(next() % UInt64(alphabet.count))]
                }
            }
            let limits = HTTPLimits(maxHeaderBytes: 2 + Int(next() % 200), maxHeaderCount: 1 + Int(next() % 6))
            let whole = feed([input[...]], method: .get, limits: limits)
            var pieces: [ArraySlice<UInt8>] = []
            var at = 0
            while at < input.count {
                let n = min(input.count - at, 1 + Int(next() % 7))
                pieces.append(input[at..<(at + n)])
                at += n
            }
            XCTAssertEqual(feed(pieces, method: .get, limits: limits), whole, "input \(input)")
            switch whole {
            case .head: outcomes[0] += 1
            case .error: outcomes[1] += 1
            case .incomplete: outcomes[2] += 1
            }
        }
        XCTAssertGreaterThan(outcomes[0], 0, "some mutated heads still parse")
        XCTAssertGreaterThan(outcomes[1], 0, "some inputs are rejected")
    }
}
