#if canImport(Glibc)
import Glibc
#endif

/// The pipes one io_uring worker splices files through (`UringBackend.sendFile`): a file's pages
/// go into a pipe by reference and from the pipe into the socket, never copied through user
/// space. A pipe is taken for one transfer at a time and given back empty; a pipe that may still
/// hold bytes (a transfer that failed halfway) is closed instead, so no transfer ever sees
/// another's bytes. At most `keptLimit` pipes are kept; more concurrent transfers make pipes
/// of their own and close them after. Each pipe is two descriptors, and its buffer counts
/// against the user's pipe budget (`/proc/sys/fs/pipe-user-pages-soft`, 64 MiB by default):
/// hence large pipes only for the kept ones.
struct SplicePipes {
    /// One pipe: its ends and its buffer's size.
    struct Pipe {
        let read: Int32
        let write: Int32
        let capacity: Int
    }

    /// The buffer size asked for the first `keptLimit` pipes of a worker, those kept and
    /// reused (the kernel may give less: `/proc/sys/fs/pipe-max-size`, 1 MiB by default, or the
    /// user's pipe budget).
    static let preferredCapacity = 256 << 10
    /// Pipes kept between transfers.
    static let keptLimit = 8

    private var kept: [Pipe] = []
    /// Pipes taken and not given back yet.
    private var lent = 0

    /// A pipe for one transfer (a kept one, or a new one: of `preferredCapacity` while the
    /// worker has fewer than `keptLimit` pipes, else of the kernel's default 64 KiB, so that a
    /// burst of concurrent transfers does not spend the user's pipe budget). Throws `IOError`
    /// when none can be made (out of descriptors).
    mutating func take() throws -> Pipe {
        if let pipe = kept.popLast() {
            lent += 1
            return pipe
        }
        let made = try Pipes.make(capacity: lent + kept.count < Self.keptLimit ? Self.preferredCapacity : 0)
        lent += 1
        return Pipe(read: made.read, write: made.write, capacity: made.capacity)
    }

    /// Takes back a pipe after a transfer: kept when `isEmpty` and there is room (the largest
    /// kept first), else closed.
    mutating func giveBack(_ pipe: Pipe, isEmpty: Bool) {
        lent -= 1
        if isEmpty && kept.count < Self.keptLimit {
            kept.append(pipe)
        } else if isEmpty, let smallest = kept.indices.min(by: { kept[$0].capacity < kept[$1].capacity }),
                  kept[smallest].capacity < pipe.capacity {
            close(kept[smallest])
            kept[smallest] = pipe
        } else {
            close(pipe)
        }
    }

    private func close(_ pipe: Pipe) {
        Glibc.close(pipe.read)
        Glibc.close(pipe.write)
    }

    /// Closes every kept pipe (the backend is going away).
    mutating func closeAll() {
        for pipe in kept { close(pipe) }
        kept.removeAll()
    }
}
