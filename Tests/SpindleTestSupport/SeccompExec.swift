// Running a program without io_uring, the way it runs in a container under Docker's default
// seccomp profile: `spindle-seccomp-exec` (Tests/SeccompExec/main.c) installs a seccomp filter
// that makes io_uring_setup, io_uring_enter and io_uring_register fail with EPERM, then execs
// the program. The filter stays on the program and every thread and child it starts; the test
// process itself is never filtered.
//
// A probe: `ProbeProcess(executable:arguments:ioUringBlocked: true)` (its subclasses forward
// the flag). Any other program: `SeccompExec.command(running:arguments:)` gives the command
// line for a `Process`.
import Foundation

/// The `spindle-seccomp-exec` wrapper: finds it and builds command lines that run under it.
public enum SeccompExec {
    /// The wrapper's executable name (a test-only C executable target).
    public static let name = "spindle-seccomp-exec"

    /// The wrapper, which SwiftPM builds next to the test bundle and the probes.
    public static func executable() throws -> URL {
        try ProbeProcess.executable(named: name)
    }

    /// The executable and arguments that run `program` with `arguments` under the filter.
    public static func command(running program: URL, arguments: [String]) throws -> (executable: URL, arguments: [String]) {
        (try executable(), ["--", program.path] + arguments)
    }
}
