#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `JSONStreamWriter` kept per thread, so that an encode does not allocate the writer, its
/// output buffer and its stacks again (four allocations and their growth: about a fifth of
/// encoding a small document).
///
/// The module's only C call and `Unmanaged` reference: a POSIX thread-specific key holds a
/// retained reference to the thread's writer, which stays there between encodes (no store to
/// the slot per encode, no reference count: the encode borrows it). A writer let go first lets
/// go of the container boxes it kept, which hold it (`KeyedContainerBoxes`). Invariants: the
/// slot holds either nothing or one +1 reference, dropped only by `withWriter` after the encode
/// that used it or by the key's destructor when the thread ends; the writer's `isLent` is true
/// exactly while an encode uses it, so an encode nested inside another's `encode(to:)` finds it
/// lent and makes its own.
enum JSONWriterCache {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { pointer in
            // Called only for a slot that is not empty.
            if let pointer {
                let writer = Unmanaged<JSONStreamWriter>.fromOpaque(pointer)
                writer._withUnsafeGuaranteedRef { $0.releaseKeptContainers() }
                writer.release()
            }
        }
        precondition(status == 0, "pthread_key_create failed (\(status)): the process has no thread-specific keys left")
        return key
    }()

    /// Calls `body` with the calling thread's kept writer (a new one with room for `capacity`
    /// bytes when the thread has none or its own is in use by an outer encode), and afterwards
    /// keeps the writer for the thread's next encode unless its buffers grew past what is worth
    /// keeping. Cost: one `pthread_getspecific` when the kept writer is free.
    static func withWriter<R>(capacity: Int, _ body: (JSONStreamWriter) throws -> R) rethrows -> R {
        if let pointer = pthread_getspecific(key) {
            let kept = Unmanaged<JSONStreamWriter>.fromOpaque(pointer)
            if !kept._withUnsafeGuaranteedRef({ $0.isLent }) {
                // After the borrow below has ended: a writer grown too large is let go.
                defer {
                    if !kept._withUnsafeGuaranteedRef({ $0.isWorthKeeping }) {
                        pthread_setspecific(key, nil)
                        kept._withUnsafeGuaranteedRef { $0.releaseKeptContainers() }
                        kept.release()
                    }
                }
                // The slot's reference keeps the writer alive for the whole call: borrowed.
                return try kept._withUnsafeGuaranteedRef { writer in
                    writer.isLent = true
                    defer { writer.isLent = false }
                    return try body(writer)
                }
            }
        }
        let writer = JSONStreamWriter(capacity: capacity)
        defer {
            if writer.isWorthKeeping, pthread_getspecific(key) == nil {
                pthread_setspecific(key, Unmanaged.passRetained(writer).toOpaque())
            } else {
                writer.releaseKeptContainers()
            }
        }
        return try body(writer)
    }
}
