import Logging
import SpindleFibers
import SpindleIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The CPU-hog watchdog: a thread that notices a worker running one fiber (or its loop) for
/// longer than `ServerConfiguration.hogThreshold` without a context switch, and reports it
/// once per incident — worker, fiber id, the request that fiber serves, how long so far, and
/// the backtrace of the running code — as a warning in the log and in
/// `spindle_fiber_hogs_total`. It never stops or kills anything.
///
/// Cost on the workers: none beyond the scheduler's switch count (one relaxed store per switch,
/// which it kept anyway) and the request's subject (two stores per request, `recordServing`).
/// The watchdog thread wakes every quarter threshold and reads two words per worker; when it
/// reports, it interrupts the worker once (SIGURG; the handler records the backtrace into a
/// preallocated buffer) and symbolizes the frames on its own thread. Safe from any thread.
final class HogWatchdog: Sendable {
    /// A worker being watched.
    private struct Watched: Sendable {
        let scheduler: Scheduler
        let thread: ThreadHandle
    }

    private let watched = Mutex<[Int: Watched]>([:])
    private let thread = Mutex<OSThread?>(nil)
    private let stopping = Atomic<Bool>(false)
    private let reported = Atomic<Int>(0)

    /// Incidents reported so far.
    var hogs: Int { reported.load(ordering: .relaxed) }

    /// Adds worker `index` (on its own thread, `thread`) to the watch.
    func watch(worker index: Int, scheduler: Scheduler, thread: ThreadHandle) {
        watched.withLock { $0[index] = Watched(scheduler: scheduler, thread: thread) }
    }

    /// Stops watching worker `index` (it has drained).
    func unwatch(worker index: Int) {
        _ = watched.withLock { $0.removeValue(forKey: index) }
    }

    /// Starts the watchdog thread, unless `threshold` is nil or not positive (or it runs).
    /// Cost: one thread.
    func start(threshold: Duration?, logger: Logger) {
        guard let threshold, threshold > .zero else { return }
        stopping.store(false, ordering: .relaxed)
        thread.withLock { running in
            guard running == nil else { return }
            running = try? OSThread.start(name: "spindle-watchdog") { [self] in
                run(threshold: threshold, logger: logger)
            }
        }
    }

    /// Asks the watchdog thread to stop and lets it end by itself (returns at once; it ends
    /// within a quarter threshold). Safe from a worker thread, where waiting could deadlock.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        thread.withLock { running -> OSThread? in
            defer { running = nil }
            return running
        }?.detach()
    }

    /// Stops the watchdog thread and waits for it (returns at once when it does not run).
    func stopAndWait() {
        stopping.store(true, ordering: .relaxed)
        let running = thread.withLock { running -> OSThread? in
            defer { running = nil }
            return running
        }
        running?.join()
    }

    /// What the watchdog knows about one worker between samples.
    private struct Sample {
        var switches: UInt64
        var since: Deadline
        var reported: Bool
    }

    private func run(threshold: Duration, logger: Logger) {
        let interval = max(threshold / 4, .milliseconds(1))
        var samples: [Int: Sample] = [:]
        while !stopping.load(ordering: .relaxed) {
            Self.pause(interval)
            let now = Deadline.now
            let workers = watched.withLock { $0 }
            for (index, worker) in workers {
                let switches = worker.scheduler.switches
                let waiting = worker.scheduler.isWaitingForWork
                guard var sample = samples[index], sample.switches == switches, !waiting else {
                    samples[index] = Sample(switches: switches, since: now, reported: false)
                    continue
                }
                let running = now - sample.since
                if !sample.reported && running >= threshold {
                    sample.reported = true
                    report(worker: index, worker.thread, running: running, logger: logger)
                }
                samples[index] = sample
            }
            samples = samples.filter { workers[$0.key] != nil }
        }
    }

    /// One incident: captures the worker's thread and logs it.
    private func report(worker index: Int, _ thread: ThreadHandle, running: Duration, logger: Logger) {
        reported.add(1, ordering: .relaxed)
        guard let capture = ThreadCapture.take(of: thread, timeoutMilliseconds: 200) else {
            logger.warning("worker \(index) has run for \(Self.milliseconds(running)) ms without a context switch (its thread did not answer the watchdog's capture)")
            return
        }
        let what = capture.fiberID == 0 ? "its scheduler loop" : "fiber \(capture.fiberID)"
        let serving = capture.subject.isEmpty ? "" : " serving \(FiberDump.printable(capture.subject))"
        var message = "worker \(index): \(what)\(serving) has run for \(Self.milliseconds(running)) ms without parking (watchdog threshold reached); backtrace:"
        for (number, frame) in capture.frames.enumerated() { message += "\n  #\(number) \(frame)" }
        logger.warning("\(message)")
    }

    /// Whole milliseconds of `duration`.
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds &* 1000 &+ attoseconds / 1_000_000_000_000_000
    }

    /// Sleeps the calling (watchdog) thread for `duration`.
    private static func pause(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var time = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&time, &remaining) != 0 && errno == EINTR { time = remaining }
    }
}
