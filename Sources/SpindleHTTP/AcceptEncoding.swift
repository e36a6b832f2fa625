/// The content codings a client accepts: its `Accept-Encoding` field (RFC 9110 §12.5.3), e.g.
/// `gzip, deflate;q=0.5, *;q=0`. Qualities are kept in thousandths (0…1000), as the grammar
/// allows three decimals, so no floating point is involved.
///
/// Parsing is lenient where clients are sloppy and strict where the meaning is at stake:
/// members are separated by commas with any whitespace, codings are compared case-insensitively,
/// `x-gzip` counts as `gzip` (RFC 9110 §8.4.1.3), parameters other than `q` are ignored, and a
/// member whose coding is not a token or whose `q` is not a valid qvalue is dropped (rather
/// than guessed at). Never traps. Cost: allocates the list (one entry per member).
public struct AcceptEncoding: Sendable {
    /// A coding (lowercased) and its quality in thousandths, in the order sent.
    public struct Entry: Hashable, Sendable {
        /// The coding, lowercased (`gzip`, `br`, `identity`, `*`).
        public let coding: String
        /// Its weight in thousandths: 1000 without `q`, 0 for "not acceptable".
        public let quality: Int

        /// An entry for `coding` (lowercase) with `quality` (0…1000).
        public init(coding: String, quality: Int) {
            self.coding = coding
            self.quality = quality
        }
    }

    /// The members, in order, every field line's together.
    public let entries: [Entry]

    /// Parses the values of every `Accept-Encoding` field line of a request, in order.
    public init(fieldValues: some Sequence<String>) {
        var entries: [Entry] = []
        for value in fieldValues {
            for member in value.utf8.split(separator: ASCII.comma) {
                if let entry = Self.entry(member) { entries.append(entry) }
            }
        }
        self.entries = entries
    }

    /// The weight the client gives `coding` (lowercase): its own member, else (for `gzip`)
    /// an `x-gzip` member, else the `*` member; nil when none of them is listed.
    public func quality(of coding: String) -> Int? {
        if let own = entries.first(where: { $0.coding == coding }) { return own.quality }
        if coding == "gzip", let alias = entries.first(where: { $0.coding == "x-gzip" }) { return alias.quality }
        return entries.first(where: { $0.coding == "*" })?.quality
    }

    /// Whether a gzip-coded response suits this client: gzip (or `*`) is listed with a non-zero
    /// weight, and `identity` is not listed with a higher one (a client that prefers the
    /// uncompressed form gets it). An empty field accepts no coding: false.
    public var prefersGzip: Bool {
        guard let gzip = quality(of: "gzip"), gzip > 0 else { return false }
        if let identity = entries.first(where: { $0.coding == "identity" }), identity.quality > gzip { return false }
        return true
    }

    /// One member: `coding *( OWS ";" OWS parameter )`, or nil when it is empty or invalid.
    static func entry(_ member: Substring.UTF8View) -> Entry? {
        let parts = member.split(separator: ASCII.semicolon, omittingEmptySubsequences: false)
        guard let first = parts.first else { return nil }
        let coding = trimmed(first)
        guard !coding.isEmpty, coding.allSatisfy(ByteClass.isToken) else { return nil }
        var quality = 1000
        for parameter in parts.dropFirst() {
            let text = trimmed(parameter)
            guard text.count >= 2, text.first.map(ASCII.lower) == UInt8(ascii: "q"),
                  text.dropFirst().first == UInt8(ascii: "=") else { continue }
            guard let parsed = qualityValue(text.dropFirst(2)) else { return nil }
            quality = parsed
        }
        return Entry(coding: String(Substring(coding)).lowercased(), quality: quality)
    }

    /// A qvalue (`0`, `0.5`, `1.000`; at most three decimals, at most 1) in thousandths, or nil.
    static func qualityValue(_ text: Substring.UTF8View) -> Int? {
        guard let first = text.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        let rest = text.dropFirst()
        var thousandths = first == UInt8(ascii: "1") ? 1000 : 0
        guard !rest.isEmpty else { return thousandths }
        guard rest.first == UInt8(ascii: "."), rest.count <= 4 else { return nil }
        var scale = 100
        for digit in rest.dropFirst() {
            guard digit >= ASCII.zero && digit <= UInt8(ascii: "9") else { return nil }
            thousandths += Int(digit - ASCII.zero) * scale
            scale /= 10
        }
        return thousandths <= 1000 ? thousandths : nil
    }

    /// `text` without leading and trailing spaces and tabs.
    static func trimmed(_ text: Substring.UTF8View) -> Substring.UTF8View {
        var text = text
        while let first = text.first, first == ASCII.sp || first == ASCII.htab { text = text.dropFirst() }
        while let last = text.last, last == ASCII.sp || last == ASCII.htab { text = text.dropLast() }
        return text
    }
}
