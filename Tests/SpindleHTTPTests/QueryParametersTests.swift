// Query strings and form bodies as pairs: a table of parses (strict and lenient), lookups,
// limits, finding one value without parsing the rest, writing pairs back, and random inputs.
import SpindleHTTP
import XCTest

/// One parse: the input, the decoding and limits, and the pairs or the error expected.
private struct QueryCase {
    let input: String
    var decoding: QueryParameters.Decoding = .strict
    var limits = QueryParameters.Limits.default
    let expected: Result<[Pair], QueryParametersError>
}

/// A pair, comparable (the collection's element is a tuple).
private struct Pair: Equatable, CustomStringConvertible {
    let name: String
    let value: String
    init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
    var description: String { "\(name.debugDescription)=\(value.debugDescription)" }
}

private func pairs(_ list: (String, String)...) -> Result<[Pair], QueryParametersError> {
    .success(list.map { Pair($0.0, $0.1) })
}

private let queryCases: [QueryCase] = [
    .init(input: "", expected: pairs()),
    .init(input: "a=1", expected: pairs(("a", "1"))),
    .init(input: "a=1&b=2&a=3", expected: pairs(("a", "1"), ("b", "2"), ("a", "3"))),
    .init(input: "a=", expected: pairs(("a", ""))),
    .init(input: "a", expected: pairs(("a", ""))),
    .init(input: "a&b=2&c", expected: pairs(("a", ""), ("b", "2"), ("c", ""))),
    .init(input: "a=1&&b=2", expected: pairs(("a", "1"), ("b", "2"))),
    .init(input: "&&a=1&&&b=2&&", expected: pairs(("a", "1"), ("b", "2"))),
    .init(input: "a=1&", expected: pairs(("a", "1"))),
    .init(input: "&", expected: pairs()),
    .init(input: "=", expected: pairs(("", ""))),
    .init(input: "=v", expected: pairs(("", "v"))),
    .init(input: "a==", expected: pairs(("a", "="))),
    .init(input: "a=b=c", expected: pairs(("a", "b=c"))),
    .init(input: "a=%26&b=%3D", expected: pairs(("a", "&"), ("b", "="))),
    .init(input: "x=1%262%3D3", expected: pairs(("x", "1&2=3"))),
    .init(input: "a%3Db=c&d%26e=f", expected: pairs(("a=b", "c"), ("d&e", "f"))),
    .init(input: "q=a+b", expected: pairs(("q", "a b"))),
    .init(input: "q=a%2Bb", expected: pairs(("q", "a+b"))),
    .init(input: "first+name=J", expected: pairs(("first name", "J"))),
    .init(input: "a=1;b=2", expected: pairs(("a", "1;b=2"))),
    .init(input: "a;b", expected: pairs(("a;b", ""))),
    .init(input: "caf%C3%A9=cr%C3%A8me", expected: pairs(("café", "crème"))),
    .init(input: "A=1&a=2", expected: pairs(("A", "1"), ("a", "2"))),
    // Encoding errors: strict throws, lenient keeps.
    .init(input: "q=50%off", expected: .failure(.invalidEscape(offset: 4))),
    .init(input: "q=50%off", decoding: .lenient, expected: pairs(("q", "50%off"))),
    .init(input: "%zz=1", expected: .failure(.invalidEscape(offset: 0))),
    .init(input: "a=1&%=2", expected: .failure(.invalidEscape(offset: 4))),
    .init(input: "a=1&%=2", decoding: .lenient, expected: pairs(("a", "1"), ("%", "2"))),
    .init(input: "a=1&b=%", expected: .failure(.invalidEscape(offset: 6))),
    .init(input: "a=1&&b=%FF", expected: .failure(.invalidUTF8(pair: 1))),
    .init(input: "a=1&&b=%FF", decoding: .lenient, expected: pairs(("a", "1"), ("b", "\u{FFFD}"))),
    .init(input: "%C3=x", expected: .failure(.invalidUTF8(pair: 0))),
    // Limits: pairs counted after empty pieces are dropped; bytes before anything is parsed.
    .init(input: "a&b", limits: .init(maxCount: 2), expected: pairs(("a", ""), ("b", ""))),
    .init(input: "&a&&b&&", limits: .init(maxCount: 2), expected: pairs(("a", ""), ("b", ""))),
    .init(input: "a&b&c", limits: .init(maxCount: 2), expected: .failure(.tooManyParameters(limit: 2))),
    .init(input: "a&b&c", decoding: .lenient, limits: .init(maxCount: 2), expected: .failure(.tooManyParameters(limit: 2))),
    .init(input: "", limits: .init(maxCount: 0), expected: pairs()),
    .init(input: "a", limits: .init(maxCount: 0), expected: .failure(.tooManyParameters(limit: 0))),
    .init(input: "a=12345", limits: .init(maxBytes: 7), expected: pairs(("a", "12345"))),
    .init(input: "a=123456", limits: .init(maxBytes: 7), expected: .failure(.tooLarge(bytes: 8, limit: 7))),
    .init(input: "%zz=123456", limits: .init(maxBytes: 7), expected: .failure(.tooLarge(bytes: 10, limit: 7))),
]

final class QueryParametersTests: XCTestCase {
    private func parse(_ input: some Collection<UInt8>, _ decoding: QueryParameters.Decoding,
                       _ limits: QueryParameters.Limits) -> Result<[Pair], QueryParametersError> {
        Result { () throws(QueryParametersError) in
            try QueryParameters(parsing: input, decoding: decoding, limits: limits).map { Pair($0.name, $0.value) }
        }
    }

    func testParsingTable() {
        for row in queryCases {
            let name = "\(row.input.debugDescription) \(row.decoding)"
            XCTAssertEqual(parse(row.input.utf8, row.decoding, row.limits), row.expected, name)
            // The same through an array slice that does not start at index 0.
            let padded = Array(("&" + row.input).utf8).dropFirst()
            XCTAssertEqual(parse(padded, row.decoding, row.limits), row.expected, "slice of \(name)")
        }
    }

    func testLookups() throws {
        let parameters = try QueryParameters(parsing: "tag=a&x=1&tag=b&flag&tag=&empty=".utf8)
        XCTAssertEqual(parameters.count, 6)
        XCTAssertEqual(parameters.first("tag"), "a")
        XCTAssertEqual(parameters.all("tag"), ["a", "b", ""])
        XCTAssertEqual(parameters.first("flag"), "")
        XCTAssertTrue(parameters.contains("flag"))
        XCTAssertTrue(parameters.contains("empty"))
        XCTAssertFalse(parameters.contains("Tag"))
        XCTAssertNil(parameters.first("missing"))
        XCTAssertEqual(parameters.all("missing"), [])
        XCTAssertEqual(parameters.map(\.name), ["tag", "x", "tag", "flag", "tag", "empty"])
        XCTAssertEqual(parameters[1].value, "1")
        XCTAssertTrue(QueryParameters().isEmpty)
    }

    func testFirstValueScansWithoutParsingTheRest() throws {
        XCTAssertEqual(try QueryParameters.firstValue(named: "b", in: "a=1&b=2&b=3".utf8), "2")
        XCTAssertEqual(try QueryParameters.firstValue(named: "flag", in: "a=1&flag".utf8), "")
        XCTAssertNil(try QueryParameters.firstValue(named: "c", in: "a=1&b=2".utf8))
        XCTAssertEqual(try QueryParameters.firstValue(named: "a b", in: "a+b=x+y".utf8), "x y")
        // Values of other pairs are not decoded; names before the match are.
        XCTAssertEqual(try QueryParameters.firstValue(named: "b", in: "a=%zz&b=2".utf8), "2")
        XCTAssertThrowsError(try QueryParameters.firstValue(named: "b", in: "%zz=1&b=2".utf8)) { error in
            XCTAssertEqual(error as? QueryParametersError, .invalidEscape(offset: 0))
        }
        XCTAssertEqual(try QueryParameters.firstValue(named: "b", in: "%zz=1&b=50%off".utf8, decoding: .lenient), "50%off")
        // No limit: the 5,000th pair is found.
        let many = (0..<5_000).map { "p\($0)=\($0)" }.joined(separator: "&")
        XCTAssertEqual(try QueryParameters.firstValue(named: "p4999", in: many.utf8), "4999")
    }

    func testHostileInputStopsAtTheLimit() {
        let manyPairs = Array(String(repeating: "a&", count: 200_000).utf8)
        XCTAssertEqual(parse(manyPairs, .lenient, .default), .failure(.tooManyParameters(limit: 1_000)))
        let huge = [UInt8](repeating: UInt8(ascii: "a"), count: (1 << 20) + 1)
        XCTAssertEqual(parse(huge, .strict, .default), .failure(.tooLarge(bytes: (1 << 20) + 1, limit: 1 << 20)))
        let exactly = Array(String(repeating: "a&", count: 1_000).utf8)
        XCTAssertEqual(try QueryParameters(parsing: exactly).count, 1_000)
    }

    func testEncodedReadsBackAsTheSamePairs() throws {
        let built = QueryParameters([(name: "q", value: "50% off & more"), (name: "a=b", value: "c+d"), (name: "é", value: ""), (name: "", value: "x")])
        XCTAssertEqual(built.encoded, "q=50%25+off+%26+more&a%3Db=c%2Bd&%C3%A9=&=x")
        let parsed = try QueryParameters(parsing: built.encoded.utf8)
        XCTAssertEqual(parsed.map { Pair($0.name, $0.value) }, built.map { Pair($0.name, $0.value) })

        var random = SeededGenerator(state: 0xC0FF_EE00_1234_5678)
        let alphabet = Array("ab=&+% ;é/?".unicodeScalars)
        func text() -> String {
            String(String.UnicodeScalarView((0..<Int(random.next() % 6)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }))
        }
        for _ in 0..<500 {
            let pairs = (0..<Int(1 + random.next() % 4)).map { _ in (name: text(), value: text()) }
            // A pair whose name and value are both empty is written `=` and parses back as it.
            let reparsed = try QueryParameters(parsing: QueryParameters(pairs).encoded.utf8)
            XCTAssertEqual(reparsed.map { Pair($0.name, $0.value) }, pairs.map { Pair($0.name, $0.value) })
        }
    }

    /// Random bytes from the separators, escapes and non-UTF-8: no parse traps; a strict
    /// success equals the lenient parse; lenient parses fail only on limits.
    func testRandomInputsNeverTrap() {
        var random = SeededGenerator(state: 0x5151_7171_9191_B1B1)
        let alphabet: [UInt8] = Array("a=&&%2eF+;".utf8) + [0xC3, 0xFF]
        for round in 0..<5_000 {
            let input = (0..<Int(random.next() % 16)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            let limits = QueryParameters.Limits(maxCount: Int(random.next() % 5), maxBytes: Int(random.next() % 20))
            let lenient = parse(input, .lenient, limits)
            if case .failure(let error) = lenient {
                switch error {
                case .tooManyParameters, .tooLarge: break
                default: XCTFail("round \(round): lenient parse of \(input) failed with \(error)")
                }
            }
            if case .success(let strict) = parse(input, .strict, limits) {
                XCTAssertEqual(.success(strict), lenient, "round \(round): \(input)")
            }
        }
    }
}
