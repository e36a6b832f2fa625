/// A value that writes its own JSON text, for the responses a service sends most: encoding it
/// skips what `Encodable` costs on every value — the call through `any Encoder`, the keyed
/// container and its generic metadata (about 80 ns of the ~140 ns a small object takes through
/// `Encodable`; see `Docs/benchmarks/json.md`).
///
/// ```swift
/// struct Message: JSONWritable {
///     let message: String
///     func writeJSON(to json: inout JSONWriter) {
///         json.writeObject { $0.write("message", message) }
///     }
/// }
/// ```
///
/// The type stays `Encodable` (the conformance is still synthesized), and `writeJSON` must write
/// the text its `Encodable` conformance makes Foundation's `JSONEncoder()` write — the same
/// members in the same order, optionals left out with `writeIfPresent` where the synthesized
/// conformance leaves them out. `StreamingJSONEncoder.encode` and `Response.json` take this path
/// whenever the value's static type is `JSONWritable`; code generic over `Encodable` (and
/// `JSONEncoder`, for its options) goes through `encode(to:)`. A test comparing the two texts
/// keeps them equal (`Docs/guide.md`, "JSON").
///
/// `String`, `Bool`, the integer types, `Double`, `Float`, and arrays, optionals and
/// `String`-keyed dictionaries of `JSONWritable` values conform.
public protocol JSONWritable: Encodable {
    /// Writes this value's JSON text: exactly one value (an object, an array or a scalar) —
    /// none, or a second, makes the encode throw `EncodingError.invalidValue`. Throws what the
    /// writes throw (`EncodingError` for NaN and infinities) and whatever else the value decides
    /// to. Called on the encoding thread; should not park. `json` is lent for the call only.
    func writeJSON(to json: inout JSONWriter) throws
}

extension String: JSONWritable {
    /// Writes the string quoted and escaped.
    public func writeJSON(to json: inout JSONWriter) { json.write(self) }
}

extension Bool: JSONWritable {
    /// Writes `true` or `false`.
    public func writeJSON(to json: inout JSONWriter) { json.write(self) }
}

extension Double: JSONWritable {
    /// Writes the number; throws `EncodingError.invalidValue` for NaN and infinities.
    public func writeJSON(to json: inout JSONWriter) throws { try json.write(self) }
}

extension Float: JSONWritable {
    /// Writes the number as Foundation spells a `Float` (its own shortest round trip, not the
    /// `Double` it widens to); throws `EncodingError.invalidValue` for NaN and infinities.
    public func writeJSON(to json: inout JSONWriter) throws { try json.writeFloat(self) }
}

extension JSONWritable where Self: FixedWidthInteger {
    /// Writes the integer in decimal (the standard integer types' conformance).
    public func writeJSON(to json: inout JSONWriter) { json.writeInteger(self) }
}

extension Int: JSONWritable {}
extension Int8: JSONWritable {}
extension Int16: JSONWritable {}
extension Int32: JSONWritable {}
extension Int64: JSONWritable {}
extension UInt: JSONWritable {}
extension UInt8: JSONWritable {}
extension UInt16: JSONWritable {}
extension UInt32: JSONWritable {}
extension UInt64: JSONWritable {}
extension Int128: JSONWritable {}
extension UInt128: JSONWritable {}

extension Optional: JSONWritable where Wrapped: JSONWritable {
    /// Writes the wrapped value, or `null`.
    public func writeJSON(to json: inout JSONWriter) throws {
        switch self {
        case .some(let value): try value.writeJSON(to: &json)
        case .none: json.writeNull()
        }
    }
}

extension Array: JSONWritable where Element: JSONWritable {
    /// Writes the elements as a JSON array, in order.
    public func writeJSON(to json: inout JSONWriter) throws {
        try json.writeArray { array in
            for element in self { try array.write(element) }
        }
    }
}

extension Dictionary: JSONWritable where Key == String, Value: JSONWritable {
    /// Writes the dictionary as a JSON object, its members in the dictionary's iteration order
    /// (as its `Encodable` conformance writes them).
    public func writeJSON(to json: inout JSONWriter) throws {
        try json.writeObject { object in
            for (key, value) in self { try object.write(key, value) }
        }
    }
}
