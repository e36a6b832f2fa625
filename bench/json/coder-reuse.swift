// Which JSONEncoder/JSONDecoder should a response use: a new one per operation, one kept per
// thread (in Foundation's `Thread.current.threadDictionary`), or one shared by every thread
// (Foundation's coders are Sendable: their options sit behind a lock)? Spindle's `Response.json`
// and `Request.decode` use the fastest; Docs/benchmarks/json.md quotes the result.
//
// Build and run: `make -C bench json` (swiftc -O against SpindleJSON built whole-module as a
// module of its own, as in a server; pinned to two CPUs, which the two-thread cases use). Each
// comparison runs its variants in rotating turns (A, B, C, A, B, C, …), so load that comes and
// goes from other processes falls on all of them alike; each turn is `iterations` operations,
// and the median turn and the range are printed, in
// nanoseconds per operation (per operation per thread for the two-thread cases).
//
// `coder-reuse floor [--quick]` (what `make -C bench peers` runs, pinned to the servers' CPU):
// the message encoded by `FloorEncoder`, an encoder that writes nothing, by
// `StreamingJSONEncoder()` through `Encodable`, and by `StreamingJSONEncoder()` through the
// message's `JSONWritable` twin (what Examples/Hello's /json does), in interleaved turns; one line
// of median ns per encode of each.
import Foundation
import SpindleJSON

struct Message: Codable { let message: String }

struct Item: Codable {
    let id: Int
    let name: String
    let price: Double
    let tags: [String]
    let available: Bool
}

struct Page: Codable {
    let items: [Item]
    let total: Int
    let next: String?
}

/// `Message` writing its own text (`JSONWritable`): what Examples/Hello's /json encodes.
struct WritableMessage: JSONWritable {
    let message: String
    func writeJSON(to json: inout JSONWriter) {
        json.writeObject { $0.write("message", message) }
    }
}

/// `Item` and `Page` writing their own text, member for member their `Encodable` text.
struct WritableItem: JSONWritable {
    let id: Int
    let name: String
    let price: Double
    let tags: [String]
    let available: Bool
    func writeJSON(to json: inout JSONWriter) throws {
        try json.writeObject { object in
            object.write("id", id)
            object.write("name", name)
            try object.write("price", price)
            try object.write("tags", tags)
            object.write("available", available)
        }
    }
}

struct WritablePage: JSONWritable {
    let items: [WritableItem]
    let total: Int
    let next: String?
    func writeJSON(to json: inout JSONWriter) throws {
        try json.writeObject { object in
            try object.write("items", items)
            object.write("total", total)
            try object.writeIfPresent("next", next)
        }
    }
}

let writablePage = WritablePage(items: (0..<20).map { WritableItem(id: $0, name: "item number \($0)", price: Double($0) * 1.25,
                                                                   tags: ["a", "bb", "ccc"], available: $0 % 2 == 0) },
                                total: 20, next: "/items?page=2")
let writableMessage = WritableMessage(message: "Hello, World!")

let page = Page(items: (0..<20).map { Item(id: $0, name: "item number \($0)", price: Double($0) * 1.25,
                                           tags: ["a", "bb", "ccc"], available: $0 % 2 == 0) },
                total: 20, next: "/items?page=2")
let message = Message(message: "Hello, World!")

enum Key {
    static let encoder = "bench.jsonEncoder"
    static let decoder = "bench.jsonDecoder"
}

/// The calling thread's encoder, made on first use.
@inline(never)
func threadEncoder() -> JSONEncoder {
    let dictionary = Thread.current.threadDictionary
    if let encoder = dictionary[Key.encoder] as? JSONEncoder { return encoder }
    let encoder = JSONEncoder()
    dictionary[Key.encoder] = encoder
    return encoder
}

/// The calling thread's decoder, made on first use.
@inline(never)
func threadDecoder() -> JSONDecoder {
    let dictionary = Thread.current.threadDictionary
    if let decoder = dictionary[Key.decoder] as? JSONDecoder { return decoder }
    let decoder = JSONDecoder()
    dictionary[Key.decoder] = decoder
    return decoder
}

enum Shared {
    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()
}

enum Floor {
    /// Used by one thread only (the one-thread comparison and `floor`), so its `sink` is not shared.
    nonisolated(unsafe) static let encoder = FloorEncoder()
}

/// An encoder that writes nothing: the floor of any `Encoder` for the message, what Codable's own
/// dispatch costs before a byte is written. It does only what the protocol forces.
/// `Message.encode(to:)` (synthesized) reaches it as `any Encoder` and asks for a keyed
/// container; `container(keyedBy:)` runs as generic code for the key type and must return a
/// `KeyedEncodingContainer<Key>`, whose metadata the runtime looks up (a generic-metadata cache
/// lookup per object); the container's `encode(_:forKey:)` goes through the standard library's
/// box (`_KeyedEncodingContainerBox`, a class) to `FloorKeyedContainer.encode(_:forKey:)`, which
/// adds the value's and the key's UTF-8 lengths to `sink` so that neither is optimised away.
///
/// Like `StreamingJSONEncoder`'s writer (`Sources/SpindleJSON/KeyedContainerBoxes.swift`) it keeps
/// the box of each container it made, by key type, and hands it out again once nothing else
/// holds it: no allocation per document. `encode(_:)` is not specialised for the value's type,
/// as `StreamingJSONEncoder.encode` is not in a server (it is compiled in another module than
/// the value's type), so the value's `encode(to:)` is reached through its witness table.
/// Its two stored properties are `@exclusivity(unchecked)`: the runtime's exclusivity checks on
/// them (swift_beginAccess, a third of its cost otherwise) are not the protocol's. The kept
/// boxes hold the encoder: it lives as long as the process (one per run).
final class FloorEncoder: Encoder {
    private struct Kept {
        let keyType: ObjectIdentifier
        var box: AnyObject
    }

    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    /// What the containers touched: the UTF-8 lengths of the values and keys they were given.
    @exclusivity(unchecked) var sink = 0
    @exclusivity(unchecked) private var kept: [Kept] = []

    /// Encodes `value` and returns `sink`. Never specialised (nor inlined), so that the value's
    /// `encode(to:)` cannot be inlined here and its calls to this encoder devirtualised.
    @inline(never) @_semantics("optimize.sil.specialize.generic.never")
    func encode<T: Encodable>(_ value: T) throws -> Int {
        sink = 0
        try value.encode(to: self)
        return sink
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let key = ObjectIdentifier(type)
        var index = 0
        while index < kept.count {
            if kept[index].keyType == key, isKnownUniquelyReferenced(&kept[index].box) {
                return unsafeBitCast(kept[index].box, to: KeyedEncodingContainer<Key>.self)
            }
            index += 1
        }
        let container = KeyedEncodingContainer(FloorKeyedContainer<Key>(encoder: self))
        // The container is a struct whose one stored property is its box (checked as KeyedContainerBoxes does).
        if MemoryLayout<KeyedEncodingContainer<Key>>.size == MemoryLayout<AnyObject>.size,
           MemoryLayout<KeyedEncodingContainer<Key>>.alignment == MemoryLayout<AnyObject>.alignment {
            kept.append(Kept(keyType: key, box: unsafeBitCast(container, to: AnyObject.self)))
        }
        return container
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        preconditionFailure("FloorEncoder encodes objects of strings only (the message)")
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        preconditionFailure("FloorEncoder encodes objects of strings only (the message)")
    }
}

/// `FloorEncoder`'s keyed container: touches what it is given, writes nothing.
struct FloorKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: FloorEncoder
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws { encoder.sink &+= key.stringValue.utf8.count }
    mutating func encode(_ value: String, forKey key: Key) throws {
        encoder.sink &+= value.utf8.count &+ key.stringValue.utf8.count
    }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        encoder.sink &+= key.stringValue.utf8.count
        try value.encode(to: encoder)
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        encoder.container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { encoder.unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { encoder }
    mutating func superEncoder(forKey key: Key) -> any Encoder { encoder }
}

/// One way of doing the operation: a name and the operation (returning something to keep).
struct Variant {
    let name: String
    let body: @Sendable () throws -> Int
}

/// Runs the variants in `turns` rotating turns of `iterations` operations each (on `threads`
/// threads at once, each doing `iterations`) after a warm-up; returns each variant's turns,
/// sorted, in nanoseconds per operation (wall time, per thread).
func measure(iterations: Int, turns: Int, threads: Int = 1, _ variants: [Variant]) throws -> [[Double]] {
    var samples = Array(repeating: [Double](), count: variants.count)
    let clock = ContinuousClock()
    for turn in -1..<turns {  // turn -1 warms up
        for (index, variant) in variants.enumerated() {
            let count = turn < 0 ? max(iterations / 10, 1) : iterations
            let start = clock.now
            if threads == 1 {
                var sink = 0
                for _ in 0..<count { sink &+= try variant.body() }
                if sink == 42 { print(" ") }
            } else {
                DispatchQueue.concurrentPerform(iterations: threads) { _ in
                    var sink = 0
                    for _ in 0..<count { sink &+= (try? variant.body()) ?? 0 }
                    if sink == 42 { print(" ") }
                }
            }
            let (seconds, attoseconds) = (clock.now - start).components
            if turn >= 0 { samples[index].append((Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(count)) }
        }
    }
    return samples.map { $0.sorted() }
}

/// The median of sorted turns (the upper one of the middle two for an even count).
func median(_ sorted: [Double]) -> Double { sorted[sorted.count / 2] }

/// `measure`, then prints each variant's median nanoseconds per operation and its range.
func compare(_ title: String, iterations: Int, turns: Int, threads: Int = 1, _ variants: [Variant]) throws {
    print(title)
    let samples = try measure(iterations: iterations, turns: turns, threads: threads, variants)
    for (variant, sorted) in zip(variants, samples) {
        print("  " + variant.name.padding(toLength: 30, withPad: " ", startingAt: 0)
              + String(format: "%9.1f ns   (%.1f–%.1f)", median(sorted), sorted.first!, sorted.last!))
    }
}

/// `coder-reuse floor`: the message encoded by `FloorEncoder` and by `StreamingJSONEncoder()`,
/// interleaved (`measure`'s rotating turns), on the calling thread; prints one line,
///
///     floor turns=T iterations=N floor_ns=M floor_min_ns=A floor_max_ns=B streaming_ns=M streaming_min_ns=A streaming_max_ns=B writable_ns=M writable_min_ns=A writable_max_ns=B
///
/// the medians and ranges of the turns in ns per encode (what `make -C bench peers` reads).
func floor(quick: Bool) throws {
    let (iterations, turns) = quick ? (100_000, 3) : (1_000_000, 7)
    let samples = try measure(iterations: iterations, turns: turns, [
        Variant(name: "FloorEncoder") { try Floor.encoder.encode(message) },
        Variant(name: "StreamingJSONEncoder()") { try StreamingJSONEncoder().encode(message).count },
        Variant(name: "Streaming, JSONWritable") { try StreamingJSONEncoder().encode(writableMessage).count },
    ])
    var line = "floor turns=\(turns) iterations=\(iterations)"
    for (name, sorted) in zip(["floor", "streaming", "writable"], samples) {
        line += String(format: " %@_ns=%.1f %@_min_ns=%.1f %@_max_ns=%.1f", name, median(sorted), name, sorted.first!,
                       name, sorted.last!)
    }
    print(line)
}

@main
struct CoderReuse {
    static func main() throws {
        let quick = CommandLine.arguments.contains("--quick")
        // The JSONWritable rows write the same text as the Codable rows, or they compare nothing.
        let same = try StreamingJSONEncoder().encode(writableMessage) == StreamingJSONEncoder().encode(message)
            && StreamingJSONEncoder().encode(writablePage) == StreamingJSONEncoder().encode(page)
        precondition(same, "the JSONWritable types' text differs from their Codable twins'")
        if CommandLine.arguments.dropFirst().first == "floor" {
            try floor(quick: quick)
            return
        }
        let iterations = quick ? 2_000 : 100_000
        let turns = quick ? 3 : 15
        print("JSON coders: a new one per operation, one per thread (threadDictionary), one shared; Spindle's StreamingJSONEncoder; an encoder that writes nothing (Codable's floor)")
        print("\(turns) rotating turns of \(iterations) operations (÷10 for the page); median ns per operation (min–max)\n")

        let messageData = try JSONEncoder().encode(message)
        let pageData = try JSONEncoder().encode(page)
        print("payloads: message \(messageData.count) B, page \(pageData.count) B\n")

        try compare("creating or finding a coder, nothing else", iterations: iterations, turns: turns, [
            Variant(name: "JSONEncoder()") { withExtendedLifetime(JSONEncoder()) { 1 } },
            Variant(name: "JSONDecoder()") { withExtendedLifetime(JSONDecoder()) { 1 } },
            Variant(name: "per-thread lookup") { withExtendedLifetime(threadEncoder()) { 1 } },
        ])
        try compare("encode message", iterations: iterations, turns: turns, [
            Variant(name: "new JSONEncoder()") { try JSONEncoder().encode(message).count },
            Variant(name: "per-thread encoder") { try threadEncoder().encode(message).count },
            Variant(name: "one shared encoder") { try Shared.encoder.encode(message).count },
            Variant(name: "StreamingJSONEncoder()") { try StreamingJSONEncoder().encode(message).count },
            Variant(name: "Codable floor (writes nothing)") { try Floor.encoder.encode(message) },
            Variant(name: "Streaming, JSONWritable") { try StreamingJSONEncoder().encode(writableMessage).count },
        ])
        try compare("encode page", iterations: iterations / 10, turns: turns, [
            Variant(name: "new JSONEncoder()") { try JSONEncoder().encode(page).count },
            Variant(name: "per-thread encoder") { try threadEncoder().encode(page).count },
            Variant(name: "one shared encoder") { try Shared.encoder.encode(page).count },
            Variant(name: "StreamingJSONEncoder()") { try StreamingJSONEncoder().encode(page).count },
            Variant(name: "Streaming, JSONWritable") { try StreamingJSONEncoder().encode(writablePage).count },
        ])
        try compare("decode message", iterations: iterations, turns: turns, [
            Variant(name: "new JSONDecoder()") { try JSONDecoder().decode(Message.self, from: messageData).message.utf8.count },
            Variant(name: "per-thread decoder") { try threadDecoder().decode(Message.self, from: messageData).message.utf8.count },
            Variant(name: "one shared decoder") { try Shared.decoder.decode(Message.self, from: messageData).message.utf8.count },
        ])
        try compare("decode page", iterations: iterations / 10, turns: turns, [
            Variant(name: "new JSONDecoder()") { try JSONDecoder().decode(Page.self, from: pageData).total },
            Variant(name: "per-thread decoder") { try threadDecoder().decode(Page.self, from: pageData).total },
            Variant(name: "one shared decoder") { try Shared.decoder.decode(Page.self, from: pageData).total },
        ])
        try compare("encode message on two threads at once", iterations: iterations, turns: turns, threads: 2, [
            Variant(name: "new JSONEncoder()") { try JSONEncoder().encode(message).count },
            Variant(name: "per-thread encoder") { try threadEncoder().encode(message).count },
            Variant(name: "one shared encoder") { try Shared.encoder.encode(message).count },
            Variant(name: "StreamingJSONEncoder()") { try StreamingJSONEncoder().encode(message).count },
        ])
    }
}
