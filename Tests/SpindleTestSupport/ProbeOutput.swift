// The probe side of `ProbeProcess`: how the probe executables (Tests/Probe, Tests/IOProbe,
// Tests/ServerProbe) report to the test that started them. Unbuffered writes, so a line is
// there even when the process then crashes or calls exit.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes `line` and a newline to stdout, unbuffered.
public func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

/// Writes "FAIL: `reason`" to stderr and exits with status 1.
public func fail(_ reason: String) -> Never {
    let text = "FAIL: " + reason + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(1)
}
