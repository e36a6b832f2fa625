/// The bytes of a JSON text being written, and how each scalar is spelled in it: as Foundation's
/// `JSONEncoder()` with its default options spells it, so that a service switching encoders
/// changes no scalar a client sees (`StreamingJSONEncoderTests` compares the two over a table of
/// values and random documents).
///
/// - Strings: `"` and `\` escaped, `/` written `\/`, the control characters U+0000–U+001F as
///   `\b \t \n \f \r` or `\u00xx` (lowercase hex); everything else, DEL and non-ASCII included,
///   as its UTF-8 bytes.
/// - Integers: decimal. Floating point: Swift's shortest round-trip `description` without a
///   trailing `.0` (`1`, `0.1`, `1e+20`, `-0`); NaN and infinities are not JSON (the caller
///   throws).
///
/// Storage: one buffer this value owns (noncopyable; freed when it ends), grown geometrically.
/// It is written through a raw pointer because appending to a `[UInt8]` byte by byte cost a
/// uniqueness and a capacity check per call, a quarter of encoding a small document.
/// Invariant: `count <= capacity`, and every write is preceded by `reserve(n)` for the `n` bytes
/// it writes at `base + count`. This file and `JSONScanning` are the module's raw memory (besides
/// the cell `JSONStreamWriter` keeps one in, whose address `JSONWriter` writes through).
///
/// Cost: no allocation unless the buffer grows; a `Double` or `Float` is spelled through its
/// `description`, a small string that needs no allocation.
struct JSONOutput: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    /// Bytes written.
    private(set) var count = 0
    /// Bytes the buffer holds.
    private(set) var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// Forgets the text (keeps the buffer).
    mutating func removeAll() { count = 0 }

    /// Forgets the last `n` bytes of the text (`0 <= n <= count`).
    mutating func removeLast(_ n: Int) {
        precondition(n >= 0 && n <= count, "JSONOutput.removeLast: \(n) of \(count) bytes")
        count -= n
    }

    /// Copies the text into `bytes` (exactly its size).
    func copyText(into bytes: UnsafeMutableBufferPointer<UInt8>) {
        guard let target = bytes.baseAddress, count > 0 else { return }
        target.update(from: base, count: count)
    }

    /// Makes room for `more` bytes after `count`.
    @inline(__always) private mutating func reserve(_ more: Int) {
        if capacity - count < more { grow(toHold: count + more) }
    }

    private mutating func grow(toHold needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always) mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    /// Appends bytes as they are.
    @inline(__always) mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        if bytes.count <= 16 {
            // Keys and short values: a loop is cheaper than calling memmove.
            for offset in 0..<bytes.count { base[count + offset] = source[offset] }
        } else {
            (base + count).update(from: source, count: bytes.count)
        }
        count += bytes.count
    }

    /// Appends an ASCII literal such as `null` or `{}`.
    @inline(__always) mutating func append(literal: StaticString) {
        literal.withUTF8Buffer { append($0) }
    }

    mutating func append(_ value: Bool) { append(literal: value ? "true" : "false") }

    /// Appends a string's UTF-8 bytes as they are (a number's spelling).
    mutating func appendUnquoted(_ text: String) {
        var text = text
        text.withUTF8 { append($0) }
    }

    /// Appends `string` quoted, escaping what JSON and Foundation's spelling require.
    mutating func appendQuoted(_ string: String) {
        // Native Swift strings, small ones included, lend their UTF-8 as is (about a third of
        // what `withUTF8` costs on a small string, which copies it into a mutable variable first).
        if let done: Void = string.utf8.withContiguousStorageIfAvailable({ appendQuoted(utf8: $0) }) { return done }
        var string = string
        string.withUTF8 { appendQuoted(utf8: $0) }
    }

    /// Appends an object member's key quoted and escaped, and returns a 64-bit FNV-1a hash of
    /// its UTF-8 bytes (to notice a key written twice).
    mutating func appendQuotedKey(_ key: String) -> UInt64 {
        if let hash = key.utf8.withContiguousStorageIfAvailable({ appendQuotedKey(utf8: $0) }) { return hash }
        var key = key
        return key.withUTF8 { appendQuotedKey(utf8: $0) }
    }

    /// `appendQuotedKey` once the key's UTF-8 is at hand. A short key without escapes (most) is
    /// hashed from the two words it is written with: a multiply of each (a bijection of each
    /// word) and its length, which tells keys of up to 8 bytes apart exactly; a collision of
    /// longer ones only sends the value to Foundation, as a repeated key would.
    private mutating func appendQuotedKey(utf8: UnsafeBufferPointer<UInt8>) -> UInt64 {
        if utf8.count <= 16, let words = JSONScanning.shortPlainWords(utf8) {
            appendQuoted(shortPlain: words, length: utf8.count)
            return (words.0 &* 0x9E37_79B9_7F4A_7C15) ^ (words.1 &* 0xC2B2_AE3D_27D4_EB4F) ^ UInt64(utf8.count)
        }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        appendQuoted(utf8: utf8)
        return hash
    }

    /// Appends UTF-8 text quoted, escaping what JSON and Foundation's spelling require.
    private mutating func appendQuoted(utf8: UnsafeBufferPointer<UInt8>) {
        let length = utf8.count
        // Keys and short values (at most 16 bytes) without an escape: checked a word at a time
        // and written with two 8-byte stores between the quotes (18 bytes reserved).
        if length <= 16, let words = JSONScanning.shortPlainWords(utf8) {
            appendQuoted(shortPlain: words, length: length)
            return
        }
        // The common case, no escape: both quotes and the bytes in one reservation.
        reserve(length + 2)
        base[count] = Self.quote
        count += 1
        var runStart = 0
        var index = 0
        while true {
            index = JSONScanning.skipPlainBytes(utf8, from: index)
            while index < length && !Self.needsEscape(utf8[index]) { index += 1 }
            guard index < length else { break }
            append(UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            appendEscape(for: utf8[index])
            index += 1
            runStart = index
        }
        append(UnsafeBufferPointer(rebasing: utf8[runStart..<length]))
        append(Self.quote)
    }

    /// Appends a string of `length` (at most 16) bytes that needs no escape, given as the words
    /// `JSONScanning.shortPlainWords` made of it, between quotes: two 8-byte stores (18 bytes
    /// reserved; the bytes past the closing quote are beyond `count`, written over later).
    @inline(__always)
    private mutating func appendQuoted(shortPlain words: (UInt64, UInt64), length: Int) {
        reserve(18)
        let start = UnsafeMutableRawPointer(base + count)
        start.storeBytes(of: Self.quote, as: UInt8.self)
        start.storeBytes(of: words.0, toByteOffset: 1, as: UInt64.self)
        start.storeBytes(of: words.1, toByteOffset: 9, as: UInt64.self)
        start.storeBytes(of: Self.quote, toByteOffset: length + 1, as: UInt8.self)
        count += length + 2
    }

    /// The bytes written escaped: control characters, `"`, `/` and `\`.
    @inline(__always) static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x22 || byte == 0x2F || byte == 0x5C
    }

    /// Appends the escape sequence of a byte `needsEscape` chose.
    private mutating func appendEscape(for byte: UInt8) {
        reserve(6)
        base[count] = Self.backslash
        switch byte {
        case 0x08: base[count + 1] = 0x62  // \b
        case 0x09: base[count + 1] = 0x74  // \t
        case 0x0A: base[count + 1] = 0x6E  // \n
        case 0x0C: base[count + 1] = 0x66  // \f
        case 0x0D: base[count + 1] = 0x72  // \r
        case 0x22, 0x2F, 0x5C: base[count + 1] = byte
        default:
            // \u00xx, lowercase hex: the byte is below 0x20.
            base[count + 1] = 0x75
            base[count + 2] = 0x30
            base[count + 3] = 0x30
            base[count + 4] = 0x30 &+ (byte >> 4)
            let low = byte & 0x0F
            base[count + 5] = low < 10 ? 0x30 &+ low : 0x57 &+ low
            count += 6
            return
        }
        count += 2
    }

    /// Appends an integer in decimal.
    mutating func appendInteger<Integer: FixedWidthInteger>(_ value: Integer) {
        guard Integer.bitWidth <= 64 else {
            appendUnquoted(value.description)
            return
        }
        reserve(20)  // "-9223372036854775808" and "18446744073709551615" have 20
        if value < 0 {
            base[count] = 0x2D
            count += 1
        }
        var magnitude = UInt64(truncatingIfNeeded: value.magnitude)
        var digits = 1
        var rest = magnitude / 10
        while rest != 0 {
            digits += 1
            rest /= 10
        }
        var position = count + digits
        repeat {
            position -= 1
            base[position] = 0x30 &+ UInt8(truncatingIfNeeded: magnitude % 10)
            magnitude /= 10
        } while magnitude != 0
        count += digits
    }

    /// Appends a finite floating-point value; returns false (appending nothing) for NaN and the
    /// infinities, which JSON cannot spell.
    mutating func appendFloatingPoint<Float: BinaryFloatingPoint & LosslessStringConvertible>(_ value: Float) -> Bool {
        guard value.isFinite else { return false }
        var text = value.description
        text.withUTF8 { utf8 in
            var length = utf8.count
            // "1.0" is written "1", as Foundation writes it.
            if length >= 2 && utf8[length - 2] == 0x2E && utf8[length - 1] == 0x30 { length -= 2 }
            append(UnsafeBufferPointer(rebasing: utf8[0..<length]))
        }
        return true
    }

    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
}
