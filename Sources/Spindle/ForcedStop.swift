import SpindleFibers
import Synchronization

/// Ends a server's grace period early: the flag every worker's drain reads, and a wake posted to
/// each draining worker through its scheduler's inbox (the one cross-thread entry), so a drain
/// parked until the grace period's end looks at the flag again at once.
///
/// `Server.run()` (the `Service` path) requests it when its task is cancelled: the requests
/// still in flight are cancelled now instead of after `shutdownGracePeriod`.
final class ForcedStop: Sendable {
    private let requested = Atomic<Bool>(false)
    private let drains = Mutex<[Int: Registration]>([:])

    /// A draining worker: its scheduler and the event its drain waits on.
    private struct Registration: @unchecked Sendable {
        // @unchecked Sendable: `drained` is only touched on its worker's thread (the wake runs
        // there, posted through `scheduler.submit`); other threads only carry the reference.
        let scheduler: Scheduler
        let drained: Event
    }

    /// True once `request()` was called. Any thread; one atomic load.
    var isRequested: Bool { requested.load(ordering: .acquiring) }

    /// Worker `index`'s thread, when its drain starts: `request()` will wake `drained` there.
    /// Call `unregister` when the drain ends.
    func register(index: Int, scheduler: Scheduler, drained: Event) {
        drains.withLock { $0[index] = Registration(scheduler: scheduler, drained: drained) }
    }

    /// Worker `index`'s thread, when its drain has ended.
    func unregister(index: Int) {
        _ = drains.withLock { $0.removeValue(forKey: index) }
    }

    /// Ends the grace period of every drain, now and to come. Any thread; idempotent. Cost: a
    /// lock and one `Scheduler.submit` per draining worker.
    func request() {
        // The flag first: a worker registering after the copy below finds it set.
        guard !requested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for registration in drains.withLock({ Array($0.values) }) {
            let drained = UnsafeSendableBox(registration.drained)
            _ = registration.scheduler.submit { drained.value.set() }
        }
    }
}
