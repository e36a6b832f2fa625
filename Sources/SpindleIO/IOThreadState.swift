
import SpindleFibers

/// What both backends keep per worker thread: the thread-local slot that finds the backend (one
/// load), and the acceptors it has armed. The slot holds this object's address unretained: the
/// backend owns its `IOThreadState` and clears the slot in `uninstall` before it can go away.
package final class IOThreadState {
    /// Set once by the backend that owns this slot (unowned: the backend owns the slot).
    unowned(unsafe) var backend: (any IOBackend)? = nil
    /// Armed acceptors, held while armed and told when the backend goes away (so they never
    /// touch it afterwards). Worker thread only.
    @exclusivity(unchecked) var acceptors: [ObjectIdentifier: Acceptor] = [:]
    /// Asynchronous sends no connection holds, for the next `TCPConnection.sendAsync` of any
    /// connection of this thread: an idle connection gives its own back
    /// (`TCPConnection.releaseIdleSender`, which the server calls at its memory trims) rather
    /// than keep ~100 bytes it does not use. At most
    /// `maxSpareSends`. Worker thread only.
    @exclusivity(unchecked) var spareSends: [AsyncSend] = []
    static let maxSpareSends = 1024

    /// Makes `backend` the driver of `scheduler` and the calling thread's backend.
    func install(driving scheduler: Scheduler) {
        scheduler.driver = backend
        install()
    }

    /// Tells the armed acceptors the backend is going away (they never touch it afterwards;
    /// the slot keeps holding them until `uninstall`). Idempotent.
    func acceptorsWillStop() {
        for acceptor in acceptors.values { acceptor.backendWillStop() }
    }

    /// Tells the armed acceptors the backend is going away, then undoes `install(driving:)`.
    func uninstall(from scheduler: Scheduler) {
        acceptorsWillStop()
        acceptors.removeAll()
        spareSends.removeAll()  // each holds the backend
        scheduler.driver = nil
        uninstall()
    }

    /// The current thread's backend, or nil outside an I/O worker.
    @inline(__always)
    static var current: (any IOBackend)? { currentSlot?.backend }

    /// The current thread's slot, or nil outside an I/O worker. One thread-local load.
    @inline(__always)
    static var currentSlot: IOThreadState? {
        guard let raw = ThreadSyscalls.currentIOSlot else { return nil }
        return Unmanaged<IOThreadState>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Makes this the calling thread's slot.
    private func install() { ThreadSyscalls.currentIOSlot = Unmanaged.passUnretained(self).toOpaque() }

    /// Clears the calling thread's slot.
    private func uninstall() { ThreadSyscalls.currentIOSlot = nil }
}
