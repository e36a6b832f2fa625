import HTTPTypes
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A growable byte buffer the response writer appends to, with a stable address between
/// mutations (so an in-flight send can point at it).
///
/// Memory: one `malloc` at `init`; appends past the capacity `realloc` to double it (amortised
/// O(1)); `removeAll()` keeps the capacity, so a per-connection or per-worker buffer reused
/// across responses stops allocating once it has grown to the largest response head. Owns its
/// memory (`~Copyable`; freed in `deinit`). Not thread-safe.
public struct HTTPOutputBuffer: ~Copyable {
    @usableFromInline var base: UnsafeMutableRawPointer
    /// Bytes written.
    public private(set) var count: Int
    /// Bytes allocated.
    public private(set) var capacity: Int

    /// Allocates `capacity` bytes (at least 64).
    public init(capacity: Int = 4096) {
        let c = max(capacity, 64)
        guard let p = malloc(c) else { fatalError("HTTPOutputBuffer: malloc(\(c)) failed") }
        base = p
        count = 0
        self.capacity = c
    }

    deinit { free(base) }

    /// The bytes written so far. Valid until the next mutation (which may move them). No cost.
    public var readableBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Forgets the contents, keeps the memory. Cost: none.
    public mutating func removeAll() { count = 0 }

    /// Forgets the contents and, when more than `capacityLimit` bytes are allocated (a large
    /// response went through), gives the memory back for a buffer of `smallerCapacity` bytes —
    /// so a pooled buffer does not keep the largest response it ever held. Cost: none within
    /// the limit; a `free` and a `malloc` beyond it.
    public mutating func removeAll(shrinkingAbove capacityLimit: Int, to smallerCapacity: Int) {
        count = 0
        guard capacity > capacityLimit else { return }
        let c = max(smallerCapacity, 64)
        guard let p = malloc(c) else { return }  // keep the larger buffer rather than fail
        free(base)
        base = p
        capacity = c
    }

    /// Drops the first `n` bytes (e.g. after a short write), moving the rest down. Cost: a memmove.
    public mutating func removeFirst(_ n: Int) {
        precondition(n >= 0 && n <= count, "HTTPOutputBuffer.removeFirst(\(n)) with \(count) bytes")
        if n < count { memmove(base, base + n, count - n) }
        count -= n
    }

    /// Makes room for `n` more bytes. Cost: a `realloc` only when the capacity is exceeded.
    public mutating func reserveAdditional(_ n: Int) {
        let needed = count + n
        if needed > capacity { grow(to: needed) }
    }

    @usableFromInline
    mutating func grow(to needed: Int) {
        var c = capacity
        while c < needed { c *= 2 }
        guard let p = realloc(base, c) else { fatalError("HTTPOutputBuffer: realloc(\(c)) failed") }
        base = p
        capacity = c
    }

    /// Appends bytes. Cost: a memcpy (and a realloc when growing).
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        reserveAdditional(bytes.count)
        (base + count).copyMemory(from: src, byteCount: bytes.count)
        count += bytes.count
    }

    /// Appends a static string's UTF-8 bytes. Cost: a memcpy.
    @inline(__always)  // the writer's constants: the call cost as much as the copy
    public mutating func append(_ string: StaticString) {
        append(UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
    }

    /// Appends a String's UTF-8 bytes. No allocation for native or small strings.
    public mutating func append(_ string: String) {
        let done: Void? = string.utf8.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        if done == nil { for b in string.utf8 { append(byte: b) } }
    }

    /// Appends one byte.
    public mutating func append(byte: UInt8) {
        reserveAdditional(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Appends `value` (≥ 0) in decimal. Cost: at most 19 digit stores; no allocation.
    public mutating func append(decimal value: Int) {
        precondition(value >= 0, "HTTPOutputBuffer.append(decimal:) takes a non-negative value")
        var digits = 1
        var v = value
        while v >= 10 { v /= 10; digits += 1 }
        reserveAdditional(digits)
        v = value
        var k = count + digits
        repeat {  // last digit first
            k -= 1
            base.storeBytes(of: UInt8(truncatingIfNeeded: 0x30 + v % 10), toByteOffset: k, as: UInt8.self)
            v /= 10
        } while v > 0
        count += digits
    }

    /// Appends `value` (≥ 0) in lowercase hexadecimal, without leading zeros. No allocation.
    public mutating func append(hex value: Int) {
        precondition(value >= 0, "HTTPOutputBuffer.append(hex:) takes a non-negative value")
        reserveAdditional(16)
        count += Self.writeHex(value, to: base + count)
    }

    /// Writes `value` (≥ 0) in lowercase hexadecimal, without leading zeros, at `destination`
    /// (room for 16 bytes); returns the digits written. The one hex writer of the chunked coding
    /// (`append(hex:)`, `HTTPChunkedEncoder.writeSizeLine`).
    static func writeHex(_ value: Int, to destination: UnsafeMutableRawPointer) -> Int {
        var digits = 1
        while digits < 16 && value >> (4 * digits) != 0 { digits += 1 }
        let hex: StaticString = "0123456789abcdef"
        for k in 0..<digits {
            destination.storeBytes(of: hex.utf8Start[(value >> (4 * (digits - 1 - k))) & 0xF], toByteOffset: k, as: UInt8.self)
        }
        return digits
    }

    /// Appends a field line: `Name: value\r\n` (name as given, value bytes as stored). No
    /// allocation for native or small Strings.
    public mutating func append(_ field: HTTPField) {
        append(field.name.rawName)
        append(": " as StaticString)
        field.withUnsafeBytesOfValue { append(UnsafeRawBufferPointer($0)) }
        append("\r\n" as StaticString)
    }
}
