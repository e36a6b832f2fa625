// Misuse stops the process with a message that says what to do instead. Each case runs in a
// `spindle-probe` subprocess (these are the crash tests).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import XCTest

final class MisuseTests: XCTestCase {
    /// The signal a Swift runtime trap (precondition, fatalError) raises on this architecture.
    private var trapSignal: Int32 {
        #if arch(x86_64)
        return SIGILL
        #else
        return SIGTRAP
        #endif
    }

    private func assertTrap(_ mode: String, environment: [String: String] = [:], message: String,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try Probe.run(mode, environment: environment)
        XCTAssertEqual(result.signal, trapSignal, "expected a trap:\n\(result.summary)", file: file, line: line)
        XCTAssertTrue(result.stdout.hasPrefix("probe: \(mode)\n"), result.summary, file: file, line: line)
        XCTAssertFalse(result.stdout.contains("probe: done"), result.summary, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), "stderr lacks \(message.debugDescription):\n\(result.summary)", file: file, line: line)
    }

    func testParkOutsideAnySchedulerNamesTheFix() throws {
        try assertTrap("misuse-park-outside", message: "Fiber.sleep needs a Spindle scheduler")
        try assertTrap("misuse-park-outside", message: "Scheduler.run")
    }

    func testSpawnOutsideAnyScheduler() throws {
        try assertTrap("spawn-outside", message: "Fiber.spawn needs a Spindle scheduler")
        try assertTrap("spawn-detached-outside", message: "Fiber.spawnDetached needs a Spindle scheduler")
    }

    func testJoinSelf() throws {
        try assertTrap("join-self", message: "called join() on itself, which would never return")
    }

    func testParkingInSubmittedWork() throws {
        try assertTrap("park-in-submitted-work", message: "must be called from inside a fiber")
    }

    func testNestedSchedulerRun() throws {
        try assertTrap("nested-run", message: "a Scheduler already runs on this thread")
    }

    func testCancelFromAnotherThread() throws {
        try assertTrap("cancel-from-other-thread", message: "does not own this fiber's scheduler")
    }

    func testStackPoolExhausted() throws {
        try assertTrap("stacks-exhausted", message: "no stack available")
        try assertTrap("stacks-exhausted", message: "SPINDLE_STACKS_MAX")
    }

    func testMalformedTunableStopsWithItsName() throws {
        try assertTrap("bad-env", environment: ["SPINDLE_STACK_SIZE": "12abc"],
                       message: "SPINDLE_STACK_SIZE=12abc is not a non-negative integer")
    }

    func testRealExclusivityViolationInAFiberIsStillCaught() throws {
        // The per-fiber access-set swap must not turn the checker off inside a fiber.
        let result = try Probe.run("exclusivity-violation")
        XCTAssertNotNil(result.signal, result.summary)
        XCTAssertTrue(result.stderr.contains("Simultaneous accesses"), result.summary)
        XCTAssertFalse(result.stdout.contains("probe: done"), result.summary)
    }
}
