#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleMemory

/// A point in time on the monotonic clock (`CLOCK_MONOTONIC`, the clock io_uring timeouts use),
/// in nanoseconds. Cost: `now` is one vDSO `clock_gettime` (~20 ns), no system call.
public struct Deadline: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since an arbitrary fixed point (boot).
    public let nanoseconds: UInt64

    /// A deadline at `nanoseconds` on the monotonic clock.
    @inlinable
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The current time.
    @inlinable
    public static var now: Deadline {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Deadline(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    /// The current time from the coarse clock (`CLOCK_MONOTONIC_COARSE`: the last timer tick,
    /// up to a few milliseconds behind `now`). Cheaper than `now` (no clock read); good for
    /// timeouts of seconds, where firing a tick early does not matter.
    @inlinable
    public static var coarseNow: Deadline {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return Deadline(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    /// `coarseNow` as of the scheduler loop's current turn: on a thread running a scheduler the
    /// coarse clock is read once per turn (a turn reaps completions and runs at most the switch
    /// budget of fiber switches) and the value reused until the next; elsewhere every use reads
    /// it. For the timestamps and deadlines of a request path, where a time as old as the turn
    /// is as good as a new one (nginx caches its time per event-loop turn the same way). Not
    /// for polling inside one fiber run: it does not advance until the fiber parks or yields
    /// to the loop. Cost: a thread-local load and a branch, plus a vDSO read the first time in
    /// a turn.
    package static var runNow: Deadline { Deadline(nanoseconds: RunClock.monotonicCoarseNanoseconds) }

    /// A deadline that never comes.
    public static let distantFuture = Deadline(nanoseconds: .max)

    /// The deadline `duration` from now.
    @inlinable
    public static func after(_ duration: Duration) -> Deadline { now + duration }

    /// `lhs` moved by `rhs` (negative durations move it earlier; saturates at the ends).
    @inlinable
    public static func + (lhs: Deadline, rhs: Duration) -> Deadline {
        let ns = rhs.nanosecondsClamped
        if ns >= 0 {
            let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(UInt64(ns))
            return Deadline(nanoseconds: overflow ? .max : sum)
        }
        let magnitude = UInt64(ns.magnitude)
        return Deadline(nanoseconds: lhs.nanoseconds > magnitude ? lhs.nanoseconds - magnitude : 0)
    }

    /// The time from `rhs` to `lhs` (negative when `lhs` is earlier).
    @inlinable
    public static func - (lhs: Deadline, rhs: Deadline) -> Duration {
        if lhs.nanoseconds >= rhs.nanoseconds {
            return .nanoseconds(Int64(clamping: lhs.nanoseconds - rhs.nanoseconds))
        }
        return .nanoseconds(-Int64(clamping: rhs.nanoseconds - lhs.nanoseconds))
    }

    @inlinable
    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public var description: String { "Deadline(\(nanoseconds) ns)" }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to `Int64`.
    @inlinable
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return ns.addingReportingOverflow(attoseconds / 1_000_000_000).overflow
            ? (seconds < 0 ? .min : .max) : ns + attoseconds / 1_000_000_000
    }
}
