// When io_uring is asked for explicitly but cannot be used (here: a seccomp filter refuses
// io_uring_setup, as container runtimes do), Runtime.run throws an error that names the cause
// and the fix.
import Foundation
import SpindleIO
import XCTest

final class UnavailableTests: IOTestCase {
    func testSeccompBlockedIOUringGivesAClearError() throws {
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
}
