import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

// THE I/O CONTRACT (what every backend implements, and all that the layers above may use).
//
// SpindleIO's public types — `TCPListener`, `TCPConnection`, `File` — and the package-level
// fiber-less operations the HTTP layer uses (`StreamReceiver`, `AsyncSend`) are written once,
// over this protocol. Two backends implement it: io_uring (`UringBackend`, preferred) and
// epoll (`EpollBackend`, used where io_uring is denied). Nothing above SpindleIO names a
// backend, a completion flag, a provided buffer or a raw descriptor.
//
// Semantics every backend keeps, operation by operation:
//
// - Parking operations (`receive`, `send`, `connect`, file calls) run on a fiber of the
//   backend's worker and park only that fiber. With a `deadline`, an operation still pending
//   when it passes ends with `TimeoutError`; cancelling the fiber ends it with
//   `CancellationError` (a fiber already cancelled gets it before anything is queued). A result
//   that raced the timeout or the cancellation is returned, so no byte is lost. Memory handed
//   to an operation is never touched by the kernel after the call returns. Failures are
//   `IOError(operation, errno)`.
// - Fiber-less operations (accepting, a stream receiver, an asynchronous send) report to their
//   owner's delegate on the worker thread, in the scheduler loop (outside any fiber); a
//   delegate must not park. Their events never arrive inside the call that started or
//   stopped them. While such an operation is armed, the backend holds a strong reference to
//   the owning object, so its owner needs no bookkeeping to stay alive.
// - Cross-thread wake (`Scheduler.submit`) wakes a backend waiting for events; timers are the
//   scheduler's (the deadline passed to `poll`).

/// Which I/O backend a worker runs on.
public enum IOBackendKind: String, Sendable, CustomStringConvertible {
    /// io_uring (Linux 6.0+): one ring per worker, multishot accept and receive, provided buffers.
    case uring
    /// Edge-triggered epoll with non-blocking system calls; file I/O on the offload pool.
    case epoll

    public var description: String { rawValue }
}

/// The operations an I/O backend offers the contract types (see the contract above).
/// One backend object per worker thread; every call is made on that thread.
package protocol IOBackend: SchedulerDriver {
    /// Which backend this is.
    var kind: IOBackendKind { get }

    // MARK: Parking operations (on a fiber of this worker)

    /// Receives up to `buffer.count` bytes from the socket `fd`; 0 at end of stream.
    func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) throws -> Int
    /// Sends some of `bytes` (at least one byte unless it throws); the caller loops on short sends.
    func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, deadline: Deadline?) throws -> Int
    /// Sends some of the bytes of `vectors` (`sendmsg`); the caller loops on short sends.
    func send(_ fd: Int32, vectors: UnsafeMutableBufferPointer<iovec>, deadline: Deadline?) throws -> Int
    /// Connects the non-blocking socket `fd` to `address`.
    func connect(_ fd: Int32, to address: SocketAddress, deadline: Deadline?) throws
    /// Sends up to `count` bytes of file `file` from `offset` to the socket `socket` without
    /// copying them through user space (`sendfile`, or `splice` through a pipe); returns the
    /// bytes sent, 0 at the end of the file. The caller loops. Throws `IOError` — before any
    /// byte is sent when the kernel cannot do it for this file (then copying is the way).
    func sendFile(_ socket: Int32, from file: Int32, at offset: Int, count: Int, deadline: Deadline?) throws -> Int
    /// Opens `path` (`openat` relative to the working directory) and returns the descriptor.
    func openFile(_ path: String, flags: Int32, permissions: UInt32) throws -> Int32
    /// Reads up to `buffer.count` bytes of file `fd` at `offset` (0 at end of file).
    func readFile(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int
    /// Writes some of `bytes` to file `fd` at `offset`; the caller loops on short writes.
    func writeFile(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws -> Int
    /// Size, mode and modification time of file `fd`.
    func statusOfFile(_ fd: Int32) throws -> File.Status
    /// Closes file `fd`.
    func closeFile(_ fd: Int32) throws
    /// Flushes file `fd`'s data (and the metadata needed to read it back) to its device (`fdatasync`).
    func synchronizeFile(_ fd: Int32) throws
    /// Renames `path` to `newPath` (both relative to the working directory); when not
    /// `replacing`, fails with `EEXIST` if `newPath` exists (`RENAME_NOREPLACE`).
    func renameFile(_ path: String, to newPath: String, replacing: Bool) throws
    /// Removes the name `path` (`unlinkat`; not a directory).
    func removeFile(_ path: String) throws

    // MARK: Fiber-less operations (events in the scheduler loop)

    /// Starts delivering accepted connections (or accept errors) to `acceptor` until
    /// `stopAccepting`. Called again after the backend reported that accepting ended.
    func startAccepting(_ acceptor: Acceptor)
    /// Stops accepting on `acceptor`'s socket (the caller closes it afterwards).
    func stopAccepting(_ acceptor: Acceptor)
    /// Arms `receiver` (its `mode` says what its owner wants): bytes, end of stream and errors
    /// go to its delegate until the receiver is paused or stopped.
    func startReceiving(_ receiver: StreamReceiver)
    /// `receiver.mode` changed to paused or stopped: stop reading its socket. Bytes already
    /// taken from the socket are still delivered (not when stopped).
    func stopReceiving(_ receiver: StreamReceiver)
    /// Starts sending `send`'s bytes; its delegate hears once, when all were sent or it failed.
    func startSending(_ send: AsyncSend)
    /// Cancels `send` (its delegate hears `ECANCELED` unless it completed first).
    func cancelSending(_ send: AsyncSend)
    /// Closes a connection's socket `fd`, whose receiver was stopped and send cancelled, after
    /// forgetting whatever the backend kept for it; fibers still parked on it (another fiber's
    /// misuse) end with EBADF where the backend can wake them. `TCPConnection.close` calls it
    /// on a worker thread; elsewhere it closes the descriptor directly.
    func closeSocket(_ fd: Int32)

    // MARK: Worker life

    /// Makes this backend its scheduler's driver and the thread's current backend.
    func install()
    /// Forgets every armed fiber-less operation (the backend is going away) and uninstalls.
    func uninstall()
}

/// The backend of the calling worker thread.
package enum IOBackends {
    /// The calling thread's backend; stops with a message naming `operation` otherwise.
    @inline(__always)
    package static func current(_ operation: @autoclosure () -> String) -> any IOBackend {
        guard let backend = IOThreadState.current else {
            misuse("\(operation()) needs an I/O worker: run it inside Runtime.run { } (a plain Scheduler.run has no I/O backend)")
        }
        return backend
    }
}
