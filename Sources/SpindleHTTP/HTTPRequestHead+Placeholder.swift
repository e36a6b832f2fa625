extension HTTPRequestHead {
    /// A head of no request: every range empty, no fields, no body, HTTP/1.1. For storage that
    /// holds a head before the first is parsed (a pooled exchange), so that it need not be an
    /// optional checked on every access. Never a request to answer: nothing should read it as
    /// one. Cost: none after the first use (its bytes are one static allocation).
    package static var placeholder: HTTPRequestHead {
        HTTPRequestHead(base: UnsafeRawPointer(placeholderStorage), slots: placeholderStorage.assumingMemoryBound(to: FieldSlot.self),
                        length: 0, fieldCount: 0, methodStart: 0, methodEnd: 0, targetStart: 0, targetEnd: 0, queryStart: -1, hostStart: -1, hostEnd: -1,
                        version: HTTPVersion(major: 1, minor: 1), targetForm: .origin, framing: .none,
                        keepAlive: false, expectsContinue: false)
    }
}

/// The bytes a placeholder head points at: room for one field slot, zeroed, never written after
/// this initialiser (hence `nonisolated(unsafe)`: every thread only reads them, if at all).
nonisolated(unsafe) private let placeholderStorage: UnsafeMutableRawPointer = {
    let storage = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<FieldSlot>.stride, alignment: MemoryLayout<FieldSlot>.alignment)
    storage.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<FieldSlot>.stride)
    return storage
}()
