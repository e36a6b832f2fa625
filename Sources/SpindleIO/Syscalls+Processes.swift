// Processes: the fork, waitpid, kill, signal-mask and poll calls of SpindleIO, for the pre-fork
// supervisor (Spindle's Supervisor.swift). The calls Swift's Glibc module does not import
// (signalfd, prctl) are shims in Syscalls.swift (`ProcessShims`).
//
// The supervisor is one thread and stays one thread: it forks worker processes, takes its
// signals (SIGCHLD, SIGTERM, SIGINT, SIGHUP) from a signalfd and the workers' "ready" notices
// from a datagram socket, and waits on both with poll.
#if canImport(Glibc)
import Glibc
#endif
import SpindleMemory

/// How a child process ended, from `waitpid`.
package enum ProcessExit: Equatable, Sendable, CustomStringConvertible {
    /// It called `exit(status)` (or returned from `main`).
    case exited(status: Int32)
    /// A signal ended it (a trap is SIGILL or SIGTRAP, a crash SIGSEGV or SIGBUS, `kill -9` SIGKILL).
    case killed(signal: Int32)

    /// Decodes a `waitpid` status (the `WIFEXITED`/`WTERMSIG` macros, which Swift cannot import).
    package init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited(status: (status >> 8) & 0xff) : .killed(signal: signal)
    }

    /// "exit status 1", "signal SIGKILL".
    package var description: String {
        switch self {
        case .exited(let status): "exit status \(status)"
        case .killed(let signal): "signal \(SignalName.of(signal))"
        }
    }
}

/// Symbolic signal names for log lines.
package enum SignalName {
    /// "SIGTERM", or the number ("42") for one not in the table.
    package static func of(_ signal: Int32) -> String {
        switch signal {
        case SIGHUP: "SIGHUP"
        case SIGINT: "SIGINT"
        case SIGQUIT: "SIGQUIT"
        case SIGILL: "SIGILL"
        case SIGTRAP: "SIGTRAP"
        case SIGABRT: "SIGABRT"
        case SIGBUS: "SIGBUS"
        case SIGFPE: "SIGFPE"
        case SIGKILL: "SIGKILL"
        case SIGUSR1: "SIGUSR1"
        case SIGSEGV: "SIGSEGV"
        case SIGUSR2: "SIGUSR2"
        case SIGPIPE: "SIGPIPE"
        case SIGALRM: "SIGALRM"
        case SIGTERM: "SIGTERM"
        case SIGCHLD: "SIGCHLD"
        case SIGXCPU: "SIGXCPU"
        case SIGXFSZ: "SIGXFSZ"
        case SIGSYS: "SIGSYS"
        default: "\(signal)"
        }
    }
}

/// Forking, reaping and signalling child processes.
package enum ChildProcesses {
    /// This process's id (`getpid`).
    package static var currentID: Int32 { getpid() }

    /// Forks. Returns 0 in the child and the child's pid in the parent. Flushes stdio first, so
    /// that output buffered before the fork is not written twice. Only a process with one thread
    /// may fork safely (a lock another thread holds stays held forever in the child): the caller
    /// checks `threadCount`. Cost: one `fork` (page tables copied, memory shared copy-on-write).
    package static func fork() throws(IOError) -> Int32 {
        fflush(nil)
        let pid = Glibc.fork()
        if pid < 0 { throw IOError("fork", errno: errno) }
        return pid
    }

    /// Reaps one ended child without waiting: its pid and how it ended, or nil when no child has
    /// ended (or there is none). One `waitpid(-1, WNOHANG)`; retries EINTR.
    package static func reap() throws(IOError) -> (pid: Int32, exit: ProcessExit)? {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 { return (pid, ProcessExit(waitStatus: status)) }
            if pid == 0 { return nil }
            let e = errno
            if e == EINTR { continue }
            if e == ECHILD { return nil }
            throw IOError("waitpid", errno: e)
        }
    }

    /// Sends `signal` to `pid`; false when the process is gone (ESRCH). One `kill`.
    @discardableResult
    package static func send(_ signal: Int32, to pid: Int32) -> Bool {
        misusePrecondition(pid > 0, "ChildProcesses.send: pid \(pid) would signal a process group")
        return kill(pid, signal) == 0
    }

    /// The number of threads of this process (`Threads:` in /proc/self/status), or nil when
    /// /proc cannot be read. Cost: an open, a read and a close.
    package static func threadCount() -> Int? {
        let fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += chunk[0..<n]
        }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("Threads:") {
            return Int(String(line.dropFirst("Threads:".count).filter { $0 != " " && $0 != "\t" }))
        }
        return nil
    }

    /// Ends this process with `status` (stdio flushed, `atexit` handlers run).
    package static func exit(_ status: Int32) -> Never {
        fflush(nil)
        Glibc.exit(status)
    }
}

/// What the supervisor waits for, in one `poll`: its signals (through a signalfd) and the
/// "ready" notices of its workers (pids, as datagrams on a socket pair the workers inherit).
/// Supervisor thread only; create it before forking the first worker.
package final class SupervisorEvents {
    /// The signals the supervisor takes (blocked in its thread, read from the signalfd).
    package static let signals: [Int32] = [SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT]

    private let signalDescriptor: Int32
    /// [0]: the supervisor reads notices; [1]: workers send them (the supervisor keeps it for
    /// the workers it has yet to fork).
    private let notices: (receive: Int32, send: Int32)
    private var maskBefore = sigset_t()
    private let supervisorID: Int32

    /// Blocks `signals` in the calling thread (so they wait for the signalfd instead of acting)
    /// and opens the signalfd and the notice socket pair. Cost: four system calls, three
    /// descriptors.
    package init() throws(IOError) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in Self.signals { sigaddset(&set, signal) }
        var before = sigset_t()
        pthread_sigmask(SIG_BLOCK, &set, &before)
        let signalDescriptor: Int32
        do { signalDescriptor = try ProcessShims.signalDescriptor(for: set) } catch {
            pthread_sigmask(SIG_SETMASK, &before, nil)
            throw error
        }
        var pair: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) != 0 {
            let e = errno
            Glibc.close(signalDescriptor)
            pthread_sigmask(SIG_SETMASK, &before, nil)
            throw IOError("socketpair", errno: e)
        }
        self.signalDescriptor = signalDescriptor
        self.notices = (pair[0], pair[1])
        self.maskBefore = before
        self.supervisorID = getpid()
    }

    deinit {
        Glibc.close(signalDescriptor)
        Glibc.close(notices.receive)
        Glibc.close(notices.send)
        pthread_sigmask(SIG_SETMASK, &maskBefore, nil)
    }

    /// What one wait returned.
    package struct Arrivals {
        /// Signals taken, in the order the kernel gave them (lowest number first).
        package var signals: [Int32] = []
        /// Pids of workers that said they are ready.
        package var ready: [Int32] = []
    }

    /// Waits until a signal or a notice arrives, or `timeout` passes (nil: no timeout), and
    /// takes everything that has arrived. Parks the thread (it is the supervisor's only one).
    package func wait(timeout: Duration?) throws(IOError) -> Arrivals {
        var descriptors = [pollfd(fd: signalDescriptor, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: notices.receive, events: Int16(POLLIN), revents: 0)]
        let milliseconds: Int32 = timeout.map { duration in
            let (seconds, attoseconds) = duration.components
            guard seconds >= 0 else { return 0 }
            let total = seconds.multipliedReportingOverflow(by: 1000)
            let rounded = total.partialValue.addingReportingOverflow((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            return total.overflow || rounded.overflow ? Int32.max : Int32(clamping: rounded.partialValue)
        } ?? -1
        let rc = poll(&descriptors, 2, milliseconds)
        if rc < 0 && errno != EINTR { throw IOError("poll", errno: errno) }
        var arrivals = Arrivals()
        while let signal = try ProcessShims.readSignal(signalDescriptor) { arrivals.signals.append(signal) }
        while true {
            var pid: Int32 = 0
            let n = withUnsafeMutableBytes(of: &pid) { recv(notices.receive, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n == MemoryLayout<Int32>.size { arrivals.ready.append(pid); continue }
            if n < 0 && errno == EINTR { continue }
            break  // EAGAIN: none left (a short datagram is not a notice and is dropped)
        }
        return arrivals
    }

    /// In a worker, right after the fork: gives up the supervisor's side (its signalfd and the
    /// receiving end), restores the signal mask the supervisor's thread had, keeping SIGTERM,
    /// SIGINT and SIGQUIT blocked for the worker's signal watcher (one arriving before the watcher
    /// starts waits for it, instead of ending the process) and SIGHUP blocked for good (a terminal hang-up reaches the supervisor,
    /// which reloads; a worker ignores it), asks for SIGTERM when the supervisor dies, and ends
    /// the process at once when the supervisor is already gone. Returns what the worker uses to
    /// say it is ready.
    package func enterWorker() -> WorkerReadiness {
        Glibc.close(signalDescriptor)
        Glibc.close(notices.receive)
        var mask = maskBefore
        for signal in [SIGTERM, SIGINT, SIGQUIT, SIGHUP] { sigaddset(&mask, signal) }
        pthread_sigmask(SIG_SETMASK, &mask, nil)
        // PR_SET_PDEATHSIG fires when the thread that forked this process ends; the supervisor
        // is a single thread, so that is when the supervisor ends.
        try? ProcessShims.setParentDeathSignal(SIGTERM)
        if getppid() != supervisorID {
            ChildProcesses.exit(0)  // the supervisor ended before the request could take effect
        }
        return WorkerReadiness(descriptor: notices.send)
    }
}

/// A worker process's side of the notice socket: tells the supervisor it is ready.
package struct WorkerReadiness: Sendable {
    let descriptor: Int32

    /// Sends this process's pid to the supervisor (one datagram, never blocks, no SIGPIPE; a
    /// supervisor that is gone is ignored). Any thread.
    package func announce() {
        var pid = getpid()
        _ = withUnsafeBytes(of: &pid) { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)) }
    }
}
