// The byte-class lookup table every scanning loop uses: one load and one AND per byte instead of
// a chain of comparisons. Built once per process (256 bytes, never freed).

/// ASCII bytes the parser and writer name.
@usableFromInline
enum ASCII {
    @usableFromInline static let cr: UInt8 = 0x0D
    @usableFromInline static let lf: UInt8 = 0x0A
    @usableFromInline static let sp: UInt8 = 0x20
    @usableFromInline static let htab: UInt8 = 0x09
    @usableFromInline static let colon: UInt8 = 0x3A
    @usableFromInline static let semicolon: UInt8 = 0x3B
    @usableFromInline static let comma: UInt8 = 0x2C
    @usableFromInline static let slash: UInt8 = 0x2F
    @usableFromInline static let asterisk: UInt8 = 0x2A
    @usableFromInline static let question: UInt8 = 0x3F
    @usableFromInline static let zero: UInt8 = 0x30

    /// `c` lowercased if it is an ASCII capital letter.
    @inlinable @inline(__always)
    static func lower(_ c: UInt8) -> UInt8 { c &- 0x41 < 26 ? c | 0x20 : c }
}

/// Bit flags per byte value.
@usableFromInline
enum ByteClass {
    /// tchar (RFC 9110 §5.6.2): method, field names, transfer codings, connection options.
    static let token: UInt8 = 0x01
    /// field-vchar / obs-text / SP / HTAB: what a field value may contain.
    static let fieldValue: UInt8 = 0x02
    /// Visible ASCII (0x21–0x7E): what a request-target may contain.
    static let visible: UInt8 = 0x04
    /// HEXDIG.
    static let hex: UInt8 = 0x08
    /// uri-host / port characters: unreserved, sub-delims, `%`, `:`, `[`, `]`.
    static let host: UInt8 = 0x10
    /// SP and HTAB (OWS).
    static let whitespace: UInt8 = 0x20
    /// What a request-target may contain: visible ASCII except `#` (a fragment is never sent).
    static let target: UInt8 = 0x40

    /// The table: `table[byte] & flag != 0` when `byte` is in the class. Read once per parse
    /// call into a local; the lazy global's initialisation check happens there, not per byte.
    // nonisolated(unsafe): written once by the lazy initialiser, read-only afterwards.
    nonisolated(unsafe) static let table: UnsafePointer<UInt8> = {
        let t = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        t.initialize(repeating: 0, count: 256)
        func set(_ bytes: String, _ flag: UInt8) { for b in bytes.utf8 { t[Int(b)] |= flag } }
        let alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        let digit = "0123456789"
        set(alpha + digit + "!#$%&'*+-.^_`|~", token)
        for b in 0x21...0x7E { t[b] |= visible | fieldValue | target }
        t[0x23] &= ~target  // '#'
        for b in 0x80...0xFF { t[b] |= fieldValue }
        t[Int(ASCII.sp)] |= fieldValue | whitespace
        t[Int(ASCII.htab)] |= fieldValue | whitespace
        set(digit + "abcdefABCDEF", hex)
        set(alpha + digit + "-._~!$&'()*+,;=%:[]", host)
        return UnsafePointer(t)
    }()

    /// Whether `byte` is a tchar (RFC 9110 §5.6.2): what tokens (field names, codings, cookie
    /// names) are made of. One table load.
    @inline(__always)
    static func isToken(_ byte: UInt8) -> Bool { table[Int(byte)] & token != 0 }

    /// The value of a hex digit, or nil.
    @inline(__always)
    static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 0x30...0x39: return Int(c &- 0x30)
        case 0x41...0x46: return Int(c &- 0x41 &+ 10)
        case 0x61...0x66: return Int(c &- 0x61 &+ 10)
        default: return nil
        }
    }
}

/// Eight-bytes-at-a-time skipping for the long scans (field values, request-targets, and field
/// names while they are letters and `-`).
/// Each returns the index of the first byte in `i..<stop` that may end the run — found in the
/// word holding it, from its lowest flagged byte — or the start of `stop`'s last partial word;
/// the byte-class loop after it checks from there. The flags are exact existence tests ("some
/// byte < 0x20", "some byte == n"), and the lowest flagged byte of a word is exact too (a borrow
/// only carries a flag upwards, from a byte that is flagged itself), so no stop byte is ever
/// skipped.
enum SWAR {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080

    /// The high bit of each byte of `w` below `n` (n ≤ 128); exact up to the lowest one.
    @inline(__always) static func less(_ w: UInt64, _ n: UInt64) -> UInt64 { (w &- ones &* n) & ~w & highs }
    /// The high bit of each byte of `w` equal to `n`; exact up to the lowest one.
    @inline(__always) static func equal(_ w: UInt64, _ n: UInt64) -> UInt64 {
        let x = w ^ (ones &* n)
        return (x &- ones) & ~x & highs
    }


    /// Skips bytes that are certainly field-value bytes: no control byte, no DEL. (HTAB, which
    /// is allowed, also stops the fast path; the byte loop then takes over.)
    @inline(__always)
    static func skipFieldValue(_ p: UnsafePointer<UInt8>, _ i: Int, _ stop: Int) -> Int {
        var i = i
        let raw = UnsafeRawPointer(p)
        while i + 8 <= stop {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let flags = less(w, 0x20) | equal(w, 0x7F)
            if flags != 0 { return i + flags.trailingZeroBitCount / 8 }
            i += 8
        }
        return i
    }

    /// Skips bytes that are certainly field-name bytes: ASCII letters and `-`, the bytes of
    /// almost every name. Unlike the other skips, each byte's test is exact (no byte reaches the
    /// additions with its high bit set, so nothing carries between bytes), so the result is the
    /// first byte that is not a letter or `-`; the byte-class loop after it checks the rest.
    /// About two instructions a byte.
    @inline(__always)
    static func skipNameLetters(_ p: UnsafePointer<UInt8>, _ i: Int, _ stop: Int) -> Int {
        var i = i
        let raw = UnsafeRawPointer(p)
        let low7 = ones &* 0x7F
        while i + 8 <= stop {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let folded = w | ones &* 0x20  // a letter's two cases become the lowercase one
            // High bit per byte: folded >= 0x61 ('a'), folded >= 0x7B (past 'z'), byte == '-'.
            let atLeastA = (folded & low7) &+ ones &* 0x1F
            let pastZ = (folded & low7) &+ ones &* 0x05
            let dashDiff = (w ^ ones &* 0x2D) & low7
            let isDash = ~((dashDiff &+ low7) | w) & highs
            let accepted = (atLeastA & ~pastZ & ~w & highs) | isDash
            if accepted != highs { return i + (~accepted & highs).trailingZeroBitCount / 8 }
            i += 8
        }
        return i
    }

    /// Skips bytes that are certainly request-target bytes: visible ASCII except `#`. While
    /// `question` is -1 it becomes the index of the first `?` skipped (where a path ends and its
    /// query starts: the router then need not look for it) — the skip stops there once and goes
    /// on, so a target without `?` pays one more compare per eight bytes.
    @inline(__always)
    static func skipTarget(_ p: UnsafePointer<UInt8>, _ i: Int, _ stop: Int, question: inout Int) -> Int {
        if question >= 0 { return skipTarget(p, i, stop, stoppingAtQuestion: false) }
        let i = skipTarget(p, i, stop, stoppingAtQuestion: true)
        guard i < stop, p[i] == ASCII.question else { return i }
        question = i
        return skipTarget(p, i + 1, stop, stoppingAtQuestion: false)
    }

    /// `skipTarget` stopping at the first `?` too when `stoppingAtQuestion`.
    @inline(__always)
    private static func skipTarget(_ p: UnsafePointer<UInt8>, _ i: Int, _ stop: Int, stoppingAtQuestion: Bool) -> Int {
        var i = i
        let raw = UnsafeRawPointer(p)
        while i + 8 <= stop {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            // Bytes >= 0x7F have their high bit set after adding 1 to each (no carry between
            // bytes below 0x7F); bytes <= 0x20 are caught by less(0x21).
            var flags = less(w, 0x21) | (w | (w &+ ones)) & highs | equal(w, 0x23)
            if stoppingAtQuestion { flags |= equal(w, UInt64(ASCII.question)) }
            if flags != 0 { return i + flags.trailingZeroBitCount / 8 }
            i += 8
        }
        return i
    }
}

/// Byte-string helpers over raw memory (no allocation).
@usableFromInline
enum Bytes {
    /// ASCII case-insensitive equality of `count` bytes at `p` with `lowercase`, which must be
    /// lowercase already (the constants the parser looks for are).
    @inlinable
    static func equalsLowercase(_ p: UnsafePointer<UInt8>, _ count: Int, _ lowercase: StaticString) -> Bool {
        guard count == lowercase.utf8CodeUnitCount else { return false }
        let q = lowercase.utf8Start
        for k in 0..<count where ASCII.lower(p[k]) != q[k] { return false }
        return true
    }

    /// ASCII case-insensitive equality of `count` bytes at `p` with `lowercase` (shorter than
    /// four bytes: byte by byte, `equalsLowercase`), a word at a time: each side has 0x20 or-ed into every byte, which folds a letter's two
    /// cases and leaves the constant's other bytes alone. Exact only when no byte at `p` folds
    /// onto a non-letter of `lowercase` without being it: for `-` that is CR, which no token and
    /// no field value holds; the constants used here have no other non-letters. Two to four
    /// loads a side.
    @inline(__always)
    static func equalsFoldedLowercase(_ p: UnsafePointer<UInt8>, _ count: Int, _ lowercase: StaticString) -> Bool {
        guard count == lowercase.utf8CodeUnitCount else { return false }
        if count < 4 { return equalsLowercase(p, count, lowercase) }  // (a constant: folds away)
        let a = UnsafeRawPointer(p)
        let b = UnsafeRawPointer(lowercase.utf8Start)
        if count < 8 {
            let fold: UInt32 = 0x2020_2020
            return a.loadUnaligned(as: UInt32.self) | fold == b.loadUnaligned(as: UInt32.self) | fold
                && a.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self) | fold
                    == b.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self) | fold
        }
        let fold: UInt64 = 0x2020_2020_2020_2020
        var k = 0
        while k + 8 < count {
            if a.loadUnaligned(fromByteOffset: k, as: UInt64.self) | fold
                != b.loadUnaligned(fromByteOffset: k, as: UInt64.self) | fold { return false }
            k += 8
        }
        return a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) | fold
            == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) | fold
    }

    /// ASCII case-insensitive equality of two byte buffers.
    @inlinable
    static func equalsIgnoringCase(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for k in 0..<a.count where ASCII.lower(a[k]) != ASCII.lower(b[k]) { return false }
        return true
    }
}
