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
/// exactly while an encode uses it, so an encode nested inside another's finds it lent and takes a
/// writer of its own from it (`JSONStreamWriter.nestedWriter`).
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

    /// Calls `body` with the calling thread's kept writer (made, and put in the thread's slot,
    /// when the thread has none), and afterwards keeps it for the thread's next encode unless its
    /// buffers grew past what is worth keeping. An encode nested in another's (a value's
    /// `encode(to:)` or `writeJSON` encoding a document of its own) gets a writer of its own
    /// instead, which the kept writer holds until the thread's outermost encode ends: no writer
    /// of the thread is freed while one of its encodes runs, so nothing lent from one can be left
    /// pointing at freed memory (`JSONWriter`). Cost: one `pthread_getspecific` when the kept
    /// writer is free.
    static func withWriter<R>(capacity: Int, _ body: (JSONStreamWriter) throws -> R) rethrows -> R {
        let kept: Unmanaged<JSONStreamWriter>
        if let pointer = pthread_getspecific(key) {
            kept = Unmanaged<JSONStreamWriter>.fromOpaque(pointer)
        } else {
            // In the slot before it is used, so that an encode nested in this one finds it lent.
            kept = Unmanaged.passRetained(JSONStreamWriter(capacity: capacity))
            pthread_setspecific(key, kept.toOpaque())
        }
        // The slot's reference keeps the writer alive for each call below: borrowed.
        if kept._withUnsafeGuaranteedRef({ $0.isLent }) {
            return try kept._withUnsafeGuaranteedRef { outer in
                let nested = outer.nestedWriter(capacity: capacity)
                nested.isLent = true
                defer { nested.isLent = false }
                return try body(nested)
            }
        }
        // After the borrow below has ended: a writer grown too large is let go.
        defer {
            if !kept._withUnsafeGuaranteedRef({ $0.isWorthKeeping }) {
                pthread_setspecific(key, nil)
                kept._withUnsafeGuaranteedRef { $0.releaseKeptContainers() }
                kept.release()
            }
        }
        return try kept._withUnsafeGuaranteedRef { writer in
            writer.isLent = true
            defer {
                writer.isLent = false
                writer.releaseNestedWriters()
            }
            return try body(writer)
        }
    }
}
