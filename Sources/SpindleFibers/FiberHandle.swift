import SpindleMemory

/// The spawner's handle on a fiber: wait for its result or cancel it.
///
/// Handles are cheap to copy (one reference) and keep the fiber object (not its stack) alive
/// until the last handle is dropped. Use on the fiber's scheduler thread only.
public struct FiberHandle<Success> {
    @usableFromInline let typed: Fiber

    @usableFromInline
    init(typed: Fiber) { self.typed = typed }

    /// The fiber this handle refers to.
    public var fiber: Fiber { typed }

    /// True once the fiber's body has returned or thrown.
    public var isFinished: Bool { typed.isFinished }

    /// Requests cancellation (see `Fiber.cancel()`).
    public func cancel() { typed.cancel() }

    /// Waits for the fiber to finish and returns its value, or rethrows its error.
    /// Parks the calling fiber (not the thread) until then; may be called from several fibers.
    /// Throws `CancellationError` if the *calling* fiber is cancelled while waiting.
    /// Must be called from a fiber on the same scheduler, and not by the fiber itself.
    public func join() throws -> Success {
        if !typed.finished {
            let me = Fiber.currentCore("FiberHandle.join()")
            misusePrecondition(me != typed.core, "\(typed) called join() on itself, which would never return; join it from another fiber")
            typed.scheduler.assertOnThread("FiberHandle.join() of \(typed)")
            let queue = typed.joiners ?? WaitQueue()
            typed.joiners = queue
            while !typed.finished {
                queue.append(me)
                if Fiber.park(me, cancellable: true, deadline: nil, for: .join) == .cancelled { throw CancellationError() }
            }
        }
        if let failure = typed.failure { throw failure }
        if Success.self == Void.self { return () as! Success }
        return typed.value as! Success
    }
}

extension FiberHandle where Success == Void {
    /// Waits for the fiber to finish, rethrowing its error (see `join()`).
    public func wait() throws { try join() }
}
