// The chunked decoder over array slices, for callers written in safe Swift (the HTTP client):
// the one place the slice's bytes are lent to the pointer-based decoder, for one call.

extension HTTPChunkedDecoder {
    /// `decode` over a slice: ranges in the event are offsets from `bytes.startIndex` (0-based),
    /// as they are for a buffer pointer. Never allocates; the slice is read, not copied.
    public mutating func decode(_ bytes: ArraySlice<UInt8>) -> HTTPBodyEvent {
        bytes.withUnsafeBytes { decode($0) }
    }
}
