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
