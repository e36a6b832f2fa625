import SpindleIO

/// An entity tag (RFC 9110 §8.8.3): an opaque validator of one representation of a resource,
/// strong (`"x"`) or weak (`W/"x"`).
struct EntityTag: Equatable {
    /// The characters between the quotes.
    let opaque: Substring
    /// True for `W/"…"`.
    let isWeak: Bool

    /// The field value (`"…"` or `W/"…"`).
    var fieldValue: String { (isWeak ? "W/\"" : "\"") + opaque + "\"" }

    /// The strong tag of a file's content as `status` describes it: inode, size and
    /// modification time to the nanosecond, in hex, plus `variant` for another representation
    /// of the same file (`gz` for its precompressed sibling). A change of any of them changes
    /// the tag. Strong: a file rewritten in place within the same nanosecond with the same size
    /// is the one case it misses.
    init(file status: File.Status, variant: String? = nil) {
        var text = String(status.inode, radix: 16) + "-" + String(status.size, radix: 16) + "-"
            + String(status.modificationTime, radix: 16) + "." + String(status.modificationNanoseconds, radix: 16)
        if let variant { text += "-" + variant }
        opaque = Substring(text)
        isWeak = false
    }

    init(opaque: Substring, isWeak: Bool) {
        self.opaque = opaque
        self.isWeak = isWeak
    }

    /// Weak comparison (RFC 9110 §8.8.3.2): the opaque parts match, weak or not. What
    /// `If-None-Match` uses.
    func matchesWeakly(_ other: EntityTag) -> Bool { opaque == other.opaque }

    /// Strong comparison: both strong and the opaque parts match. What `If-Range` uses.
    func matchesStrongly(_ other: EntityTag) -> Bool { !isWeak && !other.isWeak && opaque == other.opaque }
}

/// The value of `If-None-Match` (or `If-Match`): `*`, or a list of entity tags.
enum EntityTagCondition: Equatable {
    /// `*`: any current representation.
    case any
    /// These tags (members that are not entity tags are left out).
    case tags([EntityTag])

    /// Parses the field's values (one per field line; each a comma-separated list). Quoted
    /// tags may contain commas. A member that is not `*` or an entity tag ends the parse of its
    /// line (what was read before it stays). Never traps.
    init(fieldValues: [String]) {
        var tags: [EntityTag] = []
        for value in fieldValues {
            var rest = Substring(value)
            while true {
                rest = rest.drop { $0 == " " || $0 == "\t" || $0 == "," }
                if rest.isEmpty { break }
                if rest.first == "*" {
                    self = .any
                    return
                }
                guard let (tag, after) = Self.entityTag(at: rest) else { break }
                tags.append(tag)
                rest = after
            }
        }
        self = .tags(tags)
    }

    /// The entity tag at the start of `text` and what follows it.
    static func entityTag(at text: Substring) -> (EntityTag, Substring)? {
        var rest = text
        let isWeak = rest.hasPrefix("W/")
        if isWeak { rest = rest.dropFirst(2) }
        guard rest.first == "\"" else { return nil }
        rest = rest.dropFirst()
        guard let close = rest.firstIndex(of: "\"") else { return nil }
        let opaque = rest[..<close]
        guard opaque.utf8.allSatisfy({ $0 == 0x21 || ($0 >= 0x23 && $0 != 0x7F) }) else { return nil }
        return (EntityTag(opaque: opaque, isWeak: isWeak), rest[rest.index(after: close)...])
    }

    /// True when `tag` matches by weak comparison (`*` matches any).
    func matchesWeakly(_ tag: EntityTag) -> Bool {
        switch self {
        case .any: true
        case .tags(let tags): tags.contains { $0.matchesWeakly(tag) }
        }
    }
}
