import CSpindle
import SpindleMemory

/// A cooperative thread of execution with its own fixed-size stack, running on one
/// `Scheduler` (one OS thread) for its whole life. Fibers never migrate between threads.
///
/// Fibers are started with `Fiber.spawn`, and suspend only at explicit points — `Fiber.yield()`,
/// `Fiber.sleep`, channel/mutex/event waits, `join()`, and I/O — where only the fiber parks,
/// never the thread. A `Fiber` object is bound to its scheduler's thread: touching it from
/// another thread stops the process with a message saying what to use instead.
public class Fiber {
    enum State: UInt8 {
        /// In the run queue, or created and not yet started.
        case runnable
        /// The fiber executing right now on its scheduler.
        case running
        /// Waiting for `Scheduler.unpark`.
        case parked
        /// Its body returned or threw; the stack went back to the pool.
        case finished
    }

    /// Unique in the process: the scheduler's number in the high 24 bits, a counter below.
    public final let id: UInt64
    /// A name for diagnostics (overflow reports, dumps); nil unless given at spawn.
    public final let name: String?

    // Scheduler bookkeeping. All of it is touched only on the owning scheduler's thread.
    final unowned(unsafe) let scheduler: Scheduler
    final var state: State = .runnable
    /// Saved machine context while suspended (nil before the first run and after finishing).
    final var context: spindle_fcontext_t? = nil
    final var stack: FiberStack
    /// Next fiber in the scheduler's run queue (intrusive FIFO).
    final unowned(unsafe) var runNext: Fiber? = nil
    /// The wait queue this fiber is parked in, and its neighbours there.
    final unowned(unsafe) var waitQueue: WaitQueue? = nil
    final unowned(unsafe) var waitPrev: Fiber? = nil
    final unowned(unsafe) var waitNext: Fiber? = nil
    /// Why the last park ended.
    final var wakeReason: WakeReason = .ready
    /// Whether the current park may be ended by `cancel()`.
    final var parkIsCancellable = false
    final var cancelRequested = false
    /// Deadline of the pending timer and its index in the scheduler's timer heap (-1: none).
    final var timerDeadline: UInt64 = 0
    final var timerIndex: Int = -1
    /// Fibers blocked in `join()` on this one (created on first join).
    final var joiners: WaitQueue? = nil
    /// `FiberLocal` values (created on first write).
    final var locals: [ObjectIdentifier: Any]? = nil

    init(id: UInt64, name: String?, scheduler: Scheduler, stack: FiberStack) {
        self.id = id
        self.name = name
        self.scheduler = scheduler
        self.stack = stack
    }

    /// Runs the fiber's body and stores its outcome. Overridden by `TypedFiber`.
    func runBody() {}

    /// True once the body has returned or thrown.
    public final var isFinished: Bool { state == .finished }

    /// True once `cancel()` was called on this fiber.
    public final var isCancelled: Bool { cancelRequested }

    /// Requests cancellation: the fiber's current or next cancellable wait (sleep, channel
    /// operations, `join`, I/O) throws `CancellationError`. Cooperative: a fiber that never
    /// waits or checks `Fiber.checkCancellation()` runs on. Must be called on the fiber's
    /// scheduler thread (from another thread, use `Scheduler.submit`). Cost: O(1), no allocation.
    public final func cancel() {
        scheduler.assertOnThread("Fiber.cancel()")
        guard state != .finished, !cancelRequested else { return }
        cancelRequested = true
        if state == .parked && parkIsCancellable {
            scheduler.unpark(self, with: .cancelled)
        }
    }
}

/// A fiber whose body produces a `Success` value (or throws).
final class TypedFiber<Success>: Fiber {
    var body: (() throws -> Success)?
    var result: Result<Success, any Error>? = nil

    init(id: UInt64, name: String?, scheduler: Scheduler, stack: FiberStack, body: @escaping () throws -> Success) {
        self.body = body
        super.init(id: id, name: name, scheduler: scheduler, stack: stack)
    }

    override func runBody() {
        guard let body else { return }
        self.body = nil  // drop captures as soon as the body is done
        do { result = .success(try body()) } catch { result = .failure(error) }
    }
}

extension Fiber: CustomStringConvertible {
    /// `Fiber #7 "worker" (parked)`.
    public var description: String {
        "Fiber #\(id)" + (name.map { " \"\($0)\"" } ?? "") + " (\(state))"
    }
}
