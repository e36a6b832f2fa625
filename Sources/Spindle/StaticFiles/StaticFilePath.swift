/// The part of a request path under a `StaticFiles` mount, percent-decoded and checked: the
/// names of the directories and the file it asks for, relative to the root, none of which can
/// leave it. Built from the path as sent (percent-encoding kept), one segment at a time, so an
/// encoded slash stays inside its segment (and is refused there) instead of splitting it.
///
/// Refused (`StaticFilePath.Malformed`, answered `400 Bad Request`): dot-segments (`.`, `..`,
/// also encoded: `%2e%2e`, `.%2E`), a slash inside a segment (`%2f`), a backslash (raw or
/// `%5c`), NUL (`%00`) or another control character, percent-encoding that is not `%` and two
/// hex digits, and names that are not UTF-8. Empty segments (`//`) are skipped, as the router
/// skips them. Names that start with a dot are allowed here and reported (`hasDotName`): the
/// server hides them unless configured otherwise.
struct StaticFilePath {
    /// Why a path was refused (the text of the 400 response).
    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// The decoded names, root first (empty for the mount point itself).
    let names: [String]
    /// The segments as sent (still percent-encoded), for redirects.
    let rawSegments: [Substring]
    /// True when the path ends with `/`: it names a directory (the mount point itself without
    /// its slash does not, and is redirected to it).
    let namesDirectory: Bool
    /// True when some name starts with a dot (`.git`, `.env`, `...`).
    let hasDotName: Bool

    /// Decodes and checks `urlPath` (empty, or starting with `/`). Cost: a String per segment.
    init(urlPath: Substring) throws(Malformed) {
        var names: [String] = []
        var raw: [Substring] = []
        for segment in urlPath.split(separator: "/", omittingEmptySubsequences: true) {
            names.append(try Self.decodedName(segment))
            raw.append(segment)
        }
        self.names = names
        rawSegments = raw
        namesDirectory = urlPath.hasSuffix("/")
        hasDotName = names.contains { $0.hasPrefix(".") }
    }

    /// One segment, percent-decoded and checked.
    private static func decodedName(_ segment: Substring) throws(Malformed) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(segment.utf8.count)
        var iterator = segment.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw Malformed(description: "invalid percent-encoding in the path")
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "/"): throw Malformed(description: "an encoded slash in a path segment")
            case UInt8(ascii: "\\"): throw Malformed(description: "a backslash in the path")
            case 0: throw Malformed(description: "NUL in the path")
            case 1..<0x20, 0x7F: throw Malformed(description: "a control character in the path")
            default: continue
            }
        }
        if bytes == [UInt8(ascii: ".")] || bytes == [UInt8(ascii: "."), UInt8(ascii: ".")] {
            throw Malformed(description: "a dot-segment in the path")
        }
        guard let name = String(validating: bytes, as: UTF8.self) else {
            throw Malformed(description: "a path segment that is not UTF-8")
        }
        return name
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
