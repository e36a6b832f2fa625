import Spindle

/// The name of an uploaded file, checked: what `PUT`, `GET` and `DELETE /uploads/:name` may
/// name. The router has already decoded the segment (`%2F` became `/` inside it) and refused
/// dot-segments (`..`, `%2e%2e`) with `400`; this refuses, with `400`, every name that is not a
/// plain file name directly in the uploads directory:
///
/// - empty, or longer than `maxBytes` (255, the file system's `NAME_MAX`) in UTF-8;
/// - containing `/` (also sent as `%2F`), `\` (`%5C`), NUL or another control character;
/// - starting with `.` (hidden files, and the uploads' own temporary files, are never named);
/// - containing `..` anywhere.
///
/// Never traps, whatever the bytes. Cost: one pass over the name.
public struct UploadName: Sendable, Hashable, CustomStringConvertible {
    /// The longest name, in UTF-8 bytes.
    public static let maxBytes = 255

    /// The name (a single path component, safe to join to the uploads directory).
    public let value: String

    /// Checks `name`; throws `HTTPError(.badRequest)` with the reason when it is refused.
    public init(_ name: String) throws(HTTPError) {
        let bytes = name.utf8
        guard !bytes.isEmpty else { throw HTTPError(.badRequest, "the file name is empty") }
        guard bytes.count <= Self.maxBytes else { throw HTTPError(.badRequest, "the file name is over \(Self.maxBytes) bytes") }
        guard bytes.first != UInt8(ascii: ".") else { throw HTTPError(.badRequest, "the file name starts with a dot") }
        var previous: UInt8 = 0
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "/"): throw HTTPError(.badRequest, "the file name contains a slash")
            case UInt8(ascii: "\\"): throw HTTPError(.badRequest, "the file name contains a backslash")
            case 0..<0x20, 0x7F: throw HTTPError(.badRequest, "the file name contains a control character")
            case UInt8(ascii: ".") where previous == UInt8(ascii: "."): throw HTTPError(.badRequest, "the file name contains ..")
            default: previous = byte
            }
        }
        value = name
    }

    /// The name itself.
    public var description: String { value }
}
