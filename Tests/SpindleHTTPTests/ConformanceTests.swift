// Runs the conformance table (ConformanceCases.swift): each case whole, split in two at every
// byte boundary, and byte by byte, with the head re-presented at a new address on every call.
import HTTPTypes
import SpindleHTTP
import XCTest

final class ConformanceTests: XCTestCase {
    func testTableIsLargeAndNamesAreUnique() {
        XCTAssertGreaterThanOrEqual(conformanceCases.count, 40)
        XCTAssertEqual(Set(conformanceCases.map(\.name)).count, conformanceCases.count, "duplicate case names")
        let rejections = conformanceCases.filter { if case .reject = $0.expect { return true } else { return false } }
        let reasons = Set(rejections.compactMap { c -> HTTPParseError.Reason? in
            if case .reject(let r, _) = c.expect { return r } else { return nil }
        })
        let untested = HTTPParseError.Reason.allCases.filter { !reasons.contains($0) }
        XCTAssertEqual(untested, [], "every rejection reason has a conformance case")
        print("conformance: \(conformanceCases.count) cases (\(rejections.count) rejections, \(reasons.count) reasons)")
    }

    func testAcceptedRequests() { run(acceptedCases) }
    func testRequestLineRejections() { run(requestLineRejections) }
    func testFieldRejections() { run(fieldRejections) }
    func testFramingRejections() { run(framingRejections) }
    func testSmugglingAttempts() { run(smugglingCases) }
    func testChunkedBodies() { run(chunkedCases) }
    func testLimits() { run(limitCases) }

    private func run(_ cases: [ConformanceCase], file: StaticString = #filePath, line: UInt = #line) {
        for c in cases { check(c, file: file, line: line) }
    }

    private func check(_ c: ConformanceCase, file: StaticString, line: UInt) {
        let outcome = Driver.everySplit(c.input, limits: c.limits, name: c.name, file: file, line: line)
        let label = "\(c.name): got \(outcome)"
        switch c.expect {
        case .reject(let reason, let status):
            XCTAssertEqual(outcome.ending, .error(reason), label, file: file, line: line)
            XCTAssertEqual(reason.status.code, status, "\(c.name): status of \(reason)", file: file, line: line)
            XCTAssertEqual(outcome.requests.count, 0, label, file: file, line: line)
        case .incompleteHead:
            XCTAssertEqual(outcome.ending, .incompleteHead, label, file: file, line: line)
            XCTAssertEqual(outcome.requests.count, 0, label, file: file, line: line)
        case .incompleteBody:
            XCTAssertEqual(outcome.ending, .incompleteBody, label, file: file, line: line)
            XCTAssertEqual(outcome.requests.count, 0, label, file: file, line: line)
        case .accept(let want):
            XCTAssertEqual(outcome.ending, .idle, label, file: file, line: line)
            guard outcome.requests.count == 1, let r = outcome.requests.first else {
                XCTFail("\(label): expected one request", file: file, line: line)
                return
            }
            XCTAssertEqual(r.wireLength, c.input.count, "\(c.name): consumed bytes", file: file, line: line)
            func expect<T: Equatable>(_ wanted: T?, _ got: T, _ what: String) {
                if let wanted { XCTAssertEqual(got, wanted, "\(c.name): \(what)", file: file, line: line) }
            }
            expect(want.method, r.method, "method")
            expect(want.target, r.target, "target")
            expect(want.version, r.version, "version")
            expect(want.form, r.form, "form")
            expect(want.fields, r.fields, "fields")
            if let host = want.host { XCTAssertEqual(r.host, host, "\(c.name): host", file: file, line: line) }
            expect(want.framing, r.framing, "framing")
            expect(want.keepAlive, r.keepAlive, "keepAlive")
            expect(want.expectsContinue, r.expectsContinue, "expectsContinue")
            expect(want.body.map { Array($0.utf8) }, r.body, "body")
        }
    }

    /// After an error the parser keeps returning it (no resynchronisation), even when given a
    /// valid request; `reset()` makes it usable again (a new connection).
    func testNoResynchronisationAfterError() {
        var parser = HTTPRequestParser()
        let bad = bytes("GET / HTTP/1.1\r\nHost : a\r\n\r\n")
        let good = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        bad.withUnsafeBytes { b in
            guard case .error(let e) = parser.parseHead(b) else { return XCTFail("expected an error") }
            XCTAssertEqual(e.reason, .whitespaceBeforeColon)
            XCTAssertEqual(e.status, .badRequest)
            XCTAssertTrue(e.closesConnection)
        }
        good.withUnsafeBytes { g in
            guard case .error(let e) = parser.parseHead(g) else { return XCTFail("the parser resynchronised") }
            XCTAssertEqual(e.reason, .whitespaceBeforeColon)
        }
        parser.reset()
        good.withUnsafeBytes { g in
            guard case .complete(_, let consumed) = parser.parseHead(g) else { return XCTFail("reset did not clear the error") }
            XCTAssertEqual(consumed, good.count)
        }
    }

    /// A body decoder also stays failed.
    func testChunkedDecoderStaysFailed() {
        var decoder = HTTPChunkedDecoder()
        bytes("zz\r\n").withUnsafeBytes { XCTAssertEqual(decoder.decode($0), .error(HTTPParseError(.invalidChunkSize))) }
        bytes("0\r\n\r\n").withUnsafeBytes { XCTAssertEqual(decoder.decode($0), .error(HTTPParseError(.invalidChunkSize))) }
    }

    func testErrorDescriptionAndStatuses() {
        XCTAssertEqual(HTTPParseError(.contentLengthWithTransferEncoding).description,
                       "400 Bad Request: Content-Length together with Transfer-Encoding")
        XCTAssertEqual(HTTPParseError(.requestTargetTooLong).status, .uriTooLong)
        XCTAssertEqual(HTTPParseError(.tooManyFields).status, .requestHeaderFieldsTooLarge)
        XCTAssertEqual(HTTPParseError(.unsupportedVersion).status, .httpVersionNotSupported)
        XCTAssertEqual(HTTPParseError(.unsupportedTransferCoding).status, .notImplemented)
        XCTAssertEqual(HTTPParseError(.contentTooLarge).status, .contentTooLarge)
        XCTAssertEqual(HTTPParseError(.unsupportedExpectation).status, .expectationFailed)
        for reason in HTTPParseError.Reason.allCases {
            XCTAssertFalse(reason.explanation.isEmpty)
            XCTAssertTrue([400, 413, 414, 417, 431, 501, 505].contains(reason.status.code), "\(reason)")
        }
    }
}
