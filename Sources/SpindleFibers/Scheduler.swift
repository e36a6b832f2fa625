import SpindleMemory
import Synchronization

/// Runs fibers on the current OS thread: a FIFO run queue, a timer heap, a stack pool, and an
/// inbox other threads can post work to. One scheduler per thread; fibers never migrate.
///
/// Switching between fibers makes no system call and no allocation. When nothing is runnable
/// the scheduler waits in the kernel (no spinning) until a timer is due or work is submitted
/// (or, with SpindleIO, an I/O completion arrives).
public final class Scheduler: @unchecked Sendable {
    // @unchecked Sendable: only `submit` (guarded by `inbox`'s mutex and atomics) may be used
    // from other threads; everything else checks `assertOnThread` or runs on the owner thread.

    /// Tunables of a scheduler.
    public struct Configuration: Sendable {
        /// The fiber stack pool (stack size, counts, watermark).
        public var stacks: StackPool.Configuration
        /// How many fiber-to-fiber switches may happen before control returns to the scheduler
        /// loop to check timers, the inbox and I/O. Higher favours throughput, lower latency.
        public var switchBudget: Int

        /// Defaults, with `SPINDLE_*` environment overrides for the stack pool.
        public init(stacks: StackPool.Configuration = .fromEnvironment, switchBudget: Int = 64) {
            self.stacks = stacks
            self.switchBudget = max(1, switchBudget)
        }
    }

    private static let schedulerCounter = Atomic<UInt64>(0)

    /// The configuration this scheduler runs with.
    public let configuration: Configuration
    /// This scheduler's fiber stacks.
    public let stacks: StackPool
    /// The scheduler's number in this process (1, 2, …), the high bits of its fibers' ids.
    public let number: UInt64

    // State below is touched only on the owning thread.
    // `@exclusivity(unchecked)`: never accessed inside an inout/modify that spans a fiber
    // switch, and only on the owner thread, so the runtime's dynamic exclusivity checks could
    // never fire here; on the switch path they would cost ~10 ns per access.
    @exclusivity(unchecked) private var nextFiberSerial: UInt64 = 0
    /// The running fiber's core; nil while the scheduler loop itself runs.
    @exclusivity(unchecked) var currentCore: CorePointer? = nil
    /// The loop's context while a fiber runs.
    @exclusivity(unchecked) var loopContext: FiberContext? = nil
    @exclusivity(unchecked) var runQueue = RunQueue()
    @exclusivity(unchecked) var timers = TimerHeap()
    /// Who is switching away right now: read by the context being resumed (see Scheduler+Switch).
    @exclusivity(unchecked) var switchingFrom: CorePointer? = nil
    @exclusivity(unchecked) var switchingFromFinished = false
    @exclusivity(unchecked) var switchesLeft = 0
    /// Unfinished fibers; each holds one retain on its `Fiber` until it finishes.
    @exclusivity(unchecked) public internal(set) var liveFibers = 0
    /// Fibers ever spawned on this scheduler.
    @exclusivity(unchecked) public private(set) var spawnedFibers: UInt64 = 0
    /// Context switches performed (fiber↔fiber and fiber↔loop). Readable from any thread (a
    /// relaxed load): a watchdog samples it to notice a fiber that runs without switching.
    public var switches: UInt64 { switchCount.load(ordering: .relaxed) }
    /// The count behind `switches`: written only by the owner thread, with a relaxed load and
    /// store (the same instructions as a plain increment), so other threads may read it.
    let switchCount = Atomic<UInt64>(0)
    /// Reasons the loop must keep running without live fibers (e.g. an I/O runtime worker).
    @exclusivity(unchecked) package var keepAliveCount = 0
    /// Each `SchedulerLocal`'s instance on this scheduler, by the local's key.
    @exclusivity(unchecked) var locals: [UInt64: AnyObject] = [:]
    /// Finished fiber objects nobody references any more, kept for the next spawns (see
    /// Scheduler+Recycling); each holds one retain, released when the scheduler detaches.
    @exclusivity(unchecked) var recycledFibers: Unmanaged<Fiber>? = nil
    @exclusivity(unchecked) var recycledCount = 0
    /// The fewest recycled fibers kept since the last `trimMemory`: that many sat unused.
    @exclusivity(unchecked) var lowestRecycledSinceTrim = 0

    /// Work posted by other threads, run by the loop outside any fiber.
    let inbox = Mutex<Inbox>(Inbox())
    let inboxPending = Atomic<Bool>(false)
    /// True while the loop waits in the kernel; `submit` wakes it only then.
    let idle = Atomic<Bool>(false)
    package let waker: Waker
    /// This thread's Swift exclusivity access-set head, when located and verified (see
    /// CSpindle/exclusivity.c): lets a switch skip the runtime's exit/enter calls when neither
    /// side has an active access. Nil: always call the runtime (`SPINDLE_EXCLUSIVITY_FASTPATH=0`).
    let accessSetHead: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    /// The fresh fiber context every spawn copies (see `makeContext(on:)`); captured at init,
    /// so new fibers start with this thread's FP control state as of then. Freed in deinit.
    let contextTemplate: UnsafeMutablePointer<ContextTemplate>
    /// True in a build with AddressSanitizer: every switch is then announced to it (see
    /// `jump(to:of:leavingForGood:)`), one predictable branch per switch otherwise.
    let announcesSwitches: Bool
    /// The event source the loop waits on when idle (SpindleIO installs its reactor here).
    @exclusivity(unchecked) package var driver: (any SchedulerDriver)? = nil

    /// Creates a scheduler bound to the calling thread. Use `Scheduler.run` unless you drive
    /// the loop yourself (as SpindleIO's `Runtime` does).
    package init(configuration: Configuration) throws(SystemCallError) {
        misusePrecondition(CurrentScheduler.raw == nil,
                     "a Scheduler already runs on this thread; spawn a fiber with Fiber.spawn instead of nesting Scheduler.run")
        self.configuration = configuration
        self.stacks = try StackPool(configuration: configuration.stacks)
        self.number = Self.schedulerCounter.add(1, ordering: .relaxed).newValue
        self.waker = try Waker()
        self.contextTemplate = Self.captureContextTemplate()
        self.announcesSwitches = Self.addressSanitizerIsActive()
        self.accessSetHead = Environment.integer("SPINDLE_EXCLUSIVITY_FASTPATH") == 0
            ? nil : Self.locateExclusivityHead()
        let altstack = FiberSyscalls.installAlternateSignalStack()
        misusePrecondition(altstack == 0, "sigaltstack failed: \(Errno.name(altstack)); stack overflows could not be reported")
        CurrentScheduler.set(Unmanaged.passUnretained(self).toOpaque())
    }

    /// Detaches the scheduler from its thread. Called when its loop has finished.
    package func detach() {
        misusePrecondition(liveFibers == 0, "Scheduler detached with \(liveFibers) unfinished fibers")
        inbox.withLock { $0.closed = true }
        dropRecycledFibers()
        CurrentScheduler.set(nil)
    }

    deinit {
        dropRecycledFibers()
        contextTemplate.deallocate()
    }

    /// `switches` of the calling thread's scheduler (0 when the thread runs none). Cost: a
    /// thread-local load and a relaxed load; no reference counting (the scheduler outlives
    /// every call made on its thread), unlike `current?.switches`.
    package static var currentSwitches: UInt64 {
        guard let raw = CurrentScheduler.raw else { return 0 }
        return Unmanaged<Scheduler>.fromOpaque(raw)._withUnsafeGuaranteedRef { $0.switches }
    }

    /// The scheduler of the calling thread, or nil when the thread runs none.
    public static var current: Scheduler? {
        guard let raw = CurrentScheduler.raw else { return nil }
        return Unmanaged<Scheduler>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Runs `body` as the first fiber on a new scheduler on the calling thread and returns its
    /// result once *every* fiber spawned on it has finished. The calling thread is busy until
    /// then; call it from a thread of your own (not from a Swift concurrency task).
    /// Throws what `body` throws.
    public static func run<T, E: Error>(
        configuration: Configuration = Configuration(),
        _ body: () throws(E) -> T
    ) throws(E) -> T {
        let scheduler: Scheduler
        do { scheduler = try Scheduler(configuration: configuration) } catch {
            fatalError("Scheduler could not map its fiber stacks: \(error). Lower SPINDLE_STACKS_INITIAL or SPINDLE_STACK_SIZE.")
        }
        defer { scheduler.detach() }
        var outcome: Result<T, E>? = nil
        withoutActuallyEscaping(body) { escapable in
            let main = Fiber(name: "main", scheduler: scheduler)
            main.entry = {
                do throws(E) { outcome = .success(try escapable()) } catch { outcome = .failure(error) }
            }
            scheduler.start(main)
            scheduler.runLoop()
        }
        return try outcome!.get()
    }

    /// The calling thread's scheduler; stops with a message naming `operation` when there is none.
    @usableFromInline @inline(__always)
    static func requireCurrent(_ operation: @autoclosure () -> String) -> Scheduler {
        guard let raw = CurrentScheduler.raw else {
            misuse("\(operation()) needs a Spindle scheduler on this thread; run your code inside Scheduler.run { } (or a Runtime worker)")
        }
        return Unmanaged<Scheduler>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Stops with a message unless called on this scheduler's thread.
    @inline(__always)
    func assertOnThread(_ operation: @autoclosure () -> String) {
        misusePrecondition(CurrentScheduler.raw == Unmanaged.passUnretained(self).toOpaque(),
                     "\(operation()) was called on a thread that does not own this fiber's scheduler; fibers and their objects stay on one thread — use Scheduler.submit to reach another scheduler")
    }

    // MARK: - Spawning

    /// The running fiber, or nil while the scheduler loop itself runs.
    var current: Fiber? {
        currentCore.map { $0.pointee.fiber.takeUnretainedValue() }
    }

    /// The next fiber id: this scheduler's number in the high 24 bits, a counter below.
    func nextFiberID() -> UInt64 {
        nextFiberSerial &+= 1
        return (number << 40) | nextFiberSerial
    }

    /// Queues a freshly created fiber and takes the reference that keeps it alive until it
    /// finishes (dropped in `arrived` after its last switch): one retain.
    @usableFromInline
    func start(_ fiber: Fiber) {
        _ = Unmanaged.passRetained(fiber)
        enqueueNew(fiber)
    }

    /// `start` for a fiber whose reference the caller already handed over (`spawnDetached`).
    @inline(__always)
    func enqueueNew(_ fiber: Fiber) {
        let core = fiber.core
        stacks.setOwner(core.pointee.stack, fiberID: fiber.id, spawnedAt: RunClock.monotonicCoarseNanoseconds)
        liveFibers &+= 1
        spawnedFibers &+= 1
        runQueue.append(core)
    }

    func stacksExhausted() -> Never {
        misuse("""
            Fiber.spawn: no stack available (\(stacks.inUse) in use, maximum \(stacks.configuration.maximumCount) \
            of \(formatBytes(stacks.configuration.stackSize))). Raise SPINDLE_STACKS_MAX, lower SPINDLE_STACK_SIZE, \
            or bound concurrency (e.g. a WaitGroup or Channel as a semaphore).
            """)
    }

    // MARK: - Parking

    /// Suspends the running fiber (`core`) until `unpark`, recording `reason` for dumps.
    /// Returns why it was woken. If `cancellable` and the fiber is already cancelled, returns
    /// `.cancelled` at once (leaving any wait queue or timer it was put in).
    @inline(__always)
    func park(_ core: CorePointer, cancellable: Bool, for reason: FiberWaitReason) -> WakeReason {
        if cancellable && core.pointee.cancelRequested {
            if let queue = core.pointee.waitQueue { queue._withUnsafeGuaranteedRef { $0.remove(core) } }
            removeTimer(core)
            return .cancelled
        }
        core.pointee.state = .parked
        core.pointee.waitReason = reason
        core.pointee.stackPagesReleased = false
        core.pointee.parkIsCancellable = cancellable
        switchAway(from: core)
        return core.pointee.wakeReason
    }

    /// Makes a parked fiber runnable with `reason`, taking it out of its wait queue and timer
    /// heap. Returns false (and does nothing) when the fiber is not parked — so a late timer or
    /// a second waker can never resume it twice. Must run on this scheduler's thread.
    @inline(__always)
    @discardableResult
    package func unpark(_ core: CorePointer, with reason: WakeReason) -> Bool {
        guard core.pointee.state == .parked else { return false }
        core.pointee.state = .runnable
        core.pointee.wakeReason = reason
        if let queue = core.pointee.waitQueue { queue._withUnsafeGuaranteedRef { $0.remove(core) } }
        if core.pointee.timerIndex >= 0 { timers.remove(core) }
        runQueue.append(core)
        return true
    }

    /// Makes a parked `fiber` runnable with `reason` (see the core-pointer variant).
    /// Returns false when the fiber is not parked (or already finished).
    @discardableResult
    package func unpark(_ fiber: Fiber, with reason: WakeReason) -> Bool {
        assertOnThread("Scheduler.unpark")
        guard !fiber.finished else { return false }
        return unpark(fiber.core, with: reason)
    }

    /// Arms a timer that unparks the fiber with `.timedOut` at `deadline`.
    func addTimer(_ core: CorePointer, deadline: Deadline) {
        timers.insert(core, deadline: deadline.nanoseconds)
    }

    @inline(__always)
    func removeTimer(_ core: CorePointer) {
        if core.pointee.timerIndex >= 0 { timers.remove(core) }
    }

    // MARK: - The loop

    /// Runs fibers until none is left (and nothing keeps the loop alive). Between batches it
    /// fires due timers, runs submitted work and polls the driver; when nothing is runnable it
    /// waits in the kernel until the next timer or a wake-up.
    package func runLoop() {
        RunClock.activate(true)
        defer { RunClock.activate(false) }
        while true {
            RunClock.expire()
            switchesLeft = configuration.switchBudget
            if inboxPending.load(ordering: .relaxed) { drainInbox() }
            if !timers.isEmpty { fireTimers(now: Deadline.now.nanoseconds) }
            if let next = runQueue.popFirst() {
                resumeFromLoop(next)
                // The switch budget ran out with fibers still runnable: submit their I/O and
                // reap completions without blocking, so I/O keeps flowing under load.
                if !runQueue.isEmpty, let driver { driver.poll(self, wait: false, until: nil) }
                continue
            }
            if liveFibers == 0 && keepAliveCount == 0 && closeInboxIfEmpty() {
                return
            }
            // Nothing runnable: one blocking wait that also submits what the fibers queued.
            waitForWork()
        }
    }

    private func fireTimers(now: UInt64) {
        while let core = timers.popDue(now: now) {
            unpark(core, with: .timedOut)
        }
    }

    /// Blocks the thread until the earliest timer, submitted work, or (with a driver) I/O.
    private func waitForWork() {
        idle.store(true, ordering: .sequentiallyConsistent)
        defer { idle.store(false, ordering: .relaxed) }
        // Re-check after announcing idleness: a submitter that missed `idle` set the flag first.
        if inboxPending.load(ordering: .sequentiallyConsistent) { return }
        let deadline = timers.earliest.map { Deadline(nanoseconds: $0) }
        if let driver {
            driver.poll(self, wait: true, until: deadline)
        } else {
            waker.wait(until: deadline)
        }
    }

    // MARK: - Cross-thread

    /// Posts `work` to run on this scheduler's thread, in the loop (outside any fiber: to block,
    /// have it spawn a fiber). Safe from any thread. Returns false when the scheduler has
    /// already stopped. Cost: a mutex and, only when the scheduler is idle, one `write(2)`.
    @discardableResult
    public func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        let accepted = inbox.withLock { inbox -> Bool in
            if inbox.closed { return false }
            inbox.work.append(work)
            return true
        }
        guard accepted else { return false }
        inboxPending.store(true, ordering: .sequentiallyConsistent)
        if idle.load(ordering: .sequentiallyConsistent) { wake() }
        return true
    }

    /// True while the loop waits in the kernel for work (nothing runs on its thread). Safe from
    /// any thread (a load); with `switches`, what a watchdog samples.
    public var isWaitingForWork: Bool { idle.load(ordering: .relaxed) }

    /// Wakes the loop if it waits in the kernel. Safe from any thread.
    package func wake() {
        waker.signal()
    }

    private func drainInbox() {
        inboxPending.store(false, ordering: .sequentiallyConsistent)
        let work = inbox.withLock { inbox -> [@Sendable () -> Void] in
            let taken = inbox.work
            inbox.work.removeAll(keepingCapacity: true)
            return taken
        }
        for item in work { item() }
    }
}

/// Work posted by other threads. Closed (under the same lock) when the loop decides to end,
/// so `submit` never accepts work that will not run.
struct Inbox {
    var work: [@Sendable () -> Void] = []
    var closed = false
}

extension Scheduler {
    /// Closes the inbox if it is empty, atomically with respect to `submit`; returns whether it did.
    func closeInboxIfEmpty() -> Bool {
        inbox.withLock { inbox in
            guard inbox.work.isEmpty else { return false }
            inbox.closed = true
            return true
        }
    }
}

/// An event source the scheduler loop waits on when idle: SpindleIO's io_uring reactor.
/// It must also wake up when the scheduler's `waker` eventfd becomes readable (cross-thread
/// `submit` and `wake` signal it).
package protocol SchedulerDriver: AnyObject {
    /// Processes ready events (unparking fibers). With `wait`, blocks until at least one event,
    /// `deadline`, or a signal on `scheduler.waker` — whichever is first.
    func poll(_ scheduler: Scheduler, wait: Bool, until deadline: Deadline?)
}
