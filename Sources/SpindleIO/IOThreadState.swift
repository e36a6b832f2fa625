
/// The calling worker thread's I/O backend, in a C thread-local slot (one load to find it).
/// The slot holds this object's address unretained: the backend owns its `IOThreadState` and
/// clears the slot in `uninstall()` before it can go away.
package final class IOThreadState {
    /// Set once by the backend that owns this slot (unowned: the backend owns the slot).
    unowned(unsafe) var backend: (any IOBackend)? = nil

    /// The current thread's backend, or nil outside an I/O worker.
    @inline(__always)
    static var current: (any IOBackend)? {
        guard let raw = ThreadSyscalls.currentIOSlot else { return nil }
        return Unmanaged<IOThreadState>.fromOpaque(raw).takeUnretainedValue().backend
    }

    /// Makes this the calling thread's slot.
    func install() { ThreadSyscalls.currentIOSlot = Unmanaged.passUnretained(self).toOpaque() }

    /// Clears the calling thread's slot.
    func uninstall() { ThreadSyscalls.currentIOSlot = nil }
}
