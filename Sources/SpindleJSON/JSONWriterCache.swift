#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `JSONStreamWriter` kept per thread, so that an encode does not allocate the writer, its
/// output buffer and its stacks again (four allocations and their growth: about a fifth of
/// encoding a small document).
///
/// The module's only C call and unmanaged reference: a POSIX thread-specific key holds a
/// retained reference to the thread's idle writer. Invariants: the slot holds either nothing or
/// one +1 reference; `take` empties it before handing the writer out, so a writer is used by one
/// encode at a time (an encode nested inside another's `encode(to:)` finds the slot empty and
/// makes its own); `give` fills only an empty slot; the key's destructor releases the reference
/// when the thread ends.
enum JSONWriterCache {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { pointer in
            // Called only for a slot that is not empty.
            if let pointer { Unmanaged<JSONStreamWriter>.fromOpaque(pointer).release() }
        }
        precondition(status == 0, "pthread_key_create failed (\(status)): the process has no thread-specific keys left")
        return key
    }()

    /// The calling thread's idle writer, or a new one with room for `capacity` bytes.
    static func take(capacity: Int) -> JSONStreamWriter {
        guard let pointer = pthread_getspecific(key) else { return JSONStreamWriter(capacity: capacity) }
        pthread_setspecific(key, nil)
        return Unmanaged<JSONStreamWriter>.fromOpaque(pointer).takeRetainedValue()
    }

    /// Keeps `writer` for the thread's next encode, unless its buffers grew past what is worth
    /// keeping or the thread keeps one already.
    static func give(_ writer: JSONStreamWriter) {
        guard writer.isWorthKeeping, pthread_getspecific(key) == nil else { return }
        pthread_setspecific(key, Unmanaged.passRetained(writer).toOpaque())
    }
}
