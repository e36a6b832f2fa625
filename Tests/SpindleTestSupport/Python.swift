// Runs a short python3 program as an independent implementation to check Spindle's output
// against (gzip decoding, a real HTTP client), with its streams piped and a bounded wait.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation

/// Runs `python3 -c program arguments…` with `input` on its stdin; returns what it wrote to
/// stdout. Throws `TestFailure` (with its stderr) when it exits with a non-zero status, or
/// when it has not exited within `timeout` (it is killed then). python3 is installed by
/// `make test` (TEST_PACKAGES).
public func runPython(_ program: String, arguments: [String] = [], input: [UInt8] = [],
                      timeout: Duration = .seconds(30)) throws -> [UInt8] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", program] + arguments
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    // Writer and readers on their own threads: a large input or output cannot fill a pipe and
    // block both sides.
    let done = DispatchSemaphore(value: 0)
    let output = Locked(Data()), errors = Locked(Data())
    let writing = stdin.fileHandleForWriting
    Thread {
        try? writing.write(contentsOf: Data(input))
        try? writing.close()
        done.signal()
    }.start()
    for (pipe, sink) in [(stdout, output), (stderr, errors)] {
        let handle = pipe.fileHandleForReading
        Thread {
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                sink.withLock { $0.append(data) }
            }
            done.signal()
        }.start()
    }
    let exitedInTime = waitUntil(timeout: timeout) { !process.isRunning }
    if !exitedInTime {
        process.terminate()
        if !waitUntil(timeout: .seconds(2), { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
    }
    process.waitUntilExit()
    for _ in 0..<3 { done.wait() }
    try? stdout.fileHandleForReading.close()
    try? stderr.fileHandleForReading.close()
    let message = String(decoding: errors.current, as: UTF8.self)
    guard exitedInTime else { throw TestFailure("python3 did not exit within \(timeout); killed. stderr:\n\(message)") }
    guard process.terminationStatus == 0 else {
        throw TestFailure("python3 exited with status \(process.terminationStatus). stderr:\n\(message)")
    }
    return [UInt8](output.current)
}

/// What a peer script (`Tests/Peers/*.py`) printed and how it ended.
public struct PeerScriptRun: Sendable {
    /// Its standard output and error, interleaved, split into lines.
    public let lines: [String]
    /// Its exit status (meaningless when `timedOut`).
    public let status: Int32
    /// It had not finished within the time given and was terminated.
    public let timedOut: Bool
}

/// Runs `python3 script arguments…` with stdout and stderr in one pipe, for at most `timeout`
/// (then it is terminated, and killed 5 s later if it still runs). The peers under
/// `Tests/Peers/` print one line per check (`ok …`, `FAIL …`) and `done` at their end; the
/// caller judges the lines.
public func runPeerScript(_ script: String, arguments: [String], timeout: Duration) throws -> PeerScriptRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let finished = DispatchSemaphore(value: 0)
    let collected = Locked(Data())
    let reading = output.fileHandleForReading
    Thread {
        let data = reading.readDataToEndOfFile()
        collected.withLock { $0 = data }
        finished.signal()
    }.start()
    let exitedInTime = waitUntil(timeout: timeout) { !process.isRunning }
    if !exitedInTime {
        process.terminate()
        if !waitUntil(timeout: .seconds(5), { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
    }
    process.waitUntilExit()
    _ = finished.wait(timeout: .now() + 5)
    let lines = String(decoding: collected.current, as: UTF8.self).split(separator: "\n").map(String.init)
    return PeerScriptRun(lines: lines, status: process.terminationStatus, timedOut: !exitedInTime)
}
