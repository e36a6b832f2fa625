// The path rules the router applies before it looks for a route (see the Router's doc comment
// and Docs/routing.md): one pass over the raw path, no allocation, no decoding. A path a front
// proxy could read differently from the router (dot-segments, invalid escapes) is refused here,
// never normalised.

/// Why the router refused a path without routing it. The server answers `400 Bad Request`.
public enum BadPathReason: Error, Hashable, Sendable, CustomStringConvertible {
    /// A segment is `.` or `..`, in any spelling (`%2e`, `%2E%2e`, `.%2e`, …).
    case dotSegment
    /// A `%` not followed by two hex digits.
    case invalidEscape
    /// A path parameter or the wildcard decodes to bytes that are not UTF-8 (`%FF`).
    case invalidUTF8

    /// A short English description, used as the `400` body. Allocates.
    public var description: String {
        switch self {
        case .dotSegment: "the path has a dot-segment (. or ..)"
        case .invalidEscape: "the path has an invalid percent-escape"
        case .invalidUTF8: "a path parameter is not valid UTF-8 once decoded"
        }
    }
}

/// The check of a raw request path against the routing rules.
enum RoutingPath {
    /// What a path is, for the router.
    enum Shape: Equatable {
        /// Routable: a trie walk decides. `trailingSlash` when the path ends in `/` after a
        /// non-empty segment (`/users/`; not `/`).
        case routable(trailingSlash: Bool)
        /// No route can match: an empty segment (`//`, `/a//b`) or a path that does not start
        /// with `/` (asterisk-form `*`). Answered 404.
        case noRoute
        /// Refused before routing. Answered 400.
        case bad(BadPathReason)
    }

    /// Checks `path` (the path part of the target, without the query): every `%` must start a
    /// valid escape, no segment may be a dot-segment (both refusals win over an empty segment
    /// found earlier), no segment may be empty except one trailing. The empty path is `/`
    /// (absolute-form targets without a path). Cost: one pass, eight bytes at a time (see
    /// `ByteWord`); no allocation.
    static func check(_ path: UnsafeRawBufferPointer) -> Shape {
        let count = path.count
        guard count > 0 else { return .routable(trailingSlash: false) }
        guard path[0] == UInt8(ascii: "/") else { return .noRoute }
        // The common path has no `%`, no `.` and no empty segment but a trailing one: then it is
        // routable, and a few operations per eight bytes tell, then one compare or three per
        // byte of the rest. Anything else (or a false alarm of `ByteWord.matches`) takes the
        // full pass.
        let start = path.baseAddress!
        var index = 0
        var previousWasSlash = false  // whether the byte before `index` is `/` (none before the first)
        while index &+ 8 <= count {
            let word = ByteWord.load(start, index)
            let slashes = ByteWord.matches(word, UInt8(ascii: "/"))
            if ByteWord.matches(word, UInt8(ascii: "%")) | ByteWord.matches(word, UInt8(ascii: ".")) != 0
                || slashes & (slashes &<< 8) != 0 || (previousWasSlash && word & 0xFF == UInt64(UInt8(ascii: "/"))) {
                return checkSegments(path)
            }
            previousWasSlash = word &>> 56 == UInt64(UInt8(ascii: "/"))
            index &+= 8
        }
        if index == 0 { index = 1; previousWasSlash = true }  // `path[0]` is the `/` checked above
        while index < count {
            let byte = path[index]
            if byte == UInt8(ascii: "/") {
                if previousWasSlash { return checkSegments(path) }
                previousWasSlash = true
            } else {
                if byte == UInt8(ascii: "%") || byte == UInt8(ascii: ".") { return checkSegments(path) }
                previousWasSlash = false
            }
            index &+= 1
        }
        return .routable(trailingSlash: count > 1 && previousWasSlash)
    }

    /// `check` for a path with an escape, a dot or an empty segment: segment by segment.
    @inline(never)
    private static func checkSegments(_ path: UnsafeRawBufferPointer) -> Shape {
        let count = path.count
        var hasEmptySegment = false
        var trailingSlash = false
        var segmentStart = 1
        var dots = 0          // `.` and `%2E` in the current segment
        var onlyDots = true   // and nothing else so far
        var index = 1
        while index <= count {
            if index == count || path[index] == UInt8(ascii: "/") {
                if index == segmentStart {
                    if index == count { trailingSlash = count > 1 } else { hasEmptySegment = true }
                } else if onlyDots && dots <= 2 {
                    return .bad(.dotSegment)
                }
                index += 1
                segmentStart = index
                dots = 0
                onlyDots = true
                continue
            }
            let byte = path[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < count, isHexDigit(path[index + 1]), isHexDigit(path[index + 2]) else {
                    return .bad(.invalidEscape)
                }
                if path[index + 1] == UInt8(ascii: "2") && path[index + 2] | 0x20 == UInt8(ascii: "e") {
                    dots += 1
                } else {
                    onlyDots = false
                }
                index += 3
            } else {
                if byte == UInt8(ascii: ".") { dots += 1 } else { onlyDots = false }
                index += 1
            }
        }
        return hasEmptySegment ? .noRoute : .routable(trailingSlash: trailingSlash)
    }

    /// True for an ASCII hex digit.
    private static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): true
        default: false
        }
    }
}

/// Eight bytes of a buffer as one word, for the scans above: which bytes equal a given byte,
/// found with a few arithmetic operations instead of a compare per byte.
enum ByteWord {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// The eight bytes at `start + offset` (any alignment), the first in the low bits.
    @inline(__always)
    static func load(_ start: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: start.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// The high bit of every byte of `word` equal to `byte`, and possibly of bytes above the
    /// lowest such byte (a borrow carries into them; `byte ^ 1` there gives a false mark): zero
    /// exactly when no byte equals `byte`, and the lowest mark is always a real one.
    @inline(__always)
    static func matches(_ word: UInt64, _ byte: UInt8) -> UInt64 {
        let x = word ^ (ones &* UInt64(byte))
        return (x &- ones) & ~x & highs
    }
}
