import Logging
import SpindleFibers
import SpindleIO
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// The pre-fork supervisor (`ServerConfiguration.processes` > 1): the thread that called
/// `Server.run()` forks the worker processes, restarts those that die, and turns its signals
/// into graceful stops and reloads. It never touches a connection: the workers inherit the
/// listening sockets it bound and accept on them.
///
/// It is one thread and stays one thread (a fork copies only the calling thread, so a lock
/// another thread held would stay held forever in the child; every fork checks this): it waits
/// in `poll` for its signals (signalfd) and the workers' ready notices, and for its timers
/// (a delayed restart, a worker to kill after its grace period).
///
///   SIGCHLD   a worker ended: reaped; unless stopping or replaced, restarted (RestartPolicy)
///   SIGTERM,  graceful stop: SIGTERM to every worker, SIGKILL to those still running after
///   SIGINT    `shutdownGracePeriod + stopMargin`; `run` returns once all have ended
///   SIGQUIT   forwarded to every ready worker, which prints its fiber dump and goes on serving
///   SIGHUP    reload: a new worker per slot; once all of them are ready, SIGTERM to the old
///             ones, which finish their requests and end
final class Supervisor {
    /// One worker process started and not reaped yet.
    private struct WorkerProcess {
        /// Its place (0 ..< processes); a replacement takes the same slot.
        let slot: Int
        /// The reload it was started in (0: before any).
        let generation: Int
        /// It said it is ready (every worker thread of it runs its accept loop).
        var isReady = false
        var stop = StopState.running
    }

    private enum StopState {
        case running
        /// SIGTERM sent; SIGKILL at `killAt` if it is still running.
        case terminated(killAt: Deadline)
        /// SIGKILL sent.
        case killed
    }

    private enum Phase {
        case serving
        /// A new generation is starting; the old one serves until every new worker is ready.
        case reloading
        /// SIGTERM sent to every worker; `run` ends when all have ended, throwing `failure`.
        case stopping(failure: SupervisorError?)
    }

    private let slots: Int
    private let configuration: SupervisorConfiguration
    private let stopTimeout: Duration
    private let logger: Logger
    private let events: SupervisorEvents
    private let startWorker: (_ slot: Int, _ readiness: WorkerReadiness) -> Never
    private let releaseListeners: () -> Void
    private var policy: RestartPolicy
    private var phase = Phase.serving
    private var workers: [Int32: WorkerProcess] = [:]
    /// Slots waiting for a restart after a back-off, and when.
    private var restarts: [Int: Deadline] = [:]
    private var generation = 0

    /// A supervisor of `slots` worker processes; `startWorker` is what a forked child runs (it
    /// never returns), `releaseListeners` closes the supervisor's listening sockets when it
    /// stops. Blocks the supervisor's signals in the calling thread.
    init(slots: Int, configuration: SupervisorConfiguration, gracePeriod: Duration, logger: Logger,
         startWorker: @escaping (_ slot: Int, _ readiness: WorkerReadiness) -> Never,
         releaseListeners: @escaping () -> Void) throws {
        self.slots = slots
        self.configuration = configuration
        self.stopTimeout = gracePeriod + configuration.stopMargin
        self.logger = logger
        self.startWorker = startWorker
        self.releaseListeners = releaseListeners
        policy = RestartPolicy(slots: slots, configuration: configuration)
        events = try SupervisorEvents()
    }

    /// Starts the workers and supervises them until a SIGTERM/SIGINT stop has ended them all.
    /// Throws `SupervisorError` when workers crash-loop at start (after stopping the others).
    func run() throws {
        for slot in 0..<slots { start(slot) }
        do {
            while true {
                if case .stopping(let failure) = phase, workers.isEmpty {
                    if let failure { throw failure }
                    return
                }
                let now = Deadline.now
                let arrivals = try events.wait(timeout: nextTimer().map { $0 > now ? $0 - now : .zero })
                for signal in arrivals.signals { take(signal) }
                for pid in arrivals.ready { workerReady(pid) }
                while let ended = try ChildProcesses.reap() { workerEnded(ended.pid, ended.exit) }
                runDueTimers()
            }
        } catch let error as IOError {
            // The supervisor cannot wait any more: stop the workers rather than leave them.
            logger.critical("supervisor failed: \(error); sending SIGTERM to the worker processes")
            for pid in workers.keys { ChildProcesses.send(SIGTERM, to: pid) }
            throw error
        }
    }

    // MARK: - Starting

    private func start(_ slot: Int) {
        let threads = ChildProcesses.threadCount()
        misusePrecondition(threads == nil || threads == 1, "Server.run() with processes > 1 forks its worker processes from the calling thread, which is only safe while the process has that one thread (it has \(threads ?? 0)): start no thread before run() (no Server.start(), Runtime, Fiber.offload or logging backend with threads of its own); the workers start theirs after the fork")
        let pid: Int32
        do {
            pid = try ChildProcesses.fork()
        } catch {
            died(slot: slot, wasReady: false, what: "worker process \(slot) could not be started (\(error))")
            return
        }
        if pid == 0 { startWorker(slot, events.enterWorker()) }
        workers[pid] = WorkerProcess(slot: slot, generation: generation)
        logger.info("worker process \(slot) started: pid \(pid)\(generation > 0 ? " (generation \(generation))" : "")")
    }

    private func workerReady(_ pid: Int32) {
        guard var worker = workers[pid], !worker.isReady else { return }
        worker.isReady = true
        workers[pid] = worker
        logger.info("worker process \(worker.slot) (pid \(pid)) is ready")
        if case .reloading = phase, newGenerationIsReady { finishReload() }
    }

    // MARK: - Deaths and restarts

    private func workerEnded(_ pid: Int32, _ exit: ProcessExit) {
        guard let worker = workers.removeValue(forKey: pid) else { return }  // not a worker
        let name = "worker process \(worker.slot) (pid \(pid))"
        if case .stopping = phase {
            logger.info("\(name) stopped: \(exit)")
            return
        }
        if worker.generation < generation {
            if case .running = worker.stop {
                logger.warning("\(name) of the previous generation ended during the reload: \(exit)")
            } else {
                logger.info("\(name) of the previous generation stopped: \(exit)")
            }
            return
        }
        died(slot: worker.slot, wasReady: worker.isReady, what: "\(name) ended unexpectedly (\(exit))")
    }

    /// A worker of the current generation died (or could not be forked): restart or give up.
    private func died(slot: Int, wasReady: Bool, what: String) {
        switch policy.workerDied(slot: slot, at: .now, wasReady: wasReady) {
        case .restart(after: let delay) where delay == .zero:
            logger.error("\(what); restarting it")
            start(slot)
        case .restart(after: let delay):
            logger.error("\(what); restarting it in \(delay) (it keeps dying)")
            restarts[slot] = .now + delay
        case .giveUp(startupDeaths: let deaths):
            logger.error("\(what)")
            let failure = SupervisorError(description: "worker processes crash-loop at start: \(deaths) died before they were ready within \(configuration.crashLoopWindow) (the last: \(what)); giving up. The log lines above say why; SupervisorConfiguration.crashLoopLimit sets how many deaths are tolerated")
            logger.critical("\(failure)")
            stop(reason: "crash loop", failure: failure)
        }
    }

    // MARK: - Signals

    private func take(_ signal: Int32) {
        switch signal {
        case SIGTERM, SIGINT: stop(reason: SignalName.of(signal), failure: nil)
        case SIGHUP: reload()
        case SIGQUIT: forwardDumpRequest()
        default: break  // SIGCHLD: the reaping after the signals
        }
    }

    /// SIGQUIT: each worker process that is ready (and so watches its signals) prints its fiber
    /// dump to stderr (the supervisor's, which the workers share); none stops. A worker still
    /// starting is skipped: until its watcher runs, SIGQUIT would end it.
    private func forwardDumpRequest() {
        let ready = workers.filter { $0.value.isReady }.keys.sorted()
        logger.info("SIGQUIT: asking \(ready.count) worker process(es) for their fiber dumps (pids \(ready.map(String.init).joined(separator: ", ")))")
        for pid in ready { ChildProcesses.send(SIGQUIT, to: pid) }
    }

    /// Graceful stop: SIGTERM to every worker, SIGKILL to those that outlast `stopTimeout`.
    private func stop(reason: String, failure: SupervisorError?) {
        if case .stopping = phase { return }
        phase = .stopping(failure: failure)
        restarts.removeAll()
        releaseListeners()
        let killAt = Deadline.now + stopTimeout
        for (pid, worker) in workers {
            guard case .running = worker.stop else { continue }
            ChildProcesses.send(SIGTERM, to: pid)
            workers[pid]?.stop = .terminated(killAt: killAt)
        }
        logger.info("\(reason): stopping \(workers.count) worker process(es) gracefully (SIGTERM; SIGKILL to any still running after \(stopTimeout))")
    }

    /// Reload: a new worker in every slot; the old ones get SIGTERM once all new ones are ready.
    private func reload() {
        switch phase {
        case .serving: break
        case .reloading:
            logger.warning("SIGHUP: a reload is already under way; ignored")
            return
        case .stopping:
            return
        }
        generation += 1
        phase = .reloading
        restarts.removeAll()
        logger.info("SIGHUP: reloading: starting \(slots) new worker process(es); the \(workers.count) running now stop once all new ones are ready")
        for slot in 0..<slots { start(slot) }
    }

    private var newGenerationIsReady: Bool {
        (0..<slots).allSatisfy { slot in
            workers.values.contains { $0.slot == slot && $0.generation == generation && $0.isReady }
        }
    }

    private func finishReload() {
        phase = .serving
        let killAt = Deadline.now + stopTimeout
        var stopping = 0
        for (pid, worker) in workers where worker.generation < generation {
            guard case .running = worker.stop else { continue }
            ChildProcesses.send(SIGTERM, to: pid)
            workers[pid]?.stop = .terminated(killAt: killAt)
            stopping += 1
        }
        logger.info("reload: the \(slots) new worker process(es) are ready; stopping the \(stopping) old one(s) gracefully")
    }

    // MARK: - Timers

    private func nextTimer() -> Deadline? {
        var next = restarts.values.min()
        for worker in workers.values {
            if case .terminated(let killAt) = worker.stop { next = min(next ?? killAt, killAt) }
        }
        return next
    }

    private func runDueTimers() {
        let now = Deadline.now
        for (slot, at) in restarts where at <= now {
            restarts[slot] = nil
            start(slot)
        }
        for (pid, worker) in workers {
            guard case .terminated(let killAt) = worker.stop, killAt <= now else { continue }
            ChildProcesses.send(SIGKILL, to: pid)
            workers[pid]?.stop = .killed
            logger.warning("worker process \(worker.slot) (pid \(pid)) still running \(stopTimeout) after SIGTERM: SIGKILL")
        }
    }
}
