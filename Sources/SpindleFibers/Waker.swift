#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleMemory

/// How an idle scheduler without an I/O driver sleeps: `ppoll` on an eventfd with the next
/// timer as timeout; `signal()` from another thread writes the eventfd.
/// The only raw system calls of SpindleFibers live here.
package final class Waker: @unchecked Sendable {
    // @unchecked Sendable: the eventfd is written from any thread, read by the owner only.
    /// The eventfd; readable after `signal()`.
    package let fd: Int32

    init() throws(SystemCallError) {
        let fd = FiberSyscalls.eventfd()
        if fd < 0 { throw SystemCallError("eventfd", errno: errno) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Wakes a thread blocked in `wait`. Any thread. One `write(2)`.
    package func signal() {
        var one: UInt64 = 1
        while write(fd, &one, 8) < 0 && errno == EINTR {}
    }

    /// Blocks until `signal()` or `deadline` (nil: no deadline); EINTR ends the wait early.
    func wait(until deadline: Deadline?) {
        var timeout: Int64 = -1
        if let deadline {
            let now = Deadline.now
            timeout = deadline > now ? Int64(clamping: deadline.nanoseconds - now.nanoseconds) : 0
        }
        _ = FiberSyscalls.waitReadable(fd, timeoutNanoseconds: timeout)
        var value: UInt64 = 0
        _ = read(fd, &value, 8)  // reset the counter (EAGAIN when it was a timeout)
    }
}

extension Waker {
    /// Resets the eventfd counter after a wake-up was observed (non-blocking read).
    package func drain() {
        var value: UInt64 = 0
        _ = read(fd, &value, 8)
    }
}
