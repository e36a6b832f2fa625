// Tunables from SPINDLE_* environment variables: Environment.integer parsing (K/M/G suffixes)
// and StackPool.Configuration.fromEnvironment. A malformed value stops the process; that case
// runs in a subprocess (SpindleFibersTests.MisuseTests.testMalformedTunableStopsWithItsName).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleMemory
import XCTest

final class EnvironmentTests: XCTestCase {
    private let variable = "SPINDLE_TEST_TUNABLE"

    /// Sets the variables for the duration of `body` only (other tests read SPINDLE_* too).
    private func with<T>(_ values: [String: String], _ body: () throws -> T) rethrows -> T {
        for (name, value) in values { setenv(name, value, 1) }
        defer { for name in values.keys { unsetenv(name) } }
        return try body()
    }

    func testUnsetOrEmptyIsNil() {
        unsetenv(variable)
        XCTAssertNil(Environment.integer(variable))
        with([variable: ""]) { XCTAssertNil(Environment.integer(variable)) }
        with([variable: "   "]) { XCTAssertNil(Environment.integer(variable)) }
    }

    func testPlainIntegers() {
        let cases: [(String, Int)] = [("0", 0), ("1", 1), ("65536", 65536), (" 42 ", 42), ("\t7\n", 7)]
        for (text, expected) in cases {
            with([variable: text]) { XCTAssertEqual(Environment.integer(variable), expected, "\(text.debugDescription)") }
        }
    }

    func testSuffixesArePowersOf1024() {
        let cases: [(String, Int)] = [
            ("64K", 64 << 10), ("64k", 64 << 10), ("1K", 1024),
            ("2M", 2 << 20), ("2m", 2 << 20), ("256K", 262_144),
            ("1G", 1 << 30), ("3g", 3 << 30), ("0K", 0), (" 8M ", 8 << 20),
        ]
        for (text, expected) in cases {
            with([variable: text]) { XCTAssertEqual(Environment.integer(variable), expected, "\(text.debugDescription)") }
        }
    }

    func testConfigurationFromEnvironment() {
        let values = [
            "SPINDLE_STACK_SIZE": "128K",
            "SPINDLE_STACK_GUARD_SIZE": "8K",
            "SPINDLE_STACKS_INITIAL": "3",
            "SPINDLE_STACKS_MAX": "1M",
            "SPINDLE_STACKS_WARM": "17",
            "SPINDLE_STACK_LIGHTWEIGHT_GUARDS": "0",
            "SPINDLE_STACK_PROTECTED_GUARDS": "5",
        ]
        let c = with(values) { StackPool.Configuration.fromEnvironment }
        XCTAssertFalse(c.lightweightGuards)
        XCTAssertEqual(c.protectedGuardBudget, 5)
        XCTAssertEqual(c.stackSize, 128 << 10)
        XCTAssertEqual(c.guardSize, 8 << 10)
        XCTAssertEqual(c.initialCount, 3)
        XCTAssertEqual(c.maximumCount, 1 << 20)
        XCTAssertEqual(c.warmCount, 17)
        // Unset again: the defaults.
        XCTAssertEqual(StackPool.Configuration.fromEnvironment, StackPool.Configuration())
    }

    func testOnlySetVariablesOverrideDefaults() {
        let c = with(["SPINDLE_STACK_SIZE": "1M"]) { StackPool.Configuration.fromEnvironment }
        var expected = StackPool.Configuration()
        expected.stackSize = 1 << 20
        XCTAssertEqual(c, expected)
    }

    func testPoolBuiltFromEnvironmentUsesTheValues() throws {
        let pool = try with(["SPINDLE_STACK_SIZE": "96K", "SPINDLE_STACKS_INITIAL": "5", "SPINDLE_STACKS_MAX": "5"]) {
            try StackPool()
        }
        XCTAssertEqual(pool.configuration.stackSize, 96 << 10)
        XCTAssertEqual(pool.mapped, 5)
        var stacks: [FiberStack] = []
        while let s = pool.allocate() { stacks.append(s) }
        XCTAssertEqual(stacks.count, 5)
        XCTAssertEqual(stacks[0].size, (96 << 10) - StackPool.controlSize)
        for s in stacks { pool.release(s) }
    }
}
