// The request side of cookies: the `Cookie` field a user agent sends (RFC 6265 §4.2, §5.4).
// The response side, `Set-Cookie`, is in SetCookie.swift.

/// A cookie a client sent: one `name=value` pair of a `Cookie` field, the value without its
/// surrounding double quotes.
public struct Cookie: Hashable, Sendable {
    /// The cookie's name, as sent (names are case-sensitive).
    public var name: String
    /// The cookie's value, unquoted; not percent-decoded (encodings are the application's).
    public var value: String

    /// A cookie with `name` and `value`.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Parses `Cookie` field values: `a=1; b=2` (RFC 6265 §4.2.1), read the way servers must read
/// what browsers really send:
///
/// - pairs are separated by `;`, with any spaces or tabs around them (the grammar says `"; "`);
/// - a pair without `=`, with an empty name or a name that is not a token (RFC 9110 §5.6.2) is
///   skipped, and so is one whose value has a byte outside 0x20–0x7E or a `"` or `\` inside
///   (after removing one pair of surrounding double quotes); spaces and commas inside a value are
///   kept, as Go's net/http does, since browsers send what servers set;
/// - leading and trailing spaces of names and values are dropped;
/// - at most `maximumCount` pairs are kept (later ones are ignored, not an error), so a client
///   cannot make a handler build an unbounded array (the field's size is bounded already by
///   `HTTPLimits`);
/// - several pairs with one name are kept in order (browsers send the most specific path first).
///
/// Never traps, whatever the bytes. Cost: one scan; allocates the Strings it returns.
public enum CookieHeader {
    /// Pairs kept per request unless a caller says otherwise. RFC 6265 §6.1 asks user agents to
    /// store at least 50 cookies per domain; a request can carry its parent domains' too.
    public static let defaultMaximumCount = 100

    /// The cookies in `fieldValue`, in order (see the type for what is skipped).
    public static func parse(_ fieldValue: String, maximumCount: Int = defaultMaximumCount) -> [Cookie] {
        var cookies: [Cookie] = []
        parse(fieldValue, into: &cookies, maximumCount: maximumCount)
        return cookies
    }

    /// Appends the cookies in `fieldValue` to `cookies` while it holds fewer than
    /// `maximumCount` (for requests with several `Cookie` field lines).
    public static func parse(_ fieldValue: String, into cookies: inout [Cookie], maximumCount: Int = defaultMaximumCount) {
        guard cookies.count < maximumCount else { return }
        let bytes = Array(fieldValue.utf8)
        forEachPair(in: bytes) { name, value in
            cookies.append(Cookie(name: String(decoding: bytes[name], as: UTF8.self),
                                  value: String(decoding: bytes[value], as: UTF8.self)))
            return cookies.count < maximumCount
        }
    }

    /// The value of the first valid cookie named `name` in `fieldValue`, or nil. Allocates only
    /// the result (and a copy of the field's bytes).
    public static func value(of name: String, in fieldValue: String) -> String? {
        let bytes = Array(fieldValue.utf8)
        var found: String? = nil
        forEachPair(in: bytes) { nameRange, valueRange in
            guard bytes[nameRange].elementsEqual(name.utf8) else { return true }
            found = String(decoding: bytes[valueRange], as: UTF8.self)
            return false
        }
        return found
    }

    /// Calls `body` with the name and value ranges of each valid pair of `bytes`, in order,
    /// until it returns false.
    static func forEachPair(in bytes: [UInt8], _ body: (Range<Int>, Range<Int>) -> Bool) {
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: ASCII.semicolon) ?? bytes.count
            if let (name, value) = pair(in: bytes, start..<end), !body(name, value) { return }
            start = end + 1
        }
    }

    /// The name and value of the pair in `segment`, or nil when it is not a valid pair.
    static func pair(in bytes: [UInt8], _ segment: Range<Int>) -> (name: Range<Int>, value: Range<Int>)? {
        let segment = trimmed(bytes, segment)
        guard let equals = bytes[segment].firstIndex(of: UInt8(ascii: "=")) else { return nil }
        let name = trimmed(bytes, segment.lowerBound..<equals)
        guard !name.isEmpty, bytes[name].allSatisfy(ByteClass.isToken) else { return nil }
        var value = trimmed(bytes, (equals + 1)..<segment.upperBound)
        if value.count >= 2, bytes[value.lowerBound] == ASCII.doubleQuote, bytes[value.upperBound - 1] == ASCII.doubleQuote {
            value = (value.lowerBound + 1)..<(value.upperBound - 1)
        }
        guard bytes[value].allSatisfy(isReceivedValueByte) else { return nil }
        return (name, value)
    }

    /// `range` without leading and trailing spaces and tabs.
    static func trimmed(_ bytes: [UInt8], _ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, bytes[lower] == ASCII.sp || bytes[lower] == ASCII.htab { lower += 1 }
        while upper > lower, bytes[upper - 1] == ASCII.sp || bytes[upper - 1] == ASCII.htab { upper -= 1 }
        return lower..<upper
    }

    /// A byte a received value may hold: visible ASCII and space, except `"`, `;` and `\`.
    static func isReceivedValueByte(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte < 0x7F && byte != ASCII.doubleQuote && byte != ASCII.semicolon && byte != ASCII.backslash
    }
}

extension ASCII {
    static let doubleQuote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
}
