import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// The epoll backend (under construction: every operation reports ENOSYS until it lands).
package final class EpollBackend: IOBackend {
    package var kind: IOBackendKind { .epoll }
    unowned(unsafe) let scheduler: Scheduler
    private let slot = IOThreadState()

    init(scheduler: Scheduler) throws {
        self.scheduler = scheduler
        throw IOError("epoll backend", errno: ENOSYS)
    }

    package func install() { scheduler.driver = self; slot.install() }
    package func uninstall() { scheduler.driver = nil; slot.uninstall() }
    package func poll(_ scheduler: Scheduler, wait: Bool, until deadline: Deadline?) {}
    package func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) throws -> Int { throw IOError("recv", errno: ENOSYS) }
    package func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, deadline: Deadline?) throws -> Int { throw IOError("send", errno: ENOSYS) }
    package func send(_ fd: Int32, vectors: UnsafeMutableBufferPointer<iovec>, deadline: Deadline?) throws -> Int { throw IOError("sendmsg", errno: ENOSYS) }
    package func connect(_ fd: Int32, to address: SocketAddress, deadline: Deadline?) throws { throw IOError("connect", errno: ENOSYS) }
    package func openFile(_ path: String, flags: Int32, permissions: UInt32) throws -> Int32 { throw IOError("openat", errno: ENOSYS) }
    package func readFile(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int { throw IOError("read", errno: ENOSYS) }
    package func writeFile(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws -> Int { throw IOError("write", errno: ENOSYS) }
    package func statusOfFile(_ fd: Int32) throws -> File.Status { throw IOError("statx", errno: ENOSYS) }
    package func closeFile(_ fd: Int32) throws { throw IOError("close", errno: ENOSYS) }
    package func startAccepting(_ acceptor: Acceptor) {}
    package func stopAccepting(_ acceptor: Acceptor) {}
    package func startReceiving(_ receiver: StreamReceiver) {}
    package func stopReceiving(_ receiver: StreamReceiver) {}
    package func startSending(_ send: AsyncSend) {}
    package func cancelSending(_ send: AsyncSend) {}
}
