import Spindle

/// The rules for the names clients choose: rooms (in the path) and senders (`from`).
public enum ChatNames {
    /// The longest room or sender name, in bytes.
    public static let maxLength = 64

    /// `name` when it is a valid room name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
    /// Throws `HTTPError` `400` otherwise. No allocation beyond the error.
    public static func room(_ name: String) throws -> String {
        guard (1...maxLength).contains(name.utf8.count), name.utf8.allSatisfy(isRoomByte) else {
            throw HTTPError(.badRequest, "a room name is 1 to \(maxLength) letters, digits, '-', '_' or '.'")
        }
        return name
    }

    /// `name`, or `anonymous` when nil or empty; throws `HTTPError` `400` when it is longer than
    /// 64 bytes or holds a control character.
    public static func sender(_ name: String?) throws -> String {
        guard let name, !name.isEmpty else { return "anonymous" }
        guard name.utf8.count <= maxLength, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw HTTPError(.badRequest, "a sender name is at most \(maxLength) bytes, without control characters")
        }
        return name
    }

    private static func isRoomByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            true
        default:
            false
        }
    }
}
