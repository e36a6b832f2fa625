import Foundation

/// Writes one JSON value: what a `JSONWritable` type's `writeJSON(to:)` is given.
///
/// Each `write…` method consumes the writer, so a value writes exactly one JSON value — a second
/// write, or returning without writing, does not compile (`'json' consumed more than once`,
/// `missing return`). Objects and arrays are written through the closures of `writeObject` and
/// `writeArray`, whose writers take members and elements in order.
///
/// Spelling: as `StreamingJSONEncoder` and Foundation's `JSONEncoder()` with its default options
/// spell each scalar (`/` escaped as `\/`, `1.0` as `1`); NaN and infinities throw Foundation's
/// `EncodingError.invalidValue` with the coding path down to the number.
///
/// Cost: writes into the calling thread's kept output buffer; no allocation unless the buffer
/// grows. Never parks; one thread.
///
/// Unsafe part, fenced here: the writers hold the address of the thread's `JSONStreamWriter`'s
/// output and the stream writer itself `unowned(unsafe)` (for `writeEncodable`) — no reference
/// count per value written (counting them was a third of writing a small object). Invariant that
/// makes it sound: a writer is made only by this file, during `writeDocument`, whose caller
/// borrows the stream writer for the whole encode (`JSONWriterCache.withWriter`), and the output
/// lives in a cell the stream writer frees only when it goes (`JSONStreamWriter.outputAddress`);
/// a writer is handed out only consumed into `writeJSON(to:)` or `inout` to a closure, cannot be
/// copied, and outside this module cannot be made — so no writer outlives the encode that made
/// it.
public struct JSONWriter: ~Copyable {
    /// What a `write…` method returns: proof that the value was written, which `writeJSON(to:)`
    /// returns. Only a write makes one.
    public struct Written: ~Copyable {
        fileprivate init() {}
    }

    private unowned(unsafe) let stream: JSONStreamWriter
    private let output: UnsafeMutablePointer<JSONOutput>

    fileprivate init(stream: JSONStreamWriter, output: UnsafeMutablePointer<JSONOutput>) {
        self.stream = stream
        self.output = output
    }

    /// Writes `value` as a JSON string. No allocation.
    public consuming func write(_ value: String) -> Written {
        output.pointee.appendQuoted(value)
        return Written()
    }

    /// Writes `value` in decimal. No allocation.
    public consuming func write(_ value: Int) -> Written {
        output.pointee.appendInteger(value)
        return Written()
    }

    /// Writes `true` or `false`.
    public consuming func write(_ value: Bool) -> Written {
        output.pointee.append(value)
        return Written()
    }

    /// Writes `value` as Foundation spells it (shortest round trip, `1.0` as `1`). Throws
    /// `EncodingError.invalidValue` for NaN and infinities, which JSON cannot spell.
    public consuming func write(_ value: Double) throws -> Written {
        guard output.pointee.appendFloatingPoint(value) else {
            throw JSONStreamWriter.NonFiniteNumber(value).encodingError(codingPath: [])
        }
        return Written()
    }

    /// Writes an integer of any width in decimal (the integer types' `writeJSON`).
    consuming func writeInteger<Integer: FixedWidthInteger>(_ value: Integer) -> Written {
        output.pointee.appendInteger(value)
        return Written()
    }

    /// Writes a `Float` as its own shortest round trip, as Foundation spells it (`Float`'s
    /// `writeJSON`); throws for NaN and infinities.
    consuming func writeFloat(_ value: Float) throws -> Written {
        guard output.pointee.appendFloatingPoint(value) else {
            throw JSONStreamWriter.NonFiniteNumber(value).encodingError(codingPath: [])
        }
        return Written()
    }

    /// Writes `null`.
    public consuming func writeNull() -> Written {
        output.pointee.append(literal: "null")
        return Written()
    }

    /// Writes `value` through its own `writeJSON(to:)`. Throws what it throws.
    public consuming func write<Value: JSONWritable>(_ value: Value) throws -> Written {
        try value.writeJSON(to: self)
    }

    /// Writes `value` through its `Encodable` conformance, as `StreamingJSONEncoder` writes it
    /// (for members whose type has no `JSONWritable` conformance: a `Date`, a `UUID`, a type
    /// from another library). Throws what `StreamingJSONEncoder.encode` throws, the coding path
    /// from this writer's value down. Cost: Codable's dispatch for `value` (see
    /// `Docs/benchmarks/json.md`).
    public consuming func writeEncodable<Value: Encodable>(_ value: Value) throws -> Written {
        try stream.embed(value)
        return Written()
    }

    /// Writes an object whose members `members` writes, in the order it writes them. Throws what
    /// `members` throws.
    public consuming func writeObject(_ members: (inout JSONObjectWriter) throws -> Void) rethrows -> Written {
        output.pointee.append(0x7B)
        var object = JSONObjectWriter(stream: stream, output: output)
        try members(&object)
        output.pointee.append(0x7D)
        return Written()
    }

    /// Writes an array whose elements `elements` writes, in order. Throws what `elements` throws.
    public consuming func writeArray(_ elements: (inout JSONArrayWriter) throws -> Void) rethrows -> Written {
        output.pointee.append(0x5B)
        var array = JSONArrayWriter(stream: stream, output: output)
        try elements(&array)
        output.pointee.append(0x5D)
        return Written()
    }

    /// Writes `value` as the document's whole text, into `stream` (already reset).
    static func writeDocument<Value: JSONWritable>(_ value: Value, into stream: JSONStreamWriter) throws {
        _ = try value.writeJSON(to: JSONWriter(stream: stream, output: stream.outputAddress))
    }
}

/// Writes the members of an object, in order: the writer a `writeObject` closure is lent.
///
/// Keys are written as given, escaped as Foundation escapes them; write each key once (JSON
/// parsers differ on which of two equal keys wins, and the writer does not check — checking cost
/// as much as writing a small member). `write(_:_:)` of an `Optional` writes `null` for `nil`,
/// as `encode(_:forKey:)` does; `writeIfPresent` leaves the member out, as the synthesized
/// `Encodable` conformance of an optional property does.
///
/// Cost: no allocation unless the output buffer grows; never parks. Same invariant as
/// `JSONWriter`.
public struct JSONObjectWriter: ~Copyable {
    private unowned(unsafe) let stream: JSONStreamWriter
    private let output: UnsafeMutablePointer<JSONOutput>
    /// Members written so far (a comma goes before every one but the first).
    private var count = 0

    fileprivate init(stream: JSONStreamWriter, output: UnsafeMutablePointer<JSONOutput>) {
        self.stream = stream
        self.output = output
    }

    /// Writes the comma if needed, the key and the colon.
    private mutating func beginMember(_ key: String) {
        if count > 0 { output.pointee.append(0x2C) }
        count += 1
        output.pointee.appendQuoted(key)
        output.pointee.append(0x3A)
    }

    /// Writes member `key` with a string value.
    public mutating func write(_ key: String, _ value: String) {
        beginMember(key)
        output.pointee.appendQuoted(value)
    }

    /// Writes member `key` with an integer value.
    public mutating func write(_ key: String, _ value: Int) {
        beginMember(key)
        output.pointee.appendInteger(value)
    }

    /// Writes member `key` with `true` or `false`.
    public mutating func write(_ key: String, _ value: Bool) {
        beginMember(key)
        output.pointee.append(value)
    }

    /// Writes member `key` with a number. Throws `EncodingError.invalidValue` for NaN and
    /// infinities.
    public mutating func write(_ key: String, _ value: Double) throws {
        beginMember(key)
        guard output.pointee.appendFloatingPoint(value) else {
            throw JSONStreamWriter.NonFiniteNumber(value).encodingError(codingPath: [JSONMemberKey(key)])
        }
    }

    /// Writes member `key` with `value` through its `writeJSON(to:)`. Throws what it throws, its
    /// coding path starting with `key`.
    public mutating func write<Value: JSONWritable>(_ key: String, _ value: Value) throws {
        beginMember(key)
        do {
            _ = try value.writeJSON(to: JSONWriter(stream: stream, output: output))
        } catch let error as EncodingError {
            throw error.nested(under: JSONMemberKey(key))
        }
    }

    /// Writes member `key` with `value` unless it is `nil` (then writes nothing), as the
    /// synthesized `Encodable` conformance of an optional property does (`encodeIfPresent`).
    public mutating func writeIfPresent<Value: JSONWritable>(_ key: String, _ value: Value?) throws {
        guard let value else { return }
        try write(key, value)
    }

    /// Writes member `key` with `value` through its `Encodable` conformance (see
    /// `JSONWriter.writeEncodable`).
    public mutating func writeEncodable<Value: Encodable>(_ key: String, _ value: Value) throws {
        beginMember(key)
        do {
            try stream.embed(value)
        } catch let error as EncodingError {
            throw error.nested(under: JSONMemberKey(key))
        }
    }

    /// Writes member `key` with an object whose members `members` writes.
    public mutating func writeObject(_ key: String, _ members: (inout JSONObjectWriter) throws -> Void) throws {
        beginMember(key)
        do {
            _ = try JSONWriter(stream: stream, output: output).writeObject(members)
        } catch let error as EncodingError {
            throw error.nested(under: JSONMemberKey(key))
        }
    }

    /// Writes member `key` with an array whose elements `elements` writes.
    public mutating func writeArray(_ key: String, _ elements: (inout JSONArrayWriter) throws -> Void) throws {
        beginMember(key)
        do {
            _ = try JSONWriter(stream: stream, output: output).writeArray(elements)
        } catch let error as EncodingError {
            throw error.nested(under: JSONMemberKey(key))
        }
    }
}

/// Writes the elements of an array, in order: the writer a `writeArray` closure is lent.
///
/// Cost: no allocation unless the output buffer grows; never parks. Same invariant as
/// `JSONWriter`.
public struct JSONArrayWriter: ~Copyable {
    private unowned(unsafe) let stream: JSONStreamWriter
    private let output: UnsafeMutablePointer<JSONOutput>
    /// Elements written so far (a comma goes before every one but the first).
    public private(set) var count = 0

    fileprivate init(stream: JSONStreamWriter, output: UnsafeMutablePointer<JSONOutput>) {
        self.stream = stream
        self.output = output
    }

    /// Writes the comma if needed; returns the element's index.
    private mutating func beginElement() -> Int {
        if count > 0 { output.pointee.append(0x2C) }
        count += 1
        return count - 1
    }

    /// Appends a string element.
    public mutating func write(_ value: String) {
        _ = beginElement()
        output.pointee.appendQuoted(value)
    }

    /// Appends an integer element.
    public mutating func write(_ value: Int) {
        _ = beginElement()
        output.pointee.appendInteger(value)
    }

    /// Appends `true` or `false`.
    public mutating func write(_ value: Bool) {
        _ = beginElement()
        output.pointee.append(value)
    }

    /// Appends a number. Throws `EncodingError.invalidValue` for NaN and infinities.
    public mutating func write(_ value: Double) throws {
        let index = beginElement()
        guard output.pointee.appendFloatingPoint(value) else {
            throw JSONStreamWriter.NonFiniteNumber(value).encodingError(codingPath: [JSONIndexKey(index: index)])
        }
    }

    /// Appends `value` through its `writeJSON(to:)`. Throws what it throws, its coding path
    /// starting with the element's index.
    public mutating func write<Value: JSONWritable>(_ value: Value) throws {
        let index = beginElement()
        do {
            _ = try value.writeJSON(to: JSONWriter(stream: stream, output: output))
        } catch let error as EncodingError {
            throw error.nested(under: JSONIndexKey(index: index))
        }
    }

    /// Appends `value` through its `Encodable` conformance (see `JSONWriter.writeEncodable`).
    public mutating func writeEncodable<Value: Encodable>(_ value: Value) throws {
        let index = beginElement()
        do {
            try stream.embed(value)
        } catch let error as EncodingError {
            throw error.nested(under: JSONIndexKey(index: index))
        }
    }

    /// Appends an object whose members `members` writes.
    public mutating func writeObject(_ members: (inout JSONObjectWriter) throws -> Void) throws {
        let index = beginElement()
        do {
            _ = try JSONWriter(stream: stream, output: output).writeObject(members)
        } catch let error as EncodingError {
            throw error.nested(under: JSONIndexKey(index: index))
        }
    }

    /// Appends an array whose elements `elements` writes.
    public mutating func writeArray(_ elements: (inout JSONArrayWriter) throws -> Void) throws {
        let index = beginElement()
        do {
            _ = try JSONWriter(stream: stream, output: output).writeArray(elements)
        } catch let error as EncodingError {
            throw error.nested(under: JSONIndexKey(index: index))
        }
    }
}

/// An object member's key in a coding path.
struct JSONMemberKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ key: String) { stringValue = key }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

extension EncodingError {
    /// The same error with `key` in front of its coding path (thrown up through a container).
    func nested(under key: any CodingKey) -> EncodingError {
        switch self {
        case .invalidValue(let value, let context):
            return .invalidValue(value, .init(codingPath: [key] + context.codingPath, debugDescription: context.debugDescription,
                                              underlyingError: context.underlyingError))
        @unknown default:
            return self
        }
    }
}
