import SpindleHTTP

/// Path parameters captured by a route (`:id`, and `*` for the wildcard), percent-decoded.
/// A value may contain `/` (from `%2F`) and `..` (from `%2E%2E`): check it before using it as
/// a file path.
public struct Parameters: Sendable {
    private let values: [(name: String, value: String)]

    /// The captures of a match: `captures[k]`, a range of `path`, is the value of `names[k]`.
    /// Throws `.invalidUTF8` when a value decodes to bytes that are not UTF-8 (the router
    /// checked the escapes before). Cost: nothing without captures; else the values array and
    /// a String per value longer than 15 bytes, plus a decoding buffer for a value with `%`.
    init(decoding path: UnsafeRawBufferPointer, captures: [Range<Int>], names: [String]) throws(BadPathReason) {
        guard !captures.isEmpty else {
            values = []
            return
        }
        var values: [(name: String, value: String)] = []
        values.reserveCapacity(captures.count)
        for (name, range) in zip(names, captures) {
            let raw = UnsafeRawBufferPointer(rebasing: path[range])
            guard raw.contains(UInt8(ascii: "%")) else {
                // Undecoded bytes of a target are ASCII; of a rewritten path, whole UTF-8
                // sequences (segments end at `/`, which is ASCII).
                values.append((name, String(decoding: raw, as: UTF8.self)))
                continue
            }
            do throws(PercentDecodingError) {
                values.append((name, try PercentEncoding.decodeString(raw)))
            } catch {
                switch error {
                case .invalidEscape: throw .invalidEscape
                case .invalidUTF8: throw .invalidUTF8
                }
            }
        }
        self.values = values
    }

    /// No parameters.
    public init() { values = [] }

    /// Whether the route captured nothing.
    public var isEmpty: Bool { values.isEmpty }

    /// The decoded value of `name` (`*` for the wildcard), or nil. Cost: a linear search.
    public subscript(_ name: String) -> String? {
        values.first(where: { $0.name == name })?.value
    }

    /// The value of `name` converted to `T`; throws `HTTPError(.badRequest)` when missing or
    /// not convertible, naming the parameter.
    public func require<T: LosslessStringConvertible>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let raw = self[name] else { throw HTTPError(.badRequest, "missing path parameter :\(name)") }
        guard let value = T(raw) else { throw HTTPError(.badRequest, "path parameter :\(name) = \"\(raw)\" is not a valid \(T.self)") }
        return value
    }
}
