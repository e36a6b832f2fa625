// Stack overflow in a fiber is reported in words (fiber, stack size, how to raise it) and ends
// the process with SIGABRT, not a bare SIGSEGV. Runs `spindle-probe` in a subprocess.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleTestSupport
import XCTest

final class OverflowTests: XCTestCase {
    func testProbeRuns() throws {
        let result = try Probe.run("ok")
        XCTAssertEqual(result.reason, .exit, result.summary)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(result.stdout, "probe: ok\nprobe: value 42\nprobe: done\n", result.summary)
    }

    func testOverflowIsReportedAndAborts() throws {
        let result = try Probe.run("overflow")
        XCTAssertEqual(result.signal, SIGABRT, "expected death by SIGABRT (\(SIGABRT)), not a bare SIGSEGV (\(SIGSEGV)):\n\(result.summary)")
        XCTAssertTrue(result.stderr.contains("stack overflow in fiber #"), result.summary)
        XCTAssertTrue(result.stderr.contains("SPINDLE_STACK_SIZE"), result.summary)
        XCTAssertTrue(result.stderr.contains("hit the guard page"), result.summary)
        XCTAssertFalse(result.stdout.contains("probe: done"), result.summary)
    }

    func testOverflowReportStatesTheConfiguredStackSize() throws {
        // The default stack is 256 KiB (StackPool.Configuration.stackSize); the report should
        // say so in the unit the user configures, so that raising SPINDLE_STACK_SIZE is obvious.
        let result = try Probe.run("overflow")
        XCTAssertEqual(result.signal, SIGABRT, result.summary)
        XCTAssertTrue(result.stderr.contains("stack size 256 KiB"), "the default 256 KiB stack, in words:\n\(result.summary)")
    }

    func testOverflowReportNamesTheFiberThatOverflowed() throws {
        let result = try Probe.run("overflow")
        // The probe's recursing fiber is the second one spawned on scheduler #1 (after "main").
        let id = (UInt64(1) << 40) | 2
        XCTAssertTrue(result.stderr.contains("stack overflow in fiber #\(id) "), "expected fiber #\(id):\n\(result.summary)")
    }

    func testOverflowOnASecondThreadIsReported() throws {
        let result = try Probe.run("overflow-in-thread")
        XCTAssertEqual(result.signal, SIGABRT, result.summary)
        // The handler runs on that thread's own alternate signal stack.
        XCTAssertTrue(result.stderr.contains("stack overflow in fiber #"), result.summary)
        XCTAssertTrue(result.stderr.contains("SPINDLE_STACK_SIZE"), result.summary)
    }

    func testOverflowWithSmallStackNamesItsSize() throws {
        let result = try Probe.run("overflow-small", environment: ["SPINDLE_STACK_SIZE": "65536"])
        XCTAssertEqual(result.signal, SIGABRT, result.summary)
        XCTAssertTrue(result.stderr.contains("stack overflow in fiber #"), result.summary)
        XCTAssertTrue(result.stderr.contains("stack size 64 KiB"), "the configured 64 KiB stack, in words:\n\(result.summary)")
        XCTAssertTrue(result.stderr.contains("SPINDLE_STACK_SIZE"), result.summary)
    }

    // MARK: The path of kernels without MADV_GUARD_INSTALL, forced

    func testOverflowIntoAnMprotectGuardIsReported() throws {
        let result = try Probe.run("overflow", environment: ["SPINDLE_STACK_LIGHTWEIGHT_GUARDS": "0"])
        XCTAssertEqual(result.signal, SIGABRT, "expected death by SIGABRT, not a bare SIGSEGV:\n\(result.summary)")
        XCTAssertTrue(result.stderr.contains("stack overflow in fiber #"), result.summary)
        XCTAssertTrue(result.stderr.contains("hit the guard page"), result.summary)
        XCTAssertTrue(result.stderr.contains("SPINDLE_STACK_SIZE"), result.summary)
    }

    func testAnOverwrittenCanaryIsReportedInWords() throws {
        guard !AddressSanitizer.isActive else {
            // Under ASan the probe's frames live on its fake stack (detect_stack_use_after_return):
            // the bounded recursion never reaches the canary below the real stack.
            throw XCTSkip("AddressSanitizer moves the recursion's locals off the fiber's stack")
        }
        let result = try Probe.run("overflow-past-canary", environment: [
            "SPINDLE_STACK_LIGHTWEIGHT_GUARDS": "0", "SPINDLE_STACK_PROTECTED_GUARDS": "0", "SPINDLE_STACK_SIZE": "65536",
        ])
        XCTAssertEqual(result.signal, SIGABRT, result.summary)
        XCTAssertTrue(result.stderr.contains("stack overflow in fiber #"), result.summary)
        XCTAssertTrue(result.stderr.contains("the canary below the stack was overwritten"), result.summary)
        XCTAssertTrue(result.stderr.contains("stack size 64 KiB"), result.summary)
        XCTAssertTrue(result.stderr.contains("SPINDLE_STACK_SIZE"), result.summary)
        XCTAssertFalse(result.stdout.contains("probe: result"), "the fiber went on after its canary was overwritten:\n\(result.summary)")
    }

    func testTheForcedCanaryPathRunsFibersThatStayInsideTheirStacks() throws {
        // The same forced canary path, fibers that switch out (each switch checks the canary)
        // without overflowing: no false report.
        let result = try Probe.run("ok", environment: [
            "SPINDLE_STACK_LIGHTWEIGHT_GUARDS": "0", "SPINDLE_STACK_PROTECTED_GUARDS": "0", "SPINDLE_STACK_SIZE": "65536",
        ])
        XCTAssertEqual(result.reason, .exit, result.summary)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertFalse(result.stderr.contains("overflow"), result.summary)
    }
}
