// Percent-decoding, strict and lenient, as a table (every decoder on every row); encoding per
// component; and seeded random inputs: no decoder traps, strict success agrees with lenient,
// and encoding then decoding gives the bytes back.
import SpindleHTTP
import XCTest

/// One decoding row: the input and what each of the four decoders must give.
private struct DecodingCase {
    let input: [UInt8]
    let plusAsSpace: Bool
    /// `decode`: the bytes, or the error.
    let strict: Result<[UInt8], PercentDecodingError>
    /// `decodeLeniently`.
    let lenient: [UInt8]
    /// `decodeString`.
    let strictString: Result<String, PercentDecodingError>
    /// `decodeStringLeniently`.
    let lenientString: String

    /// A row whose input decodes without error to the UTF-8 of `text`.
    static func valid(_ input: String, _ text: String, plusAsSpace: Bool = false) -> DecodingCase {
        DecodingCase(input: Array(input.utf8), plusAsSpace: plusAsSpace, strict: .success(Array(text.utf8)), lenient: Array(text.utf8),
                     strictString: .success(text), lenientString: text)
    }

    /// A row with an invalid escape at `offset`; the lenient decoders give `lenient`.
    static func invalidEscape(_ input: String, at offset: Int, lenient: String, plusAsSpace: Bool = false) -> DecodingCase {
        DecodingCase(input: Array(input.utf8), plusAsSpace: plusAsSpace, strict: .failure(.invalidEscape(offset: offset)),
                     lenient: Array(lenient.utf8), strictString: .failure(.invalidEscape(offset: offset)), lenientString: lenient)
    }

    /// A row whose escapes are valid but whose bytes, `bytes`, are not UTF-8; the lenient String
    /// is `replaced`.
    static func invalidUTF8(_ input: String, bytes: [UInt8], replaced: String) -> DecodingCase {
        DecodingCase(input: Array(input.utf8), plusAsSpace: false, strict: .success(bytes), lenient: bytes,
                     strictString: .failure(.invalidUTF8), lenientString: replaced)
    }
}

private let decodingCases: [DecodingCase] = [
    .valid("", ""),
    .valid("abc", "abc"),
    .valid("%41", "A"),
    .valid("%4a%4A", "JJ"),
    .valid("%20", " "),
    .valid("%2F", "/"),
    .valid("%2e%2E", ".."),
    .valid("%25", "%"),
    .valid("%2541", "%41"),
    .valid("%00", "\u{0}"),
    .valid("%C3%A9", "é"),
    .valid("caf%c3%a9", "café"),
    .valid("%e2%82%ac", "€"),
    .valid("%F0%9F%A7%B5", "🧵"),
    .valid("é", "é"),
    .valid("a+b", "a+b"),
    .valid("a+b", "a b", plusAsSpace: true),
    .valid("%2B", "+", plusAsSpace: true),
    .valid("+%2B+", " + ", plusAsSpace: true),
    .valid(";=&", ";=&"),
    .invalidEscape("%", at: 0, lenient: "%"),
    .invalidEscape("%4", at: 0, lenient: "%4"),
    .invalidEscape("%zz", at: 0, lenient: "%zz"),
    .invalidEscape("%%", at: 0, lenient: "%%"),
    .invalidEscape("%%41", at: 0, lenient: "%A"),
    .invalidEscape("50%off", at: 2, lenient: "50%off"),
    .invalidEscape("100%", at: 3, lenient: "100%"),
    .invalidEscape("a%2", at: 1, lenient: "a%2"),
    .invalidEscape("%G1", at: 0, lenient: "%G1"),
    .invalidEscape("%1G", at: 0, lenient: "%1G"),
    .invalidEscape("%41%", at: 3, lenient: "A%"),
    .invalidEscape("%C3%A9%x", at: 6, lenient: "é%x"),
    .invalidEscape("a+%+", at: 2, lenient: "a % ", plusAsSpace: true),
    .invalidUTF8("%FF", bytes: [0xFF], replaced: "\u{FFFD}"),
    .invalidUTF8("%C3", bytes: [0xC3], replaced: "\u{FFFD}"),
    .invalidUTF8("a%C3%28", bytes: [0x61, 0xC3, 0x28], replaced: "a\u{FFFD}("),
    .invalidUTF8("%ED%A0%80", bytes: [0xED, 0xA0, 0x80], replaced: "\u{FFFD}\u{FFFD}\u{FFFD}"),
    .invalidUTF8("%C0%AF", bytes: [0xC0, 0xAF], replaced: "\u{FFFD}\u{FFFD}"),
]

final class PercentEncodingTests: XCTestCase {
    func testDecodingTable() {
        XCTAssertGreaterThanOrEqual(decodingCases.count, 20)
        for row in decodingCases {
            let name = "\(String(decoding: row.input, as: UTF8.self).debugDescription) plusAsSpace: \(row.plusAsSpace)"
            XCTAssertEqual(Result { () throws(PercentDecodingError) in try PercentEncoding.decode(row.input, plusAsSpace: row.plusAsSpace) },
                           row.strict, "decode \(name)")
            XCTAssertEqual(PercentEncoding.decodeLeniently(row.input, plusAsSpace: row.plusAsSpace), row.lenient, "decodeLeniently \(name)")
            XCTAssertEqual(Result { () throws(PercentDecodingError) in try PercentEncoding.decodeString(row.input, plusAsSpace: row.plusAsSpace) },
                           row.strictString, "decodeString \(name)")
            XCTAssertEqual(PercentEncoding.decodeStringLeniently(row.input, plusAsSpace: row.plusAsSpace), row.lenientString,
                           "decodeStringLeniently \(name)")
            // The same bytes through another collection type (a slice not starting at 0).
            let padded = [UInt8(ascii: "x")] + row.input
            XCTAssertEqual(PercentEncoding.decodeLeniently(padded.dropFirst(), plusAsSpace: row.plusAsSpace), row.lenient, "slice \(name)")
        }
    }

    func testEncodingTable() {
        let rows: [(input: [UInt8], component: PercentEncoding.Component, encoded: String)] = [
            (Array("a b".utf8), .formComponent, "a+b"),
            (Array("a b".utf8), .pathSegment, "a%20b"),
            (Array("a+b&c=d".utf8), .formComponent, "a%2Bb%26c%3Dd"),
            (Array("a+b&c=d".utf8), .pathSegment, "a+b&c=d"),
            (Array("-._~AZaz09".utf8), .formComponent, "-._~AZaz09"),
            (Array("-._~AZaz09".utf8), .path, "-._~AZaz09"),
            (Array("!$&'()*+,;=:@".utf8), .pathSegment, "!$&'()*+,;=:@"),
            (Array("!$&'()*+,;=:@".utf8), .formComponent, "%21%24%26%27%28%29%2A%2B%2C%3B%3D%3A%40"),
            (Array("a/b".utf8), .pathSegment, "a%2Fb"),
            (Array("a/b".utf8), .path, "a/b"),
            (Array("/a b?c#d%e".utf8), .path, "/a%20b%3Fc%23d%25e"),
            (Array("é".utf8), .pathSegment, "%C3%A9"),
            ([0x00, 0x0A, 0x7F, 0x80, 0xFF], .path, "%00%0A%7F%80%FF"),
            ([], .formComponent, ""),
        ]
        for row in rows {
            XCTAssertEqual(PercentEncoding.encode(row.input, for: row.component), row.encoded, "\(row.input) for \(row.component)")
        }
        XCTAssertEqual(PercentEncoding.encode("50% off", for: .formComponent), "50%25+off")
    }

    /// Inputs made mostly of the bytes that matter (`%`, hex digits, `+`, non-hex letters,
    /// non-ASCII): nothing traps; a strict success equals the lenient result; a strict failure
    /// points at a `%` that does not start a valid escape; the lenient result is never longer
    /// than the input.
    func testRandomInputsNeverTrapAndStrictAgreesWithLenient() {
        var random = SeededGenerator(state: 0x9E37_79B9_7F4A_7C15)
        let alphabet: [UInt8] = Array("%%%2eEfF09aA+zG/.".utf8) + [0x00, 0xC3, 0xA9, 0xFF]
        for round in 0..<5_000 {
            let length = Int(random.next() % 12)
            let input = (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            let plusAsSpace = random.next() % 2 == 0
            let lenient = PercentEncoding.decodeLeniently(input, plusAsSpace: plusAsSpace)
            XCTAssertLessThanOrEqual(lenient.count, input.count)
            _ = PercentEncoding.decodeStringLeniently(input, plusAsSpace: plusAsSpace)
            do throws(PercentDecodingError) {
                let strict = try PercentEncoding.decode(input, plusAsSpace: plusAsSpace)
                XCTAssertEqual(strict, lenient, "round \(round): \(input)")
            } catch {
                guard case .invalidEscape(let offset) = error else {
                    XCTFail("round \(round): decode (bytes) reported \(error)")
                    continue
                }
                XCTAssert(offset >= 0 && offset < input.count && input[offset] == UInt8(ascii: "%"), "round \(round): \(input) at \(offset)")
                let escape = input[offset...].dropFirst().prefix(2)
                XCTAssertFalse(escape.count == 2 && escape.allSatisfy { $0 < 0x80 && Character(UnicodeScalar($0)).isHexDigit },
                               "round \(round): the escape at \(offset) of \(input) is valid")
            }
        }
    }

    /// Encoding for any component and decoding gives the bytes back (with `plusAsSpace` for
    /// form components); a path segment's encoding holds no `/`.
    func testEncodeThenDecodeRoundTrips() throws {
        var random = SeededGenerator(state: 0x0123_4567_89AB_CDEF)
        for _ in 0..<2_000 {
            let bytes = (0..<Int(random.next() % 16)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            for component in [PercentEncoding.Component.pathSegment, .path, .formComponent] {
                let encoded = PercentEncoding.encode(bytes, for: component)
                XCTAssertTrue(encoded.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "\(encoded) is not visible ASCII")
                XCTAssertEqual(try PercentEncoding.decode(encoded.utf8, plusAsSpace: component == .formComponent), bytes, "\(component)")
                if component == .pathSegment { XCTAssertFalse(encoded.contains("/")) }
            }
        }
    }
}
