// Runs a test probe (a small executable target SwiftPM builds next to the test bundle) as a
// subprocess with its three standard streams piped: lines to its stdin, its output collected as
// it comes, and a bounded wait for its exit that kills it when it overstays. Optionally under
// `spindle-seccomp-exec`, without io_uring (SeccompExec.swift).
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation

/// How a probe ended and what it printed.
public struct ProbeOutcome {
    /// The exit status, or the signal that killed the probe.
    public let status: Int32
    /// Whether the probe exited or was killed by a signal.
    public let reason: Process.TerminationReason
    /// Everything the probe wrote to stdout.
    public let stdout: String
    /// Everything the probe wrote to stderr.
    public let stderr: String

    /// True when the probe exited (rather than being killed by a signal).
    public var exited: Bool { reason == .exit }

    /// The signal that killed the probe, or nil when it exited.
    public var signal: Int32? { reason == .uncaughtSignal ? status : nil }

    /// How it ended and both streams, for assertion messages.
    public var summary: String {
        "reason=\(exited ? "exit" : "signal") status=\(status)\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
    }
}

/// A running probe subprocess with its three standard streams piped. Subclasses name the probe.
open class ProbeProcess: @unchecked Sendable {
    // @unchecked Sendable: mutable state behind locks; the rest is immutable.

    /// The executable `name`, which SwiftPM builds into the same products directory as the test
    /// bundle (`<scratch>/<triple>/<configuration>/`). Searched from the test binary's location
    /// upwards. An absolute path is taken as it is.
    public static func executable(named name: String) throws -> URL {
        if name.hasPrefix("/") { return URL(fileURLWithPath: name) }
        var starts: [URL] = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0])]
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: exe))
        }
        var tried: [String] = []
        for start in starts {
            var dir = start.deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = dir.appendingPathComponent(name)
                tried.append(candidate.path)
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw TestFailure("\(name) executable not found next to the test binary; build it with `swift build --build-tests`. Looked at:\n  " + tried.joined(separator: "\n  "))
    }

    /// The probe's executable name.
    public let name: String
    /// The arguments it was started with.
    public let arguments: [String]
    /// Whether it runs under `spindle-seccomp-exec` (io_uring system calls fail with EPERM).
    public let ioUringBlocked: Bool
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let errors = Pipe()
    /// Everything the probe printed so far (stdout), and its stderr.
    private let outputData = Locked(Data())
    private let errorData = Locked(Data())
    private let readersDone = DispatchSemaphore(value: 0)
    private let reaped = Locked(false)

    /// Starts `name <arguments>` with `environment` added to this process's environment minus
    /// any `SPINDLE_*` variable except `SPINDLE_IO` (so a suite run with `SPINDLE_IO=epoll` runs
    /// its probes on the same backend). With `ioUringBlocked`, under `spindle-seccomp-exec`: the
    /// probe's io_uring_setup, io_uring_enter and io_uring_register fail with EPERM, as in a
    /// container under Docker's default seccomp profile.
    public init(executable name: String, arguments: [String], environment: [String: String] = [:], ioUringBlocked: Bool = false) throws {
        self.name = name
        self.arguments = arguments
        self.ioUringBlocked = ioUringBlocked
        let program = try ProbeProcess.executable(named: name)
        if ioUringBlocked {
            let command = try SeccompExec.command(running: program, arguments: arguments)
            process.executableURL = command.executable
            process.arguments = command.arguments
        } else {
            process.executableURL = program
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPINDLE_") || $0.key == "SPINDLE_IO" }
        // Swift's crash backtracer would add seconds of symbolication to every expected crash.
        env["SWIFT_BACKTRACE"] = "enable=no"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Both pipes are read as the data comes, so a chatty probe cannot block on a full pipe.
        for (pipe, sink) in [(output, outputData), (errors, errorData)] {
            let handle = pipe.fileHandleForReading
            let done = readersDone
            let reader = Thread {
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    sink.withLock { $0.append(data) }
                }
                done.signal()
            }
            reader.start()
        }
    }

    /// The command line as failure messages show it.
    private var commandLine: String {
        (ioUringBlocked ? "\(SeccompExec.name) -- " : "") + ([name] + arguments).joined(separator: " ")
    }

    /// True until the probe has exited.
    public var isRunning: Bool { process.isRunning }
    /// The probe's process id (under `spindle-seccomp-exec`, which execs it, the same process),
    /// to read its `/proc/<pid>/` files.
    public var processIdentifier: Int32 { process.processIdentifier }
    /// What the probe wrote to stdout so far.
    public var stdout: String { String(decoding: outputData.current, as: UTF8.self) }
    /// What the probe wrote to stderr so far.
    public var stderr: String { String(decoding: errorData.current, as: UTF8.self) }

    /// Waits at most `timeout` for a stdout line starting with `prefix`; returns it.
    public func waitForLine(prefix: String, timeout: Duration) throws -> String {
        var found: String? = nil
        let ok = waitUntil(timeout: timeout) {
            found = stdout.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init)
            return found != nil || !process.isRunning
        }
        if let found { return found }
        // One last look: the line may have come with the exit.
        usleep(50_000)
        if let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line) }
        throw TestFailure("\(commandLine): no line \"\(prefix)…\" \(ok ? "before it exited (status \(process.isRunning ? -1 : process.terminationStatus))" : "within \(timeout)")\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)")
    }

    /// Writes `line` and a newline to the probe's standard input. A probe that has died makes
    /// this throw (EPIPE) instead of raising SIGPIPE in the test process: SIGPIPE is blocked on
    /// this thread for the write and a raised one is consumed (the process keeps SIGPIPE's
    /// default action, so a server write without MSG_NOSIGNAL would still show).
    public func send(line: String) throws {
        let fd = input.fileHandleForWriting.fileDescriptor
        var block = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGPIPE)
        var old = sigset_t()
        pthread_sigmask(SIG_BLOCK, &block, &old)
        defer {
            var pending = sigset_t()
            sigpending(&pending)
            if sigismember(&pending, SIGPIPE) == 1 {
                var zero = timespec()
                _ = sigtimedwait(&block, nil, &zero)
            }
            pthread_sigmask(SIG_SETMASK, &old, nil)
        }
        let bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("writing to \(name)'s stdin: errno \(errno) (the probe has exited?)")
            }
            offset += n
        }
    }

    /// Sends `signal` (e.g. SIGTERM) to the probe process; throws when it has already exited.
    public func send(signal: Int32) throws {
        guard process.isRunning else { throw TestFailure("\(name) has already exited; cannot send signal \(signal)") }
        guard kill(process.processIdentifier, signal) == 0 else {
            throw TestFailure("kill(\(process.processIdentifier), \(signal)) for \(name): errno \(errno)")
        }
    }

    /// Waits for the probe to exit: at most `timeout` (then kills it and throws), or without
    /// bound when `timeout` is nil. Safe to call again (a test case's tearDown may).
    @discardableResult
    public func waitForExit(timeout: Duration?) throws -> ProbeOutcome {
        let exitedInTime = timeout.map { limit in waitUntil(timeout: limit) { !process.isRunning } } ?? true
        if !exitedInTime {
            process.terminate()
            if !waitUntil(timeout: .seconds(2), { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        if !reaped.withLock({ let was = $0; $0 = true; return was }) {
            try? input.fileHandleForWriting.close()
            readersDone.wait()
            readersDone.wait()
            try? output.fileHandleForReading.close()
            try? errors.fileHandleForReading.close()
        }
        if !exitedInTime, let timeout {
            throw TestFailure("\(commandLine) did not exit within \(timeout); killed.\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)")
        }
        return ProbeOutcome(status: process.terminationStatus, reason: process.terminationReason, stdout: stdout, stderr: stderr)
    }
}
