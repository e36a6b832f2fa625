#if canImport(Glibc)
import Glibc
#endif
import CSpindle
import SpindleMemory

/// A plain OS thread running one closure (runtime workers, offload threads).
package final class OSThread: @unchecked Sendable {
    // @unchecked Sendable: `handle` is written once before the thread starts and read by join.
    private var handle = pthread_t()
    private let body: () -> Void
    private let name: String

    private init(name: String, body: @escaping () -> Void) {
        self.name = name
        self.body = body
    }

    /// Starts a thread running `body`.
    package static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(IOError) -> OSThread {
        let thread = OSThread(name: name, body: body)
        let context = Unmanaged.passRetained(thread).toOpaque()
        let rc = pthread_create(&thread.handle, nil, { raw in
            let thread = Unmanaged<OSThread>.fromOpaque(raw!).takeRetainedValue()
            thread.name.withCString { spindle_set_thread_name($0) }
            thread.body()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<OSThread>.fromOpaque(context).release()
            throw IOError("pthread_create", errno: rc)
        }
        return thread
    }

    /// Waits for the thread to finish.
    package func join() { pthread_join(handle, nil) }
}
