import Foundation

/// Writes one JSON value: what a `JSONWritable` type's `writeJSON(to:)` is lent.
///
/// A value writes exactly one JSON value: a scalar, `writeObject` (its members written through
/// the closure's `JSONObjectWriter`) or `writeArray`. Writing nothing, or a second value, makes
/// the encode throw `EncodingError.invalidValue` naming the type (the second value is not
/// written). A write that throws leaves nothing of itself in the text, so a caught error (`try?`)
/// cannot leave half a member behind.
///
/// Spelling: as `StreamingJSONEncoder` and Foundation's `JSONEncoder()` with its default options
/// spell each scalar (`/` escaped as `\/`, `1.0` as `1`); NaN and infinities throw Foundation's
/// `EncodingError.invalidValue` with the coding path down to the number.
///
/// Cost: writes into the encode's output buffer (the calling thread's kept one; a new one for an
/// encode nested in another's `writeJSON`). Nothing is allocated unless the buffer grows, except
/// by `writeEncodable` (Codable's own costs) and for a `Double` or `Float` whose spelling is longer
/// than 15 bytes (its `description`, e.g. `0.30000000000000004`), or a thrown error. Never parks;
/// one thread.
///
/// Unsafe part, fenced here: the writers hold the address of the encode's `JSONStreamWriter`'s
/// output and the stream writer itself `unowned(unsafe)` (for `writeEncodable`) — no reference
/// count per value written (counting them was a third of writing a small object). Invariant that
/// makes it sound: no writer is used after the stream writer it points into is freed. Writers are
/// made only in this file, during `writeDocument`, whose caller borrows the stream writer for the
/// whole encode (`JSONWriterCache.withWriter`), and the output lives in a cell the stream writer
/// frees only when it goes (`JSONStreamWriter.outputAddress`). A writer is only ever lent `inout`
/// (to `writeJSON(to:)` or a closure), cannot be copied, and has no initializer outside this file,
/// so code that is lent one cannot keep it past the call: moving it out would leave the `inout`
/// place empty, with no other writer to put back. The one way to exchange writers — carrying an
/// `inout` writer into a nested encode with `withoutActuallyEscaping` and swapping it there with
/// that encode's — stays on the thread and within its outermost encode, whose stream writers
/// `JSONWriterCache` keeps alive until that encode ends; `checkNotSwapped` stops the process when
/// a writer comes back swapped.
public struct JSONWriter: ~Copyable {
    /// How many values the writer was given; exactly one is the rule.
    enum Progress {
        case nothingWritten
        case oneValueWritten
        /// A second value was asked for (and not written): the encode throws.
        case tooManyValues
    }

    private unowned(unsafe) let stream: JSONStreamWriter
    fileprivate let output: UnsafeMutablePointer<JSONOutput>
    private var progress = Progress.nothingWritten

    fileprivate init(stream: JSONStreamWriter, output: UnsafeMutablePointer<JSONOutput>) {
        self.stream = stream
        self.output = output
    }

    /// The transition a write makes; true when it is the first value (the one to write).
    private mutating func beginValue() -> Bool {
        switch progress {
        case .nothingWritten:
            progress = .oneValueWritten
            return true
        case .oneValueWritten, .tooManyValues:
            progress = .tooManyValues
            return false
        }
    }

    /// Undoes `beginValue` and what was written since `start`, for a write that threw.
    private mutating func abandonValue(from start: Int) {
        output.pointee.removeLast(output.pointee.count - start)
        progress = .nothingWritten
    }

    /// Writes `value` as a JSON string.
    public mutating func write(_ value: String) {
        guard beginValue() else { return }
        output.pointee.appendQuoted(value)
    }

    /// Writes `value` in decimal.
    public mutating func write(_ value: Int) {
        guard beginValue() else { return }
        output.pointee.appendInteger(value)
    }

    /// Writes `true` or `false`.
    public mutating func write(_ value: Bool) {
        guard beginValue() else { return }
        output.pointee.append(value)
    }

    /// Writes `value` as Foundation spells it (shortest round trip, `1.0` as `1`). Throws
    /// `EncodingError.invalidValue` for NaN and infinities, which JSON cannot spell (writing
    /// nothing).
    public mutating func write(_ value: Double) throws {
        guard value.isFinite else { throw JSONStreamWriter.NonFiniteNumber(value).encodingError(codingPath: []) }
        guard beginValue() else { return }
        _ = output.pointee.appendFloatingPoint(value)
    }

    /// Writes an integer of any width in decimal (the integer types' `writeJSON`).
    mutating func writeInteger<Integer: FixedWidthInteger>(_ value: Integer) {
        guard beginValue() else { return }
        output.pointee.appendInteger(value)
    }

    /// Writes a `Float` as its own shortest round trip, as Foundation spells it (`Float`'s
    /// `writeJSON`); throws for NaN and infinities.
    mutating func writeFloat(_ value: Float) throws {
        guard value.isFinite else { throw JSONStreamWriter.NonFiniteNumber(value).encodingError(codingPath: []) }
        guard beginValue() else { return }
        _ = output.pointee.appendFloatingPoint(value)
    }

    /// Writes `null`.
    public mutating func writeNull() {
        guard beginValue() else { return }
        output.pointee.append(literal: "null")
    }

    /// Writes `value` through its own `writeJSON(to:)` (a type whose JSON is another value's).
    /// Throws what it throws.
    public mutating func write<Value: JSONWritable>(_ value: Value) throws {
        let start = output.pointee.count
        guard beginValue() else { return }
        do {
            try Self.writeNested(value, stream: stream, output: output)
        } catch {
            abandonValue(from: start)
            throw error
        }
    }

    /// Writes `value` through its `Encodable` conformance, as `StreamingJSONEncoder` writes it
    /// (for members whose type has no `JSONWritable` conformance: a `Date`, a `UUID`, a type
    /// from another library). Throws what `StreamingJSONEncoder.encode` throws, the coding path
    /// from this writer's value down (the value's `encoder.codingPath` starts empty). Cost:
    /// Codable's dispatch and allocations for `value` (`Docs/benchmarks/json.md`).
    public mutating func writeEncodable<Value: Encodable>(_ value: Value) throws {
        let start = output.pointee.count
        guard beginValue() else { return }
        do {
            try stream.embed(value)
        } catch {
            abandonValue(from: start)
            throw error
        }
    }

    /// Writes an object whose members `members` writes, in the order it writes them. Throws what
    /// `members` throws (writing nothing).
    public mutating func writeObject(_ members: (inout JSONObjectWriter) throws -> Void) rethrows {
        let start = output.pointee.count
        guard beginValue() else { return }
        output.pointee.append(0x7B)
        var object = JSONObjectWriter(stream: stream, output: output)
        do {
            try members(&object)
        } catch {
            abandonValue(from: start)
            throw error
        }
        JSONWriter.checkNotSwapped(object.output, output)
        output.pointee.append(0x7D)
    }

    /// Writes an array whose elements `elements` writes, in order. Throws what `elements` throws
    /// (writing nothing).
    public mutating func writeArray(_ elements: (inout JSONArrayWriter) throws -> Void) rethrows {
        let start = output.pointee.count
        guard beginValue() else { return }
        output.pointee.append(0x5B)
        var array = JSONArrayWriter(stream: stream, output: output)
        do {
            try elements(&array)
        } catch {
            abandonValue(from: start)
            throw error
        }
        JSONWriter.checkNotSwapped(array.output, output)
        output.pointee.append(0x5D)
    }

    /// Throws unless the writer was given exactly one value (`value`'s `writeJSON` broke the rule).
    private func checkOneValue<Value>(of value: Value) throws {
        switch progress {
        case .oneValueWritten:
            return
        case .nothingWritten:
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription:
                "\(Value.self).writeJSON(to:) wrote no value; it must write exactly one: json.write(…), "
                + "json.writeNull(), json.writeObject { … } or json.writeArray { … }"))
        case .tooManyValues:
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription:
                "\(Value.self).writeJSON(to:) wrote more than one value; it must write exactly one "
                + "(several go into json.writeArray { … } or json.writeObject { … })"))
        }
    }

    /// Writes `value` with a writer of its own and checks that it wrote one value. Leaves what it
    /// wrote when it throws (the caller takes it back out).
    fileprivate static func writeNested<Value: JSONWritable>(_ value: Value, stream: JSONStreamWriter,
                                                            output: UnsafeMutablePointer<JSONOutput>) throws {
        var writer = JSONWriter(stream: stream, output: output)
        try value.writeJSON(to: &writer)
        checkNotSwapped(writer.output, output)
        try writer.checkOneValue(of: value)
    }

    /// Stops the process if the writer lent for `lent` came back writing into another encode's
    /// text: code that put a writer of another document in its place (only possible by carrying
    /// an `inout` writer out of its scope with `withoutActuallyEscaping` into a nested encode and
    /// swapping there). Memory stays sound without this check (`JSONWriterCache` keeps every
    /// writer of the thread until its outermost encode ends); it makes both documents' wrong text
    /// a stop with this message instead.
    fileprivate static func checkNotSwapped(_ returned: UnsafeMutablePointer<JSONOutput>, _ lent: UnsafeMutablePointer<JSONOutput>) {
        // fatalError, not precondition: its message is printed in release builds too.
        if returned != lent {
            fatalError("JSONWritable: a writeJSON(to:) or writeObject/writeArray closure put a writer of another document "
                       + "in the place of the one it was lent; write through the writer you are given")
        }
    }

    /// Writes `value` as the document's whole text, into `stream` (its output empty).
    static func writeDocument<Value: JSONWritable>(_ value: Value, into stream: JSONStreamWriter) throws {
        do {
            try writeNested(value, stream: stream, output: stream.outputAddress)
        } catch is JSONStreamWriter.Abandoned {
            // Only a container kept from another document and written to inside `writeJSON`
            // gets here (`embed` handles its own value's).
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription:
                "\(Value.self).writeJSON(to:) wrote through an encoding container of another document"))
        }
    }
}

/// Writes the members of an object, in order: the writer a `writeObject` closure is lent.
///
/// Keys are written as given, escaped as Foundation escapes them; write each key once (JSON
/// parsers differ on which of two equal keys wins, and the writer does not check — checking cost
/// as much as writing a small member). `write(_:_:)` of an `Optional` writes `null` for `nil`,
/// as `encode(_:forKey:)` does; `writeIfPresent` leaves the member out, as the synthesized
/// `Encodable` conformance of an optional property does. A member whose write throws is left
/// out entirely (key included).
///
/// Cost: as `JSONWriter`'s; never parks. Same invariant as `JSONWriter`.
public struct JSONObjectWriter: ~Copyable {
    private unowned(unsafe) let stream: JSONStreamWriter
    fileprivate let output: UnsafeMutablePointer<JSONOutput>
    /// Members written so far (a comma goes before every one but the first).
    private var count = 0

    fileprivate init(stream: JSONStreamWriter, output: UnsafeMutablePointer<JSONOutput>) {
        self.stream = stream
        self.output = output
    }

    /// Writes the comma if needed, the key and the colon; returns where the member began.
    private mutating func beginMember(_ key: String) -> Int {
        let start = output.pointee.count
        if count > 0 { output.pointee.append(0x2C) }
        count += 1
        output.pointee.appendQuoted(key)
        output.pointee.append(0x3A)
        return start
    }

    /// Takes back the member begun at `start`, whose value threw, and returns the error to
    /// throw: an `EncodingError`'s coding path gets `key` in front.
    private mutating func abandonMember(from start: Int, key: String, error: any Error) -> any Error {
        output.pointee.removeLast(output.pointee.count - start)
        count -= 1
        guard let error = error as? EncodingError else { return error }
        return error.nested(under: JSONMemberKey(key))
    }

    /// Writes member `key` with a string value.
    public mutating func write(_ key: String, _ value: String) {
        _ = beginMember(key)
        output.pointee.appendQuoted(value)
    }

    /// Writes member `key` with an integer value.
    public mutating func write(_ key: String, _ value: Int) {
        _ = beginMember(key)
        output.pointee.appendInteger(value)
    }

    /// Writes member `key` with `true` or `false`.
    public mutating func write(_ key: String, _ value: Bool) {
        _ = beginMember(key)
        output.pointee.append(value)
    }

    /// Writes member `key` with a number. Throws `EncodingError.invalidValue` for NaN and
    /// infinities (writing nothing).
    public mutating func write(_ key: String, _ value: Double) throws {
        guard value.isFinite else {
            throw JSONStreamWriter.NonFiniteNumber(value).encodingError(codingPath: [JSONMemberKey(key)])
        }
        _ = beginMember(key)
        _ = output.pointee.appendFloatingPoint(value)
    }

    /// Writes member `key` with `value` through its `writeJSON(to:)`. Throws what it throws, its
    /// coding path starting with `key`.
    public mutating func write<Value: JSONWritable>(_ key: String, _ value: Value) throws {
        let start = beginMember(key)
        do {
            try JSONWriter.writeNested(value, stream: stream, output: output)
        } catch {
            throw abandonMember(from: start, key: key, error: error)
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
        let start = beginMember(key)
        do {
            try stream.embed(value)
        } catch {
            throw abandonMember(from: start, key: key, error: error)
        }
    }

    /// Writes member `key` with an object whose members `members` writes.
    public mutating func writeObject(_ key: String, _ members: (inout JSONObjectWriter) throws -> Void) rethrows {
        let start = beginMember(key)
        var writer = JSONWriter(stream: stream, output: output)
        do {
            try writer.writeObject(members)
        } catch {
            throw abandonMember(from: start, key: key, error: error)
        }
    }

    /// Writes member `key` with an array whose elements `elements` writes.
    public mutating func writeArray(_ key: String, _ elements: (inout JSONArrayWriter) throws -> Void) rethrows {
        let start = beginMember(key)
        var writer = JSONWriter(stream: stream, output: output)
        do {
            try writer.writeArray(elements)
        } catch {
            throw abandonMember(from: start, key: key, error: error)
        }
    }
}

/// Writes the elements of an array, in order: the writer a `writeArray` closure is lent. An
/// element whose write throws is left out entirely.
///
/// Cost: as `JSONWriter`'s; never parks. Same invariant as `JSONWriter`.
public struct JSONArrayWriter: ~Copyable {
    private unowned(unsafe) let stream: JSONStreamWriter
    fileprivate let output: UnsafeMutablePointer<JSONOutput>
    /// Elements written so far (a comma goes before every one but the first).
    public private(set) var count = 0

    fileprivate init(stream: JSONStreamWriter, output: UnsafeMutablePointer<JSONOutput>) {
        self.stream = stream
        self.output = output
    }

    /// Writes the comma if needed; returns where the element began.
    private mutating func beginElement() -> Int {
        let start = output.pointee.count
        if count > 0 { output.pointee.append(0x2C) }
        count += 1
        return start
    }

    /// Takes back the element begun at `start`, whose value threw, and returns the error to
    /// throw: an `EncodingError`'s coding path gets the element's index in front.
    private mutating func abandonElement(from start: Int, error: any Error) -> any Error {
        output.pointee.removeLast(output.pointee.count - start)
        count -= 1
        guard let error = error as? EncodingError else { return error }
        return error.nested(under: JSONIndexKey(index: count))
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

    /// Appends a number. Throws `EncodingError.invalidValue` for NaN and infinities (writing
    /// nothing).
    public mutating func write(_ value: Double) throws {
        guard value.isFinite else {
            throw JSONStreamWriter.NonFiniteNumber(value).encodingError(codingPath: [JSONIndexKey(index: count)])
        }
        _ = beginElement()
        _ = output.pointee.appendFloatingPoint(value)
    }

    /// Appends `value` through its `writeJSON(to:)`. Throws what it throws, its coding path
    /// starting with the element's index.
    public mutating func write<Value: JSONWritable>(_ value: Value) throws {
        let start = beginElement()
        do {
            try JSONWriter.writeNested(value, stream: stream, output: output)
        } catch {
            throw abandonElement(from: start, error: error)
        }
    }

    /// Appends `value` through its `Encodable` conformance (see `JSONWriter.writeEncodable`).
    public mutating func writeEncodable<Value: Encodable>(_ value: Value) throws {
        let start = beginElement()
        do {
            try stream.embed(value)
        } catch {
            throw abandonElement(from: start, error: error)
        }
    }

    /// Appends an object whose members `members` writes.
    public mutating func writeObject(_ members: (inout JSONObjectWriter) throws -> Void) rethrows {
        let start = beginElement()
        var writer = JSONWriter(stream: stream, output: output)
        do {
            try writer.writeObject(members)
        } catch {
            throw abandonElement(from: start, error: error)
        }
    }

    /// Appends an array whose elements `elements` writes.
    public mutating func writeArray(_ elements: (inout JSONArrayWriter) throws -> Void) rethrows {
        let start = beginElement()
        var writer = JSONWriter(stream: stream, output: output)
        do {
            try writer.writeArray(elements)
        } catch {
            throw abandonElement(from: start, error: error)
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
