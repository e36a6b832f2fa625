// Test payloads: deterministic pseudo-random bytes and the UTF-8 bytes of a string.

/// Deterministic pseudo-random bytes (xorshift), different for every `seed`.
public func pattern(seed: Int, count: Int) -> [UInt8] {
    var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 &+ 0x1234_5678
    var out = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        out[i] = UInt8(truncatingIfNeeded: state)
    }
    return out
}

/// The UTF-8 bytes of `text`.
public func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
