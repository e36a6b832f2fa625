import Foundation

/// Encodes `Encodable` values to JSON bytes — the same bytes as Foundation's `JSONEncoder()`
/// with its default options, written as the value encodes instead of through an intermediate
/// tree. `Response.json` uses it.
///
/// Same bytes: keys in the order the value encodes them, no whitespace, `/` escaped as `\/`,
/// `Date` as its seconds since 2001 (`deferredToDate`), `Data` as Base64, `URL` as its absolute
/// string, `Decimal` as a number, NaN and infinities refused with `EncodingError.invalidValue`,
/// a top-level value that encodes nothing refused. For other options (sorted keys, pretty
/// printing, date or key strategies) use Foundation's `JSONEncoder` (`Response.json(_:encoder:)`).
///
/// Values whose `encode(to:)` does not write in order — returns to a container after writing a
/// sibling, uses `superEncoder`, or asks one encoder for two kinds of container — are encoded a
/// second time by Foundation's `JSONEncoder`, so their `encode(to:)` runs twice. Synthesized
/// conformances (structs, enums with associated values, `Array`, `Dictionary`, `Optional`)
/// always write in order.
///
/// Cost: the returned array, allocated only when the text's length differs from the thread's
/// previous document's or that one's array is still held elsewhere; the writer, its buffers,
/// that last array and the standard library's boxes around its keyed containers are kept per
/// thread between encodes (up to 64 KiB of output buffer and 32 boxes each). Several times less than
/// Foundation's encoder for small documents (`Docs/benchmarks/json.md`). Runs on the calling
/// thread, never parks; a value may be encoded from any thread.
public struct StreamingJSONEncoder: Sendable {
    /// Passed to the values' `encode(to:)` as `encoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable]

    /// The output buffer's first capacity when the thread has no writer kept yet; it grows as
    /// needed.
    public var initialCapacity: Int

    /// An encoder with no user info; the output starts with room for `initialCapacity` bytes.
    /// (The default is `Dictionary()`, the shared empty dictionary, rather than the literal
    /// `[:]`, which builds an empty variadic array and a dictionary from it in every caller.)
    public init(userInfo: [CodingUserInfoKey: any Sendable] = Dictionary(), initialCapacity: Int = 128) {
        self.userInfo = userInfo
        self.initialCapacity = max(initialCapacity, 0)
    }

    /// The JSON text of `value`, UTF-8. Throws `EncodingError` as `JSONEncoder.encode` does, and
    /// whatever the value's `encode(to:)` throws.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let written: [UInt8]? = try JSONWriterCache.withWriter(capacity: initialCapacity) { writer in
            writer.reset(userInfo: userInfo)
            do {
                try writer.encodeTopLevel(value)
                // A copy of the text: the writer keeps its buffer for the next one.
                return writer.abandoned ? nil : writer.takeText()
            } catch is JSONStreamWriter.Abandoned {
                return nil  // not written in order: Foundation's encoder below
            }
        }
        if let written { return written }
        let foundation = JSONEncoder()
        foundation.userInfo = userInfo
        return Array(try foundation.encode(value))
    }

    /// The JSON text of `value`, written by its own `writeJSON(to:)` (the overload chosen when
    /// the value's static type is `JSONWritable`): no `Encodable` dispatch. `userInfo` reaches
    /// the values it writes with `writeEncodable`. Throws what `writeJSON` throws. Cost: the
    /// returned array, as above; the writing itself is a few nanoseconds per member.
    public func encode<T: JSONWritable>(_ value: T) throws -> [UInt8] {
        try JSONWriterCache.withWriter(capacity: initialCapacity) { writer in
            writer.resetForWritable(userInfo: userInfo)
            try JSONWriter.writeDocument(value, into: writer)
            return writer.takeText()
        }
    }
}
