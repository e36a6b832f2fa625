/// The boxes a `JSONStreamWriter` kept around its keyed containers, by key type, to hand out
/// again.
///
/// Every `KeyedEncodingContainer<Key>` wraps the encoder's container in a class instance the
/// standard library allocates (`_KeyedEncodingContainerBox<JSONKeyedContainer<Key>>`). Because
/// `Encodable.encode(to:)` reaches the encoder as `any Encoder`, `container(keyedBy:)` runs
/// unspecialised: making that box costs two generic-metadata lookups in the runtime's caches
/// (the container's type and the box's, ~330 instructions each), a witness-table lookup and an
/// allocation — about 1,000 instructions, more than writing a small object's members. A writer
/// keeps each box it made and hands it out again for the next container with the same key
/// type, once nothing but this list holds it; then one metadata lookup is left (the
/// `KeyedEncodingContainer<Key>` itself, to copy it out).
///
/// A box is shared only by a container handed out and the copies the encoding code made of it.
/// When this list holds the only reference, no code can write through it any more, so giving it
/// a new object to write (`JSONKeyedContainerState.id`) is unobservable. A box still held (an
/// outer container of the same key type, as in recursive types, or one the code kept) is
/// skipped and a new one made.
///
/// Unsafe part, fenced here: the standard library's `KeyedEncodingContainer` is a struct whose
/// one stored property is its box, a class reference (so since Swift 4). The box is taken out
/// of a new container and put back into one with `unsafeBitCast`. Before a box is kept,
/// `container(keyedBy:writer:id:)` checks that the container has a reference's size and
/// alignment; if a toolchain ever changes that, nothing is kept and every container is made new
/// (what happens without this list). Invariant: `entries[i].box` is the box of a `KeyedEncodingContainer` whose key type is
/// the one `entries[i].keyType` names, and that box's container holds `entries[i].state` and the
/// writer whose list this is.
///
/// Cost: up to `limit` boxes per writer (about 100 bytes each), kept with the writer. The boxes
/// hold their writer: `removeAll()` must run before a writer is let go, or the writer and its
/// boxes keep each other alive (`JSONWriterCache` does it).
struct KeyedContainerBoxes {
    private struct Entry {
        let keyType: ObjectIdentifier
        var box: AnyObject
        let state: JSONKeyedContainerState
    }

    private var entries: [Entry] = []

    /// Boxes a writer keeps; containers beyond them (more key types, or deeper recursion of one)
    /// are made new each time.
    static let limit = 32

    /// A keyed container writing object `id` of `writer`: a kept box no one else holds, or a new
    /// one (kept if there is room). Cost: a scan of the kept boxes and one metadata lookup when
    /// a box is reused; ~1,000 instructions and an allocation when one is made.
    mutating func container<Key: CodingKey>(keyedBy keyType: Key.Type, writer: JSONStreamWriter, id: UInt32) -> KeyedEncodingContainer<Key> {
        let key = ObjectIdentifier(keyType)
        var index = 0
        while index < entries.count {
            if entries[index].keyType == key, isKnownUniquelyReferenced(&entries[index].box) {
                entries[index].state.id = id
                return unsafeBitCast(entries[index].box, to: KeyedEncodingContainer<Key>.self)
            }
            index += 1
        }
        let state = JSONKeyedContainerState(id: id)
        let container = KeyedEncodingContainer(JSONKeyedContainer<Key>(writer: writer, state: state))
        if entries.count < Self.limit,
           MemoryLayout<KeyedEncodingContainer<Key>>.size == MemoryLayout<AnyObject>.size,
           MemoryLayout<KeyedEncodingContainer<Key>>.alignment == MemoryLayout<AnyObject>.alignment {
            entries.append(Entry(keyType: key, box: unsafeBitCast(container, to: AnyObject.self), state: state))
        }
        return container
    }

    /// Lets every kept box go (their containers stay usable by whoever still holds them).
    mutating func removeAll() { entries.removeAll() }
}
