// The seccomp wrapper the no-io_uring tests rely on (`ProbeProcess(..., ioUringBlocked: true)`,
// Tests/SeccompExec): under it a probe's io_uring system calls fail with EPERM on every thread
// and the ring set-up error names seccomp; without it the same probe sets up rings. Nothing
// here may skip: if io_uring is unavailable to the test process itself, the control fails.
import Foundation
import SpindleTestSupport
import XCTest

final class SeccompTests: IOTestCase {
    func testSeccompWrapperMakesEveryIOUringCallFailWithEPERM() throws {
        let result = try IOProbe.run(["uring-syscalls"], ioUringBlocked: true, timeout: .seconds(30))
        XCTAssertTrue(result.exited, result.summary)
        XCTAssertEqual(result.status, 0, result.summary)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        // Mode 2 is SECCOMP_MODE_FILTER: the probe itself carries the wrapper's filter.
        XCTAssertTrue(lines.contains { $0.hasPrefix("seccomp 2 filters ") }, result.summary)
        for thread in ["main", "thread"] {
            XCTAssertTrue(lines.contains("setup \(thread): errno EPERM"), result.summary)
            let error = lines.first { $0.hasPrefix("error \(thread): ") } ?? ""
            XCTAssertTrue(error.contains("Spindle cannot use io_uring"), result.summary)
            XCTAssertTrue(error.contains("seccomp"), result.summary)
        }
        XCTAssertTrue(lines.contains("enter: errno EPERM"), result.summary)
        XCTAssertTrue(lines.contains("register: errno EPERM"), result.summary)
    }

    /// The control: the same probe without the wrapper sets up rings, and the two calls on a
    /// bad descriptor reach the kernel (EBADF), so the EPERMs above are the filter's doing.
    func testWithoutTheWrapperTheSameProbeSetsUpRings() throws {
        let result = try IOProbe.run(["uring-syscalls"], timeout: .seconds(30))
        XCTAssertTrue(result.exited, result.summary)
        XCTAssertEqual(result.status, 0, result.summary)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        for thread in ["main", "thread"] {
            XCTAssertTrue(lines.contains { $0.hasPrefix("setup \(thread): ok flags=0x") }, result.summary)
        }
        XCTAssertTrue(lines.contains("enter: errno EBADF"), result.summary)
        XCTAssertTrue(lines.contains("register: errno EBADF"), result.summary)
    }

    /// The wrapper runs a program by path with its arguments and exit status untouched, and
    /// says what went wrong, with env(1)'s statuses, when it cannot.
    func testSeccompWrapperPassesArgumentsAndExitStatusAndExplainsFailures() throws {
        let passed = try ProbeProcess(executable: "/bin/sh", arguments: ["-c", "echo \"$0 $1\"; exit 7", "one", "two words"],
                                      ioUringBlocked: true).waitForExit(timeout: .seconds(30))
        XCTAssertEqual(passed.stdout, "one two words\n", passed.summary)
        XCTAssertTrue(passed.exited && passed.status == 7, passed.summary)

        let missing = try ProbeProcess(executable: "/nonexistent/program", arguments: [], ioUringBlocked: true)
            .waitForExit(timeout: .seconds(30))
        XCTAssertTrue(missing.exited && missing.status == 127, missing.summary)
        XCTAssertTrue(missing.stderr.contains("spindle-seccomp-exec: cannot run /nonexistent/program"), missing.summary)

        let usage = try ProbeProcess(executable: SeccompExec.executable().path, arguments: []).waitForExit(timeout: .seconds(30))
        XCTAssertTrue(usage.exited && usage.status == 125, usage.summary)
        XCTAssertTrue(usage.stderr.contains("usage: spindle-seccomp-exec [--] <program> [arguments...]"), usage.summary)
    }
}
