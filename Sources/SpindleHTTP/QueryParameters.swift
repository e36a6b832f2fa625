// `name=value&name=value`: the query of a URL and the body of an
// `application/x-www-form-urlencoded` form, parsed into ordered pairs, and written back.

/// The name/value pairs of a query string (`a=1&b=2&a=3`) or of an
/// `application/x-www-form-urlencoded` body, in the order sent, repeated names included.
///
/// Parsing rules (those of the WHATWG URL standard's form parser):
/// - pairs are separated by `&` only (`;` is an ordinary byte);
/// - empty pieces are skipped (`a=1&&b=2`, a leading or trailing `&`);
/// - the first `=` separates the name from the value; later ones belong to the value
///   (`a=b=c` is `a` = `b=c`); a piece without `=` is a name with an empty value (`flag`);
///   `=v` is a pair with an empty name;
/// - in names and values `+` is a space, then `%XX` escapes are decoded (`%2B` is `+`,
///   `%26` an `&` inside a value, `%3D` an `=`).
///
/// `Decoding.strict` (form bodies) rejects invalid escapes and invalid UTF-8;
/// `Decoding.lenient` (queries) keeps invalid escapes literally and replaces invalid UTF-8 with
/// U+FFFD (see `PercentEncoding`). Both enforce `Limits`, so hostile input costs at most
/// `maxBytes` bytes of scanning and `maxCount` pairs of storage.
///
/// Lookups (`first`, `all`, `contains`) compare decoded names exactly (case-sensitive) with a
/// linear scan. A value type; copies share storage.
public struct QueryParameters: RandomAccessCollection, Sendable {
    /// One pair, decoded.
    public typealias Element = (name: String, value: String)

    /// How names and values are percent-decoded.
    public enum Decoding: Sendable, Hashable {
        /// An invalid escape or invalid UTF-8 throws (`QueryParametersError`).
        case strict
        /// Invalid escapes are kept literally, invalid UTF-8 becomes U+FFFD; never an
        /// encoding error (the limits still apply).
        case lenient
    }

    /// Bounds on what one parse may cost. Exceeding one throws, in both decodings.
    public struct Limits: Sendable, Hashable {
        /// Most pairs kept (empty pieces are not pairs). Exceeded → `.tooManyParameters`.
        public var maxCount: Int
        /// Most encoded bytes looked at. Exceeded → `.tooLarge`, before any is parsed.
        public var maxBytes: Int

        /// Limits; the defaults are 1,000 pairs and 1 MiB (the server's default body limit).
        /// Both must be at least 0 (a precondition: limits come from code, not from clients).
        public init(maxCount: Int = 1_000, maxBytes: Int = 1 << 20) {
            precondition(maxCount >= 0 && maxBytes >= 0, "QueryParameters.Limits: maxCount and maxBytes must be >= 0")
            self.maxCount = maxCount
            self.maxBytes = maxBytes
        }

        /// 1,000 pairs, 1 MiB.
        public static let `default` = Limits()
    }

    @usableFromInline let pairs: [Element]

    /// No pairs.
    public init() { pairs = [] }

    /// These pairs, in this order (to build a query with `encoded`). Allocates the storage.
    public init(_ pairs: some Sequence<Element>) { self.pairs = Array(pairs) }

    /// Parses `encoded` (a query without its `?`, or a form body). Throws
    /// `QueryParametersError` for an encoding error (strict decoding only) or an exceeded
    /// limit. Cost: one pass over the bytes; allocates the pair array and a String per name and
    /// value longer than 15 bytes (plus a scratch buffer for the decoded bytes, reused).
    @inlinable
    public init<Bytes: Collection<UInt8>>(parsing encoded: Bytes, decoding: Decoding = .strict,
                                          limits: Limits = .default) throws(QueryParametersError) {
        let count = encoded.count
        guard count <= limits.maxBytes else { throw .tooLarge(bytes: count, limit: limits.maxBytes) }
        var parser = QueryParser(decoding: decoding)
        var pairs: [Element] = []
        var index = encoded.startIndex
        var offset = 0
        while let piece = QueryParser.nextPiece(of: encoded, from: &index, offset: &offset) {
            guard pairs.count < limits.maxCount else { throw .tooManyParameters(limit: limits.maxCount) }
            pairs.append(try parser.pair(piece, in: encoded, number: pairs.count))
        }
        self.pairs = pairs
    }

    /// The value of the first pair named `name`, without parsing the rest or storing any pair:
    /// what a handler asking for one parameter needs. No limits are needed (one pass, one name
    /// and value decoded at a time). Throws only with strict decoding, for an encoding error
    /// met before the pair is found. Cost: allocates the decoded names it compares.
    @inlinable
    public static func firstValue<Bytes: Collection<UInt8>>(named name: String, in encoded: Bytes,
                                                            decoding: Decoding = .strict) throws(QueryParametersError) -> String? {
        var parser = QueryParser(decoding: decoding)
        var index = encoded.startIndex
        var offset = 0
        var number = 0
        while let piece = QueryParser.nextPiece(of: encoded, from: &index, offset: &offset) {
            if try parser.name(piece, in: encoded, number: number) == name {
                return try parser.value(piece, in: encoded, number: number)
            }
            number += 1
        }
        return nil
    }

    /// The value of the first pair named `name`, or nil. Cost: a linear scan.
    public func first(_ name: String) -> String? {
        for pair in pairs where pair.name == name { return pair.value }
        return nil
    }

    /// The values of every pair named `name`, in order (empty when there is none). Cost: a
    /// linear scan; allocates the array when there is a value.
    public func all(_ name: String) -> [String] {
        pairs.compactMap { $0.name == name ? $0.value : nil }
    }

    /// True when some pair is named `name` (`?debug` has one, with an empty value). Cost: a
    /// linear scan.
    public func contains(_ name: String) -> Bool {
        pairs.contains { $0.name == name }
    }

    /// The pairs written back as `application/x-www-form-urlencoded` (`a=1&b=x+y`), each name
    /// and value encoded with `PercentEncoding.Component.formComponent`; parsing it gives the
    /// same pairs. Allocates the String.
    public var encoded: String {
        pairs.map { PercentEncoding.encode($0.name, for: .formComponent) + "=" + PercentEncoding.encode($0.value, for: .formComponent) }
            .joined(separator: "&")
    }

    /// 0.
    public var startIndex: Int { 0 }
    /// The number of pairs.
    public var endIndex: Int { pairs.count }
    /// The pair at `position` (`0..<count`; out of range is a precondition failure, as for
    /// arrays: positions come from the caller, not from the input).
    public subscript(position: Int) -> Element { pairs[position] }
}

/// Why a query string or form body could not be parsed.
public enum QueryParametersError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A `%` not followed by two hex digits, `offset` bytes from the start of the input.
    case invalidEscape(offset: Int)
    /// The name or value of pair number `pair` (from 0, empty pieces not counted) decodes to
    /// bytes that are not UTF-8.
    case invalidUTF8(pair: Int)
    /// More than `limit` pairs.
    case tooManyParameters(limit: Int)
    /// `bytes` encoded bytes, over `limit`.
    case tooLarge(bytes: Int, limit: Int)

    /// A short English description (allocates).
    public var description: String {
        switch self {
        case .invalidEscape(let offset): "invalid percent-escape at byte \(offset) (% must be followed by two hex digits)"
        case .invalidUTF8(let pair): "parameter \(pair) is not valid UTF-8 once decoded"
        case .tooManyParameters(let limit): "more than \(limit) parameters"
        case .tooLarge(let bytes, let limit): "\(bytes) bytes of parameters, over the limit of \(limit)"
        }
    }
}

/// The scanning and decoding steps `QueryParameters` shares between parsing everything and
/// looking for one name. Keeps one scratch buffer for decoded bytes.
@usableFromInline
struct QueryParser {
    /// Where one `&`-separated piece lies: its bounds, the `=` if any, and the byte offset of
    /// its first byte from the start of the input (for error offsets).
    @usableFromInline
    struct Piece<Index> {
        @usableFromInline let start: Index
        @usableFromInline let equals: Index?
        @usableFromInline let end: Index
        @usableFromInline let offset: Int
        @usableFromInline let valueOffset: Int
        @inlinable init(start: Index, equals: Index?, end: Index, offset: Int, valueOffset: Int) {
            self.start = start
            self.equals = equals
            self.end = end
            self.offset = offset
            self.valueOffset = valueOffset
        }
    }

    @usableFromInline let decoding: QueryParameters.Decoding
    @usableFromInline var scratch: [UInt8] = []

    @inlinable init(decoding: QueryParameters.Decoding) { self.decoding = decoding }

    /// The next non-empty piece at or after `index` (which moves past it and its `&`), or nil
    /// at the end. `offset` follows `index` as a byte count.
    @inlinable
    static func nextPiece<Bytes: Collection<UInt8>>(of encoded: Bytes, from index: inout Bytes.Index,
                                                    offset: inout Int) -> Piece<Bytes.Index>? {
        while index != encoded.endIndex {
            let start = index
            let startOffset = offset
            var equals: Bytes.Index? = nil
            var valueOffset = offset
            while index != encoded.endIndex && encoded[index] != UInt8(ascii: "&") {
                if equals == nil && encoded[index] == UInt8(ascii: "=") {
                    equals = index
                    valueOffset = offset + 1
                }
                encoded.formIndex(after: &index)
                offset += 1
            }
            let end = index
            if index != encoded.endIndex {  // past the `&`
                encoded.formIndex(after: &index)
                offset += 1
            }
            if start != end {
                return Piece(start: start, equals: equals, end: end, offset: startOffset, valueOffset: equals == nil ? offset : valueOffset)
            }
        }
        return nil
    }

    /// The piece as a decoded pair.
    @inlinable
    mutating func pair<Bytes: Collection<UInt8>>(_ piece: Piece<Bytes.Index>, in encoded: Bytes,
                                                 number: Int) throws(QueryParametersError) -> QueryParameters.Element {
        (try name(piece, in: encoded, number: number), try value(piece, in: encoded, number: number))
    }

    /// The piece's decoded name (all of it when there is no `=`).
    @inlinable
    mutating func name<Bytes: Collection<UInt8>>(_ piece: Piece<Bytes.Index>, in encoded: Bytes,
                                                 number: Int) throws(QueryParametersError) -> String {
        try decode(encoded[piece.start..<(piece.equals ?? piece.end)], offset: piece.offset, number: number)
    }

    /// The piece's decoded value (empty when there is no `=`).
    @inlinable
    mutating func value<Bytes: Collection<UInt8>>(_ piece: Piece<Bytes.Index>, in encoded: Bytes,
                                                  number: Int) throws(QueryParametersError) -> String {
        guard let equals = piece.equals else { return "" }
        return try decode(encoded[encoded.index(after: equals)..<piece.end], offset: piece.valueOffset, number: number)
    }

    /// `bytes` (`offset` bytes into the input) decoded with `+` as a space.
    @inlinable
    mutating func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes, offset: Int, number: Int) throws(QueryParametersError) -> String {
        let strict = decoding == .strict
        if let invalid = PercentEncoding.decode(bytes, plusAsSpace: true, strict: strict, into: &scratch) {
            throw .invalidEscape(offset: offset + invalid)
        }
        guard strict else { return String(decoding: scratch, as: UTF8.self) }
        guard let text = String(validating: scratch, as: UTF8.self) else { throw .invalidUTF8(pair: number) }
        return text
    }
}
