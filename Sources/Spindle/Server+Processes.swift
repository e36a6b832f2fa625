import SpindleIO
import SpindleMemory
import Synchronization

// `Server.run()` with `processes` > 1: the supervisor's side (bind, then fork) and a worker
// process's side (build the runtime after the fork, serve, exit).
//
// Listening sockets: bound by the supervisor before the first fork, one SO_REUSEPORT socket
// per worker thread of every worker process (processes × workers), and kept open by it until
// it stops. Worker process `slot` inherits them all, keeps its own `workers` (thread i accepts
// on socket slot × workers + i) and closes the others; its replacement — after a crash or at
// a reload — takes the same sockets. So:
// - the port is held across restarts, and no queued connection is lost: a socket whose
//   process dies stays open in the supervisor, the connections the kernel queued on it wait
//   there for the replacement, and at a reload the old and the new process of a slot take
//   from the same queue until the old one stops taking;
// - the kernel spreads new connections evenly over all sockets by its SO_REUSEPORT hash.
// The other two ways were not taken: each worker binding its own SO_REUSEPORT sockets after
// the fork (a socket that closes with its process resets the connections queued on it, and
// the port refuses connections while no worker runs), and one socket shared by every process
// (the kernel wakes the process that waited last, so one process takes nearly every
// connection while the others idle until it is saturated).
extension Server {
    /// The supervisor: binds, forks the worker processes and supervises them until a stop.
    func runSupervisor() throws {
        router.freeze()
        router.prepareResponder()
        DescriptorLimit.raiseToHardLimit()
        let processes = configuration.processes
        try bind(count: processes * runtime.configuration.workers)
        let address = listeners.withLock { $0[0].value.address }
        logger.info("listening on \(configuration.tls == nil ? "http" : "https")://\(address) with \(processes) worker processes of \(runtime.configuration.workers) worker thread(s) each; supervisor pid \(ChildProcesses.currentID)")
        if let adminPort = configuration.adminPort {
            logger.warning("no admin listener on port \(adminPort): with processes > 1 each worker process has metrics of its own, and none is served yet")
        }
        let supervisor = try Supervisor(
            slots: processes, configuration: configuration.supervision, gracePeriod: configuration.shutdownGracePeriod,
            logger: logger,
            startWorker: { [self] slot, readiness in runWorkerProcess(slot: slot, readiness: readiness) },
            releaseListeners: { [self] in closeListeners() })
        defer { closeListeners() }
        try supervisor.run()
        logger.info("all worker processes have stopped")
    }

    /// A forked worker process: builds its runtime (threads, I/O backend, schedulers, pools),
    /// serves on the inherited listeners until SIGTERM/SIGINT, and exits (0 after a graceful
    /// stop, 1 when serving failed). Tells the supervisor it is ready once every worker thread
    /// runs its accept loop.
    private func runWorkerProcess(slot: Int, readiness: WorkerReadiness) -> Never {
        let pid = ChildProcesses.currentID
        let workerThreads = runtime.configuration.workers
        let accepting = ReadinessCount()
        keepListeners(slot * workerThreads ..< (slot + 1) * workerThreads)
        do {
            let (_, serve) = try prepare(handleSignals: true, alreadyBound: true, withAdmin: false, onAccepting: {
                if accepting.increment() == workerThreads { readiness.announce() }
            })
            try runtime.run(serve)
            logger.info("worker process \(slot) (pid \(pid)) has stopped")
            ChildProcesses.exit(0)
        } catch {
            logger.error("worker process \(slot) (pid \(pid)) failed: \(error)")
            ChildProcesses.exit(1)
        }
    }

    /// In a worker process: keeps the listeners of `range` (its slot's) and closes the others.
    private func keepListeners(_ range: Range<Int>) {
        let others = listeners.withLock { all in
            let others = all.indices.filter { !range.contains($0) }.map { all[$0] }
            all = Array(all[range])
            for listener in all { listener.value.sharesAcceptQueue = true }  // with the slot's next worker
            return others
        }
        for listener in others { listener.value.close() }
    }

    /// Logs that `caller` serves in this process although `processes` asks for more.
    func warnIfProcessesIgnored(_ caller: String) {
        guard configuration.processes > 1 else { return }
        logger.warning("\(caller) serves in this process; processes = \(configuration.processes) applies to the blocking Server.run() only")
    }

    /// Closes the listening sockets this process holds (the supervisor's, when it stops).
    private func closeListeners() {
        let all = listeners.withLock { all in
            defer { all = [] }
            return all
        }
        for listener in all { listener.value.close() }
    }
}

/// Worker threads of a worker process that have reached their accept loop.
private final class ReadinessCount: Sendable {
    private let count = Atomic<Int>(0)

    /// Adds one; returns the new count.
    func increment() -> Int { count.add(1, ordering: .relaxed).newValue }
}
