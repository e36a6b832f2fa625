/// A one-way flag fibers can wait for: `wait` parks until `set()`; once set, waits return at
/// once until `reset()`.
// `@exclusivity(unchecked)` on fields below: owner-thread only, never accessed across a fiber
// switch (see Fiber.swift), so dynamic exclusivity checks would only cost time.
public final class Event {
    @exclusivity(unchecked) private var flag = false
    private let waiters = WaitQueue()

    /// Creates an event, initially not set.
    public init() {}

    /// True once `set()` was called (and not reset since).
    public var isSet: Bool { flag }

    /// Sets the event and wakes every waiter.
    public func set() {
        flag = true
        waiters.wakeAll()
    }

    /// Clears the event; later waits park again.
    public func reset() { flag = false }

    /// Parks until the event is set, or `deadline` passes (`TimeoutError`), or the fiber is
    /// cancelled (`CancellationError`).
    public func wait(deadline: Deadline? = nil) throws {
        let me = Fiber.currentCore("Event.wait()")
        while !flag {
            waiters.append(me)
            switch Fiber.park(me, cancellable: true, deadline: deadline, for: .event) {
            case .cancelled: throw CancellationError()
            case .timedOut: throw TimeoutError()
            case .ready, .closing: continue
            }
        }
    }
}
