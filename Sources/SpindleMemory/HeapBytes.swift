#if canImport(Glibc)
import Glibc
#endif

/// Raw bytes from `malloc`, for the buffers of a kilobyte or more that connections and requests
/// hold (receive buffers, arena blocks).
///
/// Why not `UnsafeMutableRawPointer.allocate(byteCount:alignment:)`: Swift sends every such
/// call through its runtime's aligned-allocation path (whatever the alignment asked), and
/// mimalloc serves an aligned request above 1 KiB from the next size class up: 2 KiB takes
/// 2.5 KiB, 16 KiB takes 20 KiB. `malloc` returns memory aligned to 16 bytes on every platform
/// Spindle runs on, the most these buffers need. Cost: one `malloc` or `free`.
public enum HeapBytes {
    /// `byteCount` bytes (at least 1), 16-byte aligned, uninitialised. Stops the process with a
    /// message when the allocator has no memory left (as Swift's own allocation does).
    public static func allocate(_ byteCount: Int) -> UnsafeMutableRawPointer {
        guard let p = malloc(max(byteCount, 1)) else { fatalError("HeapBytes: malloc(\(byteCount)) failed: out of memory") }
        return p
    }

    /// Frees memory from `allocate`.
    public static func deallocate(_ pointer: UnsafeMutableRawPointer) {
        free(pointer)
    }
}
