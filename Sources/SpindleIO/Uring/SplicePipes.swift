#if canImport(Glibc)
import Glibc
#endif

/// The pipes one io_uring worker splices files through (`UringBackend.sendFile`): a file's pages
/// go into a pipe by reference and from the pipe into the socket, never copied through user
/// space. A pipe is taken for one transfer at a time and given back empty; a pipe that may still
/// hold bytes (a transfer that failed halfway) is closed instead, so no transfer ever sees
/// another's bytes. At most `keptLimit` pipes are kept; more concurrent transfers make pipes
/// of their own and close them after. Each pipe is two descriptors, and its buffer counts
/// against the user's pipe budget (`/proc/sys/fs/pipe-user-pages-soft`): hence a modest size.
struct SplicePipes {
    /// One pipe: its ends and its buffer's size.
    struct Pipe {
        let read: Int32
        let write: Int32
        let capacity: Int
    }

    /// The buffer size asked for each pipe (the kernel may give the 64 KiB default instead).
    static let preferredCapacity = 256 << 10
    /// Pipes kept between transfers.
    static let keptLimit = 8

    private var kept: [Pipe] = []

    /// A pipe for one transfer (a kept one, or a new one). Throws `IOError` when none can be
    /// made (out of descriptors).
    mutating func take() throws -> Pipe {
        if let pipe = kept.popLast() { return pipe }
        let made = try Pipes.make(capacity: Self.preferredCapacity)
        return Pipe(read: made.read, write: made.write, capacity: made.capacity)
    }

    /// Takes back a pipe after a transfer: kept when `isEmpty` and there is room, else closed.
    mutating func giveBack(_ pipe: Pipe, isEmpty: Bool) {
        if isEmpty && kept.count < Self.keptLimit {
            kept.append(pipe)
        } else {
            Glibc.close(pipe.read)
            Glibc.close(pipe.write)
        }
    }

    /// Closes every kept pipe (the backend is going away).
    mutating func closeAll() {
        for pipe in kept {
            Glibc.close(pipe.read)
            Glibc.close(pipe.write)
        }
        kept.removeAll()
    }
}
