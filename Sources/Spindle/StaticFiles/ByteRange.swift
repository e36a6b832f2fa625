/// What a `Range` field asks of a representation of `size` bytes (RFC 9110 §14.2), as
/// `StaticFiles` answers it: one range of bytes, or the whole representation.
enum ByteRangeRequest: Equatable {
    /// Send the whole representation (`200`): no `Range`, a unit other than `bytes`, invalid
    /// syntax (RFC 9110 lets a server ignore it), or more than one range (Spindle does not
    /// send `multipart/byteranges`).
    case whole
    /// Send these bytes (`206` with `Content-Range`), never empty, within `0..<size`.
    case part(Range<Int>)
    /// No range of the set overlaps the representation (`416` with `Content-Range: bytes */size`).
    case unsatisfiable

    /// Interprets `fieldValue` for a representation of `size` bytes. `a-b` (`b` past the end is
    /// clamped to the last byte), `a-` (to the end), `-n` (the last n bytes, the whole
    /// representation when n is larger). Numbers too large for `Int` count as `Int.max`. Never
    /// traps, whatever the value.
    init(fieldValue: String, size: Int) {
        var rest = Substring(fieldValue).drop { $0 == " " || $0 == "\t" }
        guard rest.utf8.count > 6, rest.prefix(6).lowercased() == "bytes=" else {
            self = .whole
            return
        }
        rest = rest.dropFirst(6)
        let specs = rest.split(separator: ",", omittingEmptySubsequences: false)
            .map(\.trimmingSpaces)
            .filter { !$0.isEmpty }
        guard specs.count == 1, let spec = ByteRangeSpec(specs[0]) else {
            self = .whole
            return
        }
        self = spec.resolved(size: size)
    }
}

/// One `range-spec`: `first-last`, `first-`, or `-suffixLength`.
private enum ByteRangeSpec {
    case from(Int, through: Int?)
    case suffix(Int)

    init?(_ text: Substring) {
        guard let dash = text.firstIndex(of: "-") else { return nil }
        let first = text[..<dash]
        let last = text[text.index(after: dash)...]
        if first.isEmpty {
            guard let length = Self.number(last) else { return nil }
            self = .suffix(length)
        } else {
            guard let start = Self.number(first) else { return nil }
            if last.isEmpty {
                self = .from(start, through: nil)
            } else {
                guard let end = Self.number(last), end >= start else { return nil }
                self = .from(start, through: end)
            }
        }
    }

    func resolved(size: Int) -> ByteRangeRequest {
        switch self {
        case .suffix(let length):
            guard length > 0, size > 0 else { return .unsatisfiable }
            return .part(max(0, size - length)..<size)
        case .from(let start, let end):
            guard start < size else { return .unsatisfiable }
            let last = min(end ?? (size - 1), size - 1)
            return .part(start..<(last + 1))
        }
    }

    /// `1*DIGIT`, saturating at `Int.max`.
    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            value = overflowA || overflowB ? .max : sum
        }
        return value
    }
}
