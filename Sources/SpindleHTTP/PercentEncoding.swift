// Percent-encoding (RFC 3986 §2.1) over bytes: `%` and two hex digits stand for one byte.
// Decoding is strict or lenient, chosen by the function's name; encoding escapes what a
// component of a URL may not carry literally. Nothing here traps, whatever the input.

/// Percent-decoding and -encoding (RFC 3986 §2.1), over bytes.
///
/// Decoding turns `%XX` (two hex digits, either case) into the byte `0xXX`, and with
/// `plusAsSpace` a `+` into a space (the `application/x-www-form-urlencoded` rule of queries
/// and form bodies; in paths `+` is a plain `+`). A `%` that is not followed by two hex digits
/// (`%`, `%4`, `%zz`, `50%off`) is an *invalid escape*, which:
///
/// | function | invalid escape | bytes that are not UTF-8 |
/// |---|---|---|
/// | `decode` | throws `.invalidEscape(offset:)` | returned as they are (bytes) |
/// | `decodeString` | throws `.invalidEscape(offset:)` | throws `.invalidUTF8` |
/// | `decodeLeniently` | kept literally (`50%off` stays `50%off`) | returned as they are (bytes) |
/// | `decodeStringLeniently` | kept literally | each invalid sequence becomes U+FFFD |
///
/// Who uses which: the router decodes path parameters strictly (an invalid escape or invalid
/// UTF-8 in a path is a `400`), form bodies are parsed strictly (`400`), and query strings
/// leniently, as browsers and the WHATWG URL standard read them (`?q=50%off` means `50%off`).
///
/// Cost: one pass over the input; the decoders allocate the result (one array, or one array
/// and one String); the encoders allocate the resulting String. No locks, any thread.
public enum PercentEncoding {
    // MARK: Decoding

    /// The bytes `encoded` stands for. Strict: throws `.invalidEscape(offset:)` at the first
    /// `%` not followed by two hex digits (`offset` counts bytes from the start of `encoded`).
    /// With `plusAsSpace`, `+` decodes to a space (and `%2B` to `+`). Allocates the result.
    @inlinable
    public static func decode<Bytes: Collection<UInt8>>(_ encoded: Bytes, plusAsSpace: Bool = false) throws(PercentDecodingError) -> [UInt8] {
        var decoded: [UInt8] = []
        if let offset = decode(encoded, plusAsSpace: plusAsSpace, strict: true, into: &decoded) {
            throw .invalidEscape(offset: offset)
        }
        return decoded
    }

    /// The bytes `encoded` stands for, keeping invalid escapes literally: `%zz`, `%4` at the
    /// end or a lone `%` stay as they are, and decoding resumes at the byte after the `%`
    /// (`%%41` gives `%A`). Never throws. Allocates the result.
    @inlinable
    public static func decodeLeniently<Bytes: Collection<UInt8>>(_ encoded: Bytes, plusAsSpace: Bool = false) -> [UInt8] {
        var decoded: [UInt8] = []
        _ = decode(encoded, plusAsSpace: plusAsSpace, strict: false, into: &decoded)
        return decoded
    }

    /// The text `encoded` stands for. Strict: throws `.invalidEscape(offset:)` as `decode`
    /// does, and `.invalidUTF8` when the decoded bytes are not valid UTF-8 (`%FF`, `%C3`
    /// alone); nothing is ever replaced. Allocates the bytes and the String.
    @inlinable
    public static func decodeString<Bytes: Collection<UInt8>>(_ encoded: Bytes, plusAsSpace: Bool = false) throws(PercentDecodingError) -> String {
        let bytes = try decode(encoded, plusAsSpace: plusAsSpace)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8 }
        return text
    }

    /// The text `encoded` stands for, leniently: invalid escapes kept literally (as
    /// `decodeLeniently`) and each invalid UTF-8 sequence replaced by U+FFFD. Never throws.
    /// Allocates the bytes and the String.
    @inlinable
    public static func decodeStringLeniently<Bytes: Collection<UInt8>>(_ encoded: Bytes, plusAsSpace: Bool = false) -> String {
        String(decoding: decodeLeniently(encoded, plusAsSpace: plusAsSpace), as: UTF8.self)
    }

    /// Decodes `encoded` into `output` (replacing what it held). Returns nil, or in strict mode
    /// the offset of the first invalid escape (then `output` holds what came before it).
    @inlinable
    static func decode<Bytes: Collection<UInt8>>(_ encoded: Bytes, plusAsSpace: Bool, strict: Bool,
                                                 into output: inout [UInt8]) -> Int? {
        output.removeAll(keepingCapacity: true)
        output.reserveCapacity(encoded.count)
        var index = encoded.startIndex
        var offset = 0
        while index != encoded.endIndex {
            let byte = encoded[index]
            if byte == UInt8(ascii: "%") {
                if let decoded = escapedByte(in: encoded, at: index) {
                    output.append(decoded)
                    index = encoded.index(index, offsetBy: 3)
                    offset += 3
                    continue
                }
                if strict { return offset }
                output.append(byte)  // lenient: the `%` stays, the bytes after it are read as usual
            } else if plusAsSpace && byte == UInt8(ascii: "+") {
                output.append(UInt8(ascii: " "))
            } else {
                output.append(byte)
            }
            index = encoded.index(after: index)
            offset += 1
        }
        return nil
    }

    /// The byte `%XX` at `index` stands for, or nil when the two bytes after the `%` are not
    /// both there and both hex digits. Reads at most the two bytes after `index`.
    @inlinable
    static func escapedByte<Bytes: Collection<UInt8>>(in encoded: Bytes, at index: Bytes.Index) -> UInt8? {
        let high = encoded.index(after: index)
        guard high != encoded.endIndex, let highValue = hexDigitValue(encoded[high]) else { return nil }
        let low = encoded.index(after: high)
        guard low != encoded.endIndex, let lowValue = hexDigitValue(encoded[low]) else { return nil }
        return highValue << 4 | lowValue
    }

    /// The value of an ASCII hex digit (either case), or nil.
    @inlinable
    static func hexDigitValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte &- UInt8(ascii: "A") &+ 10
        default: nil
        }
    }

    // MARK: Encoding

    /// Where an encoded string goes, which decides the bytes left as they are. Every other
    /// byte is written `%XX` with uppercase hex digits (RFC 3986 §2.1), `%` itself included.
    public enum Component: Sendable, Hashable {
        /// One path segment: unreserved characters (`A–Z a–z 0–9 - . _ ~`), sub-delims
        /// (`! $ & ' ( ) * + , ; =`), `:` and `@` stay; `/`, `?`, `#`, space, `%` and
        /// everything else are escaped, so the result is always exactly one segment. (A
        /// segment that is `.` or `..` stays a dot-segment however it is encoded; the router
        /// answers such paths with `400`.)
        case pathSegment
        /// A whole path: as `pathSegment`, but `/` stays.
        case path
        /// A name or a value in a query string or a form body
        /// (`application/x-www-form-urlencoded`): unreserved characters stay, a space becomes
        /// `+`, everything else (`+`, `&`, `=`, `%` included) is escaped. Reads back exactly
        /// with `plusAsSpace`.
        case formComponent
    }

    /// `bytes` percent-encoded for `component`. Allocates the String (ASCII only).
    public static func encode<Bytes: Sequence<UInt8>>(_ bytes: Bytes, for component: Component) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.underestimatedCount)
        for byte in bytes {
            if isLiteral(byte, in: component) {
                output.append(byte)
            } else if component == .formComponent && byte == UInt8(ascii: " ") {
                output.append(UInt8(ascii: "+"))
            } else {
                output.append(UInt8(ascii: "%"))
                output.append(uppercaseHexDigits[Int(byte >> 4)])
                output.append(uppercaseHexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The UTF-8 of `text` percent-encoded for `component`. Allocates the String.
    public static func encode(_ text: String, for component: Component) -> String {
        encode(text.utf8, for: component)
    }

    private static let uppercaseHexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// True when `byte` goes into `component` as it is.
    private static func isLiteral(_ byte: UInt8, in component: Component) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="),
             UInt8(ascii: ":"), UInt8(ascii: "@"):
            return component != .formComponent
        case UInt8(ascii: "/"):
            return component == .path
        default:
            return false
        }
    }
}

/// Why strict percent-decoding failed.
public enum PercentDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A `%` not followed by two hex digits, `offset` bytes from the start of the input.
    case invalidEscape(offset: Int)
    /// The decoded bytes are not valid UTF-8 (only the decoders that make a String check).
    case invalidUTF8

    /// A short English description (allocates).
    public var description: String {
        switch self {
        case .invalidEscape(let offset): "invalid percent-escape at byte \(offset) (% must be followed by two hex digits)"
        case .invalidUTF8: "percent-decoded bytes are not valid UTF-8"
        }
    }
}
