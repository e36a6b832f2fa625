/// The word-at-a-time scan of string bytes that need no escape: the one place this module reads
/// memory through a raw pointer.
enum JSONScanning {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// True if some byte of `word` is below `limit` (limit ≤ 128).
    @inline(__always) private static func hasByteBelow(_ word: UInt64, _ limit: UInt64) -> Bool {
        (word &- ones &* limit) & ~word & highs != 0
    }

    /// True if some byte of `word` equals `byte`.
    @inline(__always) private static func hasByte(_ word: UInt64, _ byte: UInt64) -> Bool {
        let x = word ^ (ones &* byte)
        return (x &- ones) & ~x & highs != 0
    }

    /// The high bit of every byte of `word` that is a control byte, `"`, `/` or `\`. Exact for
    /// the bytes below the lowest such byte; above it a byte may be flagged by the borrow.
    @inline(__always) private static func escapeFlags(_ word: UInt64) -> UInt64 {
        func equal(_ byte: UInt64) -> UInt64 {
            let x = word ^ (ones &* byte)
            return (x &- ones) & ~x
        }
        return ((word &- ones &* 0x20) & ~word | equal(0x22) | equal(0x2F) | equal(0x5C)) & highs
    }

    /// A string of at most 16 bytes that needs no escape, in two little-endian words (zeros past
    /// its end), so that it can be written with two stores; nil when some byte needs an escape.
    /// Flags above a string's last byte are masked off: they can only come from the zeros past
    /// it, or from the borrow of a byte that needs an escape, which already made it nil.
    ///
    /// Invariant: every load lies in `utf8[0 ..< utf8.count]` (at most 16 bytes), the buffer the
    /// caller lends: the words are built from loads that overlap rather than read past its end.
    @inline(__always)
    static func shortPlainWords(_ utf8: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        let count = utf8.count
        var words: (UInt64, UInt64) = (0, 0)
        if let base = utf8.baseAddress, count > 0 {
            let raw = UnsafeRawPointer(base)
            if count >= 8 {
                words.0 = raw.loadUnaligned(as: UInt64.self)
                // The last 8 bytes, shifted so that byte 8 comes first (nothing when count is 8).
                if count > 8 {
                    words.1 = raw.loadUnaligned(fromByteOffset: count &- 8, as: UInt64.self) &>> UInt64(8 &* (16 &- count))
                }
            } else if count >= 4 {
                // The first 4 and the last 4 bytes; where they overlap the bytes are the same.
                words.0 = UInt64(raw.loadUnaligned(as: UInt32.self))
                    | UInt64(raw.loadUnaligned(fromByteOffset: count &- 4, as: UInt32.self)) &<< UInt64(8 &* (count &- 4))
            } else {
                // Bytes 0, count / 2 and count - 1 cover 1 to 3 bytes.
                let middle = count &>> 1
                words.0 = UInt64(base[0]) | UInt64(base[middle]) &<< UInt64(8 &* middle)
                    | UInt64(base[count &- 1]) &<< UInt64(8 &* (count &- 1))
            }
        }
        let low = count >= 8 ? highs : highs & ((1 &<< UInt64(8 &* count)) &- 1)
        let high = count >= 16 ? highs : (count <= 8 ? 0 : highs & ((1 &<< UInt64(8 &* (count &- 8))) &- 1))
        guard escapeFlags(words.0) & low == 0, escapeFlags(words.1) & high == 0 else { return nil }
        return words
    }

    /// The index of the first 8-byte word from `start` that may hold a byte to escape (a control
    /// byte, `"`, `/` or `\`), or the start of the last partial word: the caller checks byte by
    /// byte from there. Bytes with the high bit set never need an escape and never match.
    ///
    /// Invariant: every load reads `utf8[index ..< index + 8]` with `index + 8 <= utf8.count`,
    /// inside the buffer the caller lends.
    @inline(__always)
    static func skipPlainBytes(_ utf8: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        guard let base = utf8.baseAddress else { return start }
        let raw = UnsafeRawPointer(base)
        var index = start
        while index + 8 <= utf8.count {
            let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            if hasByteBelow(word, 0x20) || hasByte(word, 0x22) || hasByte(word, 0x2F) || hasByte(word, 0x5C) { break }
            index += 8
        }
        return index
    }
}
