import Foundation

/// The `Encoder` behind `StreamingJSONEncoder`: writes each value's JSON text the moment it is
/// encoded, instead of building a tree of boxes and serialising it afterwards as Foundation's
/// `JSONEncoder` does.
///
/// That is possible because `Encodable` code writes nested values in order: a value's containers
/// are finished before its parent writes its next key. The writer keeps the open containers
/// (`frames`) as a stack and closes deeper ones when a shallower container writes again. Code
/// that goes back to a container it has left, holds a `superEncoder` for later, or asks one
/// value's encoder for two kinds of container, cannot be written in order: the writer then
/// *abandons* (every later call throws `Abandoned`, non-throwing calls return inert
/// containers), and `StreamingJSONEncoder` encodes the value again with Foundation's encoder.
/// So the bytes are always Foundation's.
///
/// Cost per `encode`: the output array, and for each nested non-scalar value one entry on the key
/// path; the writer, its buffers and the boxes the standard library's `KeyedEncodingContainer`
/// wraps ours in are kept between documents (`JSONWriterCache`, `KeyedContainerBoxes`).
/// Single-threaded: one encode at a time, on the calling thread.
///
/// Its mutable state is marked `@exclusivity(unchecked)`: Swift's run-time check of
/// overlapping accesses to a class's properties cost more than the writing itself (two calls
/// and a thread-local lookup per access, ~45 % of an encode). Invariant that makes dropping it
/// sound: the object is used by one thread, and no access to a property stays open across a
/// call out of this file — the values' `encode(to:)` runs between accesses, never inside one
/// (`writeSingle`'s closure only writes the output it is lent).
final class JSONStreamWriter: Encoder {
    /// Thrown once the value cannot be written in order; the caller falls back to Foundation.
    struct Abandoned: Error {}

    /// A NaN or infinite number, which JSON cannot spell; the caller, who knows the coding
    /// path, turns it into Foundation's `EncodingError`.
    struct NonFiniteNumber: Error {
        let value: any Sendable
        let debugDescription: String

        init<Float: BinaryFloatingPoint & LosslessStringConvertible & Sendable>(_ value: Float) {
            self.value = value
            debugDescription = "Unable to encode \(Float.self).\(value) directly in JSON: JSON has no NaN or infinity."
        }

        func encodingError(codingPath: [any CodingKey]) -> EncodingError {
            .invalidValue(value, .init(codingPath: codingPath, debugDescription: debugDescription))
        }
    }

    /// An open object or array.
    struct Frame {
        /// Which container this is (containers hold it to find their frame).
        let id: UInt32
        let isObject: Bool
        /// Members or elements written so far.
        var count: Int
        /// The key path's length to restore when the frame closes.
        let keyPathCount: Int
        /// Where this object's key fingerprints begin in `memberFingerprints`.
        let fingerprintStart: Int
    }

    /// The value being written: where it began on the frame stack, and what it has written.
    struct Slot {
        let id: UInt32
        /// `frames.count` when the value began: its container, if any, is the frame at this index.
        let depth: Int
        /// The value wrote something (a scalar, or opened its container).
        var filled = false
        /// The container the value opened, if it opened one.
        var container: UInt32 = 0
    }

    /// The text being written, in a cell of its own: the `JSONWritable` writers (`JSONWriter`)
    /// write through its address without touching this object (no reference count per value).
    /// Allocated with the writer, freed with it; the address never changes.
    private let outputCell: UnsafeMutablePointer<JSONOutput>
    /// The text being written (in `outputCell`).
    var output: JSONOutput {
        unsafeAddress { UnsafePointer(outputCell) }
        unsafeMutableAddress { outputCell }
    }
    /// True while an encode uses this writer (`JSONWriterCache`).
    @exclusivity(unchecked) var isLent = false
    /// The writers of encodes nested in the one this (the thread's kept) writer is lent to: held
    /// until that encode ends, so that none is freed while a `JSONWriter` of the thread may point
    /// into it, and handed out again to later nested encodes meanwhile.
    @exclusivity(unchecked) private var nestedWriters: [JSONStreamWriter] = []
    @exclusivity(unchecked) private(set) var frames: [Frame] = []
    @exclusivity(unchecked) private var slot: Slot
    @exclusivity(unchecked) private var keyPath: [any CodingKey] = []
    /// A fingerprint of each key written to the open objects, innermost last: a key written twice
    /// to one object makes the writer abandon, so that Foundation's rule (the last value wins)
    /// decides what is written.
    @exclusivity(unchecked) private var memberFingerprints: [UInt64] = []
    /// For objects with many members, their fingerprints as a set (by frame id).
    @exclusivity(unchecked) private var largeObjectFingerprints: [UInt32: Set<UInt64>] = [:]
    /// Members an object has before its fingerprints go into a set instead of being compared
    /// one by one.
    private static let linearFingerprintLimit = 32
    @exclusivity(unchecked) private var lastID: UInt32 = 1
    /// Boxes of keyed containers to hand out again (their making is most of a small object's
    /// cost). Kept across documents.
    @exclusivity(unchecked) private var keyedBoxes = KeyedContainerBoxes()
    /// The array the last document was handed out in (see `takeText`).
    @exclusivity(unchecked) private var lastText: [UInt8] = []
    /// The value cannot be written in order (see the type's description).
    @exclusivity(unchecked) private(set) var abandoned = false

    @exclusivity(unchecked) private var sendableUserInfo: [CodingUserInfoKey: any Sendable] = [:]
    /// Converted when asked for (most values never ask; the conversion costs ~100 instructions).
    var userInfo: [CodingUserInfoKey: Any] { sendableUserInfo }
    var codingPath: [any CodingKey] { keyPath }

    /// A writer with room for `capacity` bytes of output.
    init(capacity: Int) {
        outputCell = .allocate(capacity: 1)
        outputCell.initialize(to: JSONOutput(capacity: capacity))
        slot = Slot(id: 1, depth: 0)
    }

    deinit {
        outputCell.deinitialize(count: 1)
        outputCell.deallocate()
    }

    /// Where the text is written: for the `JSONWritable` writers of one encode, which this
    /// writer outlives (`JSONWriter`).
    var outputAddress: UnsafeMutablePointer<JSONOutput> { outputCell }

    /// Readies the writer for a new document, keeping the memory its arrays have.
    func reset(userInfo: [CodingUserInfoKey: any Sendable]) {
        output.removeAll()
        resetContainers()
        if !(userInfo.isEmpty && sendableUserInfo.isEmpty) { sendableUserInfo = userInfo }
    }

    /// Readies the writer for a document a `JSONWritable` value writes. A container some code
    /// kept from an earlier document must name nothing here, so that writing through it abandons:
    /// open frames (a document that threw may leave some) are closed, and the slot is a new one,
    /// already filled (a kept single-value container names an older slot, and no container fills
    /// this one). Each `embed` sets up its own containers.
    func resetForWritable(userInfo: [CodingUserInfoKey: any Sendable]) {
        output.removeAll()
        if !frames.isEmpty { resetContainers() }
        slot = Slot(id: nextID(), depth: 0, filled: true)
        if !(userInfo.isEmpty && sendableUserInfo.isEmpty) { sendableUserInfo = userInfo }
    }

    /// Forgets the containers and the slot of the last value written, keeping the output.
    private func resetContainers() {
        // Empty after every finished document; not after one that threw.
        if !frames.isEmpty { frames.removeAll(keepingCapacity: true) }
        if !keyPath.isEmpty { keyPath.removeAll(keepingCapacity: true) }
        if !memberFingerprints.isEmpty { memberFingerprints.removeAll(keepingCapacity: true) }
        if !largeObjectFingerprints.isEmpty { largeObjectFingerprints = [:] }
        // Ids go on from the last document's (not from 1): a container some code kept from an
        // earlier document names no object of this one, so writing through it abandons.
        slot = Slot(id: nextID(), depth: 0)
        abandoned = false
    }

    /// Output capacity a writer may keep between documents (`JSONWriterCache`): larger
    /// buffers are given back to the allocator.
    static let keptCapacity = 64 * 1024

    /// The document's text in an array. The array the previous document went out in is kept:
    /// by the next document the response that carried it has usually been written and let go,
    /// so only this writer holds it, and a text of the same length (documents of one shape, a
    /// service's usual case) is copied into it — no allocation and no free per document (a
    /// tenth of encoding a small object). Otherwise a new array of the text's size, kept in
    /// turn; one still held elsewhere (by the caller, or a response not yet written) is copied
    /// once before it is written over, the standard library's copy on write. A text over
    /// `keptCapacity` is not kept. Cost: a copy of the text; an allocation when the length
    /// changed.
    func takeText() -> [UInt8] {
        let count = output.count
        if lastText.count == count {
            lastText.withUnsafeMutableBufferPointer { output.copyText(into: $0) }
            return lastText
        }
        let text = [UInt8](unsafeUninitializedCapacity: count) { bytes, initialized in
            output.copyText(into: bytes)
            initialized = count
        }
        lastText = count <= Self.keptCapacity ? text : []
        return text
    }

    /// Whether the writer is small enough to keep for the next document.
    var isWorthKeeping: Bool { output.capacity <= Self.keptCapacity && frames.capacity <= 256 }

    private func nextID() -> UInt32 {
        lastID &+= 1
        if lastID == 0 { lastID = 2 }  // 0 marks an inert container
        return lastID
    }

    /// Gives up writing in order (see the type's description).
    func abandon() { abandoned = true }

    // MARK: Values

    /// Writes `value` as the whole document.
    func encodeTopLevel<T: Encodable>(_ value: T) throws {
        try writeValue(value)
        if abandoned { throw Abandoned() }
        if !slot.filled {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
        }
    }

    /// Writes `value` through its `Encodable` conformance after the text written so far, as a
    /// document of its own (a `JSONWritable` value's member that is only `Encodable`): in order
    /// if it can, else Foundation's text of it in its place. A value that encodes nothing is
    /// refused at the top of the document (nothing written before it: every nested place has
    /// at least a `[`, `{` or key before it) and written `{}` inside one, as Foundation does.
    /// The caller's coding path is not known here; an error's path starts at `value`.
    func embed<T: Encodable>(_ value: T) throws {
        let start = output.count
        resetContainers()
        // The containers of `value` are closed, or it threw: a later embed, and any container
        // `value` kept, start from none.
        defer { resetContainers() }
        do {
            if start == 0 {
                try encodeTopLevel(value)
            } else {
                try writeValue(value)
                if abandoned { throw Abandoned() }
                if !slot.filled { output.append(literal: "{}") }
            }
        } catch is Abandoned {
            output.removeLast(output.count - start)
            let foundation = JSONEncoder()
            foundation.userInfo = sendableUserInfo
            let text = try foundation.encode(value)
            text.withUnsafeBytes { output.append($0.bindMemory(to: UInt8.self)) }
        }
    }

    /// Writes a value whose key (or separating comma) is already written, as a new slot.
    /// A value that throws has left its key (and maybe part of itself) in the text: the writer
    /// abandons, so that if the code catches the error and goes on, the document is Foundation's,
    /// which leaves such a member out.
    func writeNested<T: Encodable>(_ value: T, key: any CodingKey) throws {
        do {
            if try writeScalar(value) { return }
        } catch {
            abandon()
            throw error.encodingError(codingPath: keyPath + [key])
        }
        let saved = slot
        slot = Slot(id: nextID(), depth: frames.count)
        keyPath.append(key)
        do {
            try value.encode(to: self)
        } catch {
            abandon()
            throw error
        }
        if abandoned { throw Abandoned() }
        close(downTo: slot.depth)
        // A nested value that encoded nothing is an empty object, as Foundation writes it.
        if !slot.filled { output.append(literal: "{}") }
        keyPath.removeLast()
        slot = saved
    }

    /// Writes `value` into the current slot (the top level, or a single-value container's).
    private func writeValue<T: Encodable>(_ value: T) throws {
        do {
            if try writeScalar(value) {
                slot.filled = true
                return
            }
        } catch {
            throw error.encodingError(codingPath: keyPath)
        }
        try value.encode(to: self)
        if abandoned { throw Abandoned() }
        close(downTo: slot.depth)
    }

    /// Writes `value` if it is a scalar or one of the types Foundation's encoder spells itself
    /// (`Data` as Base64, `URL` as its absolute string, `Decimal` as a number); false otherwise.
    /// Takes no key: the caller puts the coding path into the one error (a key passed as
    /// `(any CodingKey)?` cost ~60 instructions to destroy even when nil, as every top-level
    /// value's was).
    private func writeScalar<T: Encodable>(_ value: T) throws(NonFiniteNumber) -> Bool {
        // Comparing metatypes costs a few instructions each; a failed `as? any Protocol` cast
        // costs hundreds, and most values reaching here are not scalars. Once the metatypes are
        // equal the value is reinterpreted, not cast (`as!` from a generic type is a call into
        // the runtime's dynamic cast, ~100 instructions per array element).
        if T.self == String.self {
            output.appendQuoted(Self.cast(value, to: String.self))
        } else if T.self == Int.self {
            output.appendInteger(Self.cast(value, to: Int.self))
        } else if T.self == Double.self {
            try writeFinite(Self.cast(value, to: Double.self))
        } else if T.self == Bool.self {
            output.append(Self.cast(value, to: Bool.self))
        } else if T.self == Int64.self {
            output.appendInteger(Self.cast(value, to: Int64.self))
        } else if T.self == Float.self {
            try writeFinite(Self.cast(value, to: Float.self))
        } else if T.self == UInt8.self {
            output.appendInteger(Self.cast(value, to: UInt8.self))
        } else if T.self == Int32.self {
            output.appendInteger(Self.cast(value, to: Int32.self))
        } else if T.self == UInt64.self {
            output.appendInteger(Self.cast(value, to: UInt64.self))
        } else if T.self == UInt.self {
            output.appendInteger(Self.cast(value, to: UInt.self))
        } else if T.self == UInt32.self {
            output.appendInteger(Self.cast(value, to: UInt32.self))
        } else if T.self == Int16.self {
            output.appendInteger(Self.cast(value, to: Int16.self))
        } else if T.self == UInt16.self {
            output.appendInteger(Self.cast(value, to: UInt16.self))
        } else if T.self == Int8.self {
            output.appendInteger(Self.cast(value, to: Int8.self))
        } else if T.self == Int128.self {
            output.appendInteger(Self.cast(value, to: Int128.self))
        } else if T.self == UInt128.self {
            output.appendInteger(Self.cast(value, to: UInt128.self))
        } else if T.self == Data.self {
            output.appendQuoted(Self.cast(value, to: Data.self).base64EncodedString())
        } else if T.self == URL.self {
            output.appendQuoted(Self.cast(value, to: URL.self).absoluteString)
        } else if T.self == Decimal.self {
            output.appendUnquoted(Self.cast(value, to: Decimal.self).description)
        } else {
            return false
        }
        return true
    }

    /// `value` as the type it is, known by the caller's metatype comparison. Invariant: `T.self
    /// == Scalar.self` (checked in debug builds), so the two are one type and the bits are that
    /// type's value; `unsafeBitCast` copies it with its reference count as `as!` would.
    @inline(__always)
    private static func cast<T, Scalar>(_ value: T, to type: Scalar.Type) -> Scalar {
        assert(T.self == Scalar.self)
        return unsafeBitCast(value, to: Scalar.self)
    }

    /// Writes a number of a container's member or element (`key`): JSON has no NaN or infinity.
    /// A refused number abandons (its key is written already; see `writeNested`).
    func writeFloatingPoint<Float: BinaryFloatingPoint & LosslessStringConvertible & Sendable>(_ value: Float, key: any CodingKey) throws {
        do {
            try writeFinite(value)
        } catch {
            abandon()
            throw error.encodingError(codingPath: keyPath + [key])
        }
    }

    /// Writes `value`, or throws if JSON cannot spell it (NaN, infinity).
    private func writeFinite<Float: BinaryFloatingPoint & LosslessStringConvertible & Sendable>(_ value: Float) throws(NonFiniteNumber) {
        guard output.appendFloatingPoint(value) else { throw NonFiniteNumber(value) }
    }

    // MARK: Containers

    /// Opens the current slot's container (`{` or `[`), or returns the one it opened already
    /// (asking twice for the same kind is allowed); 0 (an inert container) after abandoning.
    func openContainer(isObject: Bool) -> UInt32 {
        guard !abandoned else { return 0 }
        if slot.filled {
            guard slot.container != 0, let index = frameIndex(of: slot.container),
                  frames[index].isObject == isObject else {
                abandon()
                return 0
            }
            close(downTo: index + 1)
            return slot.container
        }
        let id = nextID()
        output.append(isObject ? 0x7B : 0x5B)
        frames.append(Frame(id: id, isObject: isObject, count: 0, keyPathCount: keyPath.count,
                            fingerprintStart: memberFingerprints.count))
        slot.filled = true
        slot.container = id
        return id
    }

    /// Opens a container as the next member or element of container `parent`, after its key.
    func openNested(in parent: UInt32, key: (any CodingKey)?, isObject: Bool) -> UInt32 {
        do {
            if let key { try beginMember(in: parent, key: key) } else { try beginEntry(in: parent) }
        } catch {
            abandon()
            return 0
        }
        let id = nextID()
        let keyPathCount = keyPath.count
        if let key { keyPath.append(key) }
        output.append(isObject ? 0x7B : 0x5B)
        frames.append(Frame(id: id, isObject: isObject, count: 0, keyPathCount: keyPathCount,
                            fingerprintStart: memberFingerprints.count))
        return id
    }

    /// Prepares object `id` for its next member: `beginEntry`, then the key and the colon.
    func beginMember<Key: CodingKey>(in id: UInt32, key: Key) throws {
        let index = try beginEntry(in: id)
        let fingerprint = output.appendQuotedKey(key.stringValue)
        guard noteMember(fingerprint, frameIndex: index) else {
            abandon()
            throw Abandoned()
        }
        output.append(0x3A)
    }

    /// Records a key of the object at `frameIndex` (the innermost open frame); false if the
    /// object may have that key already (equal fingerprints: Foundation decides).
    private func noteMember(_ fingerprint: UInt64, frameIndex index: Int) -> Bool {
        let start = frames[index].fingerprintStart
        if memberFingerprints.count - start < Self.linearFingerprintLimit {
            var position = start
            while position < memberFingerprints.count {
                if memberFingerprints[position] == fingerprint { return false }
                position += 1
            }
        } else {
            let id = frames[index].id
            if largeObjectFingerprints[id] == nil { largeObjectFingerprints[id] = Set(memberFingerprints[start...]) }
            guard largeObjectFingerprints[id]!.insert(fingerprint).inserted else { return false }
        }
        memberFingerprints.append(fingerprint)
        return true
    }

    /// Prepares container `id` for its next member or element: closes the containers nested in
    /// it (they are finished) and writes the comma. Abandons if the container is not open or
    /// belongs to a value other than the one being written.
    @discardableResult
    func beginEntry(in id: UInt32) throws -> Int {
        guard !abandoned else { throw Abandoned() }
        var index = frames.count - 1
        if index < slot.depth || frames[index].id != id {
            guard let found = frameIndex(of: id) else {
                abandon()
                throw Abandoned()
            }
            index = found
            close(downTo: index + 1)
        }
        if frames[index].count > 0 { output.append(0x2C) }
        frames[index].count += 1
        return index
    }

    /// The members or elements container `id` has, or 0 if it is not open.
    func count(of id: UInt32) -> Int {
        frameIndex(of: id).map { frames[$0].count } ?? 0
    }

    /// Where container `id` is on the stack, if it is open and belongs to the value being written.
    private func frameIndex(of id: UInt32) -> Int? {
        var index = frames.count - 1
        while index >= slot.depth {
            if frames[index].id == id { return index }
            index -= 1
        }
        return nil
    }

    /// Closes the open containers above stack index `depth`, writing `}` or `]` for each.
    private func close(downTo depth: Int) {
        while frames.count > depth {
            let frame = frames.removeLast()
            output.append(frame.isObject ? 0x7D : 0x5D)
            if memberFingerprints.count > frame.fingerprintStart {
                if memberFingerprints.count - frame.fingerprintStart >= Self.linearFingerprintLimit {
                    largeObjectFingerprints[frame.id] = nil
                }
                repeat { memberFingerprints.removeLast() } while memberFingerprints.count > frame.fingerprintStart
            }
            while keyPath.count > frame.keyPathCount { keyPath.removeLast() }
        }
    }

    // MARK: Single values

    /// Writes a scalar through a single-value container of slot `slotID`.
    func writeSingle(slot slotID: UInt32, _ write: (inout JSONOutput) throws -> Void) throws {
        guard !abandoned else { throw Abandoned() }
        guard slot.id == slotID, !slot.filled, frames.count == slot.depth else {
            abandon()
            throw Abandoned()
        }
        try write(&output)
        slot.filled = true
    }

    /// Writes an `Encodable` through a single-value container of slot `slotID`: the value fills
    /// the same slot.
    func writeSingle<T: Encodable>(slot slotID: UInt32, value: T) throws {
        guard !abandoned else { throw Abandoned() }
        guard slot.id == slotID, !slot.filled, frames.count == slot.depth else {
            abandon()
            throw Abandoned()
        }
        do {
            try writeValue(value)
        } catch {
            // Part of it may be written: see `writeNested`.
            abandon()
            throw error
        }
        // A value that wrote nothing through a single-value container: Foundation's business.
        guard slot.filled else {
            abandon()
            throw Abandoned()
        }
    }

    var currentSlotID: UInt32 { slot.id }

    // MARK: Encoder

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        keyedContainer(keyedBy: type, id: openContainer(isObject: true))
    }

    /// A keyed container writing object `id`, in a box this writer kept if one is free
    /// (`KeyedContainerBoxes`).
    func keyedContainer<Key: CodingKey>(keyedBy type: Key.Type, id: UInt32) -> KeyedEncodingContainer<Key> {
        keyedBoxes.container(keyedBy: type, writer: self, id: id)
    }

    /// Lets the kept container boxes go: they hold this writer, so it must run before the writer
    /// is let go (`JSONWriterCache`), or the two keep each other alive.
    func releaseKeptContainers() {
        keyedBoxes.removeAll()
        releaseNestedWriters()
    }

    /// A writer for an encode nested in the one this writer is lent to: one not lent of those it
    /// holds, or a new one (with room for `capacity` bytes) that it holds from now on.
    func nestedWriter(capacity: Int) -> JSONStreamWriter {
        for writer in nestedWriters where !writer.isLent { return writer }
        let writer = JSONStreamWriter(capacity: capacity)
        nestedWriters.append(writer)
        return writer
    }

    /// Lets the nested encodes' writers go (once the encode this writer was lent to has ended).
    /// Inlined: after most encodes there are none, and the check is all there is.
    @inline(__always) func releaseNestedWriters() {
        if !nestedWriters.isEmpty { releaseEveryNestedWriter() }
    }

    private func releaseEveryNestedWriter() {
        for writer in nestedWriters { writer.releaseKeptContainers() }
        nestedWriters.removeAll()
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        JSONUnkeyedContainer(writer: self, id: openContainer(isObject: false))
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        JSONSingleValueContainer(writer: self, slotID: abandoned ? 0 : slot.id)
    }
}

/// A coding key for an array element (what `codingPath` shows for it), as Foundation's is.
struct JSONIndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(index: Int) { intValue = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.intValue = intValue }
}

/// The key `superEncoder()` uses, as in Foundation.
struct JSONSuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) {}
    init?(intValue: Int) { return nil }
}
