/// The three kinds of container `JSONStreamWriter` hands to `Encodable` code. Each names its
/// object or array by id; the writer checks on every write that it is still the open one (see
/// `JSONStreamWriter`). A container with id 0 is inert: the writer has abandoned, and its
/// writes throw so that the caller falls back to Foundation's encoder.

/// Which object a keyed container writes. A class, so that a box the writer hands out again
/// (`KeyedContainerBoxes`) can be given the id of its new object.
final class JSONKeyedContainerState {
    /// The object the container writes (0: inert).
    var id: UInt32

    init(id: UInt32) { self.id = id }
}

struct JSONKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: JSONStreamWriter
    let state: JSONKeyedContainerState

    var id: UInt32 { state.id }

    var codingPath: [any CodingKey] { writer.codingPath }

    mutating func encodeNil(forKey key: Key) throws {
        try writer.beginMember(in: id, key: key)
        writer.output.append(literal: "null")
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        try writer.beginMember(in: id, key: key)
        writer.output.append(value)
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        try writer.beginMember(in: id, key: key)
        writer.output.appendQuoted(value)
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        try writer.beginMember(in: id, key: key)
        try writer.writeFloatingPoint(value, key: key)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        try writer.beginMember(in: id, key: key)
        try writer.writeFloatingPoint(value, key: key)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int128, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt128, forKey key: Key) throws { try integer(value, key) }

    private func integer<Integer: FixedWidthInteger>(_ value: Integer, _ key: Key) throws {
        try writer.beginMember(in: id, key: key)
        writer.output.appendInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try writer.beginMember(in: id, key: key)
        try writer.writeNested(value, key: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        writer.keyedContainer(keyedBy: NestedKey.self, id: writer.openNested(in: id, key: key, isObject: true))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        JSONUnkeyedContainer(writer: writer, id: writer.openNested(in: id, key: key, isObject: false))
    }

    /// Not written in order (the encoder it returns may be used at any later time): abandons.
    mutating func superEncoder() -> any Encoder {
        writer.abandon()
        return writer
    }

    /// Not written in order: abandons.
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        writer.abandon()
        return writer
    }
}

struct JSONUnkeyedContainer: UnkeyedEncodingContainer {
    let writer: JSONStreamWriter
    let id: UInt32

    var codingPath: [any CodingKey] { writer.codingPath }
    var count: Int { writer.count(of: id) }

    mutating func encodeNil() throws {
        try writer.beginEntry(in: id)
        writer.output.append(literal: "null")
    }
    mutating func encode(_ value: Bool) throws {
        try writer.beginEntry(in: id)
        writer.output.append(value)
    }
    mutating func encode(_ value: String) throws {
        try writer.beginEntry(in: id)
        writer.output.appendQuoted(value)
    }
    mutating func encode(_ value: Double) throws {
        try writer.beginEntry(in: id)
        try writer.writeFloatingPoint(value, key: JSONIndexKey(index: count - 1))
    }
    mutating func encode(_ value: Float) throws {
        try writer.beginEntry(in: id)
        try writer.writeFloatingPoint(value, key: JSONIndexKey(index: count - 1))
    }
    mutating func encode(_ value: Int) throws { try integer(value) }
    mutating func encode(_ value: Int8) throws { try integer(value) }
    mutating func encode(_ value: Int16) throws { try integer(value) }
    mutating func encode(_ value: Int32) throws { try integer(value) }
    mutating func encode(_ value: Int64) throws { try integer(value) }
    mutating func encode(_ value: Int128) throws { try integer(value) }
    mutating func encode(_ value: UInt) throws { try integer(value) }
    mutating func encode(_ value: UInt8) throws { try integer(value) }
    mutating func encode(_ value: UInt16) throws { try integer(value) }
    mutating func encode(_ value: UInt32) throws { try integer(value) }
    mutating func encode(_ value: UInt64) throws { try integer(value) }
    mutating func encode(_ value: UInt128) throws { try integer(value) }

    private func integer<Integer: FixedWidthInteger>(_ value: Integer) throws {
        try writer.beginEntry(in: id)
        writer.output.appendInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try writer.beginEntry(in: id)
        try writer.writeNested(value, key: JSONIndexKey(index: count - 1))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        writer.keyedContainer(keyedBy: NestedKey.self, id: writer.openNested(in: id, key: nil, isObject: true))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        JSONUnkeyedContainer(writer: writer, id: writer.openNested(in: id, key: nil, isObject: false))
    }

    /// Not written in order: abandons.
    mutating func superEncoder() -> any Encoder {
        writer.abandon()
        return writer
    }
}

struct JSONSingleValueContainer: SingleValueEncodingContainer {
    let writer: JSONStreamWriter
    /// The slot this container writes (0: inert).
    let slotID: UInt32

    var codingPath: [any CodingKey] { writer.codingPath }

    mutating func encodeNil() throws { try writer.writeSingle(slot: slotID) { $0.append(literal: "null") } }
    mutating func encode(_ value: Bool) throws { try writer.writeSingle(slot: slotID) { $0.append(value) } }
    mutating func encode(_ value: String) throws { try writer.writeSingle(slot: slotID) { $0.appendQuoted(value) } }
    mutating func encode(_ value: Double) throws { try writer.writeSingle(slot: slotID, value: value) }
    mutating func encode(_ value: Float) throws { try writer.writeSingle(slot: slotID, value: value) }
    mutating func encode(_ value: Int) throws { try integer(value) }
    mutating func encode(_ value: Int8) throws { try integer(value) }
    mutating func encode(_ value: Int16) throws { try integer(value) }
    mutating func encode(_ value: Int32) throws { try integer(value) }
    mutating func encode(_ value: Int64) throws { try integer(value) }
    mutating func encode(_ value: Int128) throws { try integer(value) }
    mutating func encode(_ value: UInt) throws { try integer(value) }
    mutating func encode(_ value: UInt8) throws { try integer(value) }
    mutating func encode(_ value: UInt16) throws { try integer(value) }
    mutating func encode(_ value: UInt32) throws { try integer(value) }
    mutating func encode(_ value: UInt64) throws { try integer(value) }
    mutating func encode(_ value: UInt128) throws { try integer(value) }

    private func integer<Integer: FixedWidthInteger>(_ value: Integer) throws {
        try writer.writeSingle(slot: slotID) { $0.appendInteger(value) }
    }

    mutating func encode<T: Encodable>(_ value: T) throws { try writer.writeSingle(slot: slotID, value: value) }
}
