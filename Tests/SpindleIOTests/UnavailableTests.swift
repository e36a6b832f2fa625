// When io_uring cannot be used (a seccomp filter refuses it, as container runtimes do): asked
// for explicitly, Runtime.run throws an error that names the cause and the fix; chosen
// automatically, the runtime falls back to epoll, says why, and serves.
import Foundation
import SpindleIO
import XCTest

final class UnavailableTests: IOTestCase {
    func testSeccompBlockedIOUringGivesAClearError() throws {
        try SuiteBackend.skipOnEpoll("io_uring is forced explicitly here (the setting under test); it runs in the io_uring pass")
        let result = try IOProbe.run(["uring-blocked"], timeout: .seconds(30))
        let output = result.stdout + result.stderr
        XCTAssertTrue(result.exited, output)
        XCTAssertEqual(result.status, 0, output)
        XCTAssertTrue(result.stdout.contains("seccomp filter installed"), output)
        XCTAssertTrue(output.contains("Spindle cannot use io_uring"), output)
        XCTAssertTrue(output.contains("seccomp"), output)
        XCTAssertTrue(output.contains("EPERM"), output)
        XCTAssertTrue(output.contains("type: IOUringUnavailableError"), output)
    }

    /// The automatic choice where io_uring is denied as Docker's default seccomp profile
    /// denies it (spindle-seccomp-exec): epoll, with the refusal as the reason, and an echo
    /// round trip over real sockets works on it. (The probe ignores SPINDLE_IO, so both passes
    /// of the suite run the same experiment.)
    func testSeccompBlockedIOUringFallsBackToEpollAndServes() throws {
        let result = try IOProbe.run(["auto-echo"], ioUringBlocked: true, timeout: .seconds(30))
        let output = result.summary
        XCTAssertTrue(result.exited && result.status == 0, output)
        XCTAssertTrue(result.stdout.contains("echo ok\n"), output)
        XCTAssertTrue(result.stdout.contains("backend: epoll\n"), output)
        let reason = result.stdout.split(separator: "\n").first { $0.hasPrefix("reason: ") }.map(String.init) ?? ""
        XCTAssertTrue(reason.contains("seccomp"), output)
        XCTAssertTrue(reason.contains("EPERM"), output)
    }

    /// The control: the same probe without the filter chooses io_uring and serves.
    func testAutomaticChoiceIsIOUringWhereItIsAllowed() throws {
        let result = try IOProbe.run(["auto-echo"], timeout: .seconds(30))
        XCTAssertTrue(result.exited && result.status == 0, result.summary)
        XCTAssertTrue(result.stdout.contains("echo ok\n"), result.summary)
        XCTAssertTrue(result.stdout.contains("backend: uring\nreason: io_uring is available\n"), result.summary)
    }
}
