#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleMemory

/// IMF-fixdate formatting (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`, without
/// Foundation: integer civil-date arithmetic (Howard Hinnant's `civil_from_days`).
public enum HTTPDate {
    /// Bytes of an IMF-fixdate: always 29.
    public static let length = 29

    /// Writes the IMF-fixdate of `unixSeconds` (clamped to 1970…9999) into the first 29 bytes
    /// of `out`. Cost: a handful of integer divisions; no allocation.
    public static func format(unixSeconds: Int, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= length, "HTTPDate.format needs 29 bytes")
        let t = min(max(unixSeconds, 0), 253_402_300_799)
        let days = t / 86_400
        let secondOfDay = t % 86_400
        // civil_from_days, for days >= 0.
        let z = days + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let weekday = (days + 4) % 7  // 1970-01-01 was a Thursday; 0 = Sunday

        let o = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let names = dayAndMonthNames.utf8Start
        for k in 0..<3 { o[k] = names[weekday * 3 + k] }
        o[3] = 0x2C; o[4] = 0x20
        twoDigits(day, o + 5)
        o[7] = 0x20
        for k in 0..<3 { o[8 + k] = names[21 + (month - 1) * 3 + k] }
        o[11] = 0x20
        twoDigits(year / 100, o + 12)
        twoDigits(year % 100, o + 14)
        o[16] = 0x20
        twoDigits(secondOfDay / 3600, o + 17)
        o[19] = 0x3A
        twoDigits(secondOfDay / 60 % 60, o + 20)
        o[22] = 0x3A
        twoDigits(secondOfDay % 60, o + 23)
        o[25] = 0x20; o[26] = 0x47; o[27] = 0x4D; o[28] = 0x54  // " GMT"
    }

    /// The IMF-fixdate of `unixSeconds` as a String. Allocates.
    public static func string(unixSeconds: Int) -> String {
        String(unsafeUninitializedCapacity: length) { buffer in
            format(unixSeconds: unixSeconds, into: UnsafeMutableRawBufferPointer(buffer))
            return length
        }
    }

    /// Seconds since the Unix epoch from `CLOCK_REALTIME_COARSE` (a vDSO read, no system call,
    /// ~millisecond resolution: plenty for a one-second date).
    public static func now() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return Int(ts.tv_sec)
    }

    static let dayAndMonthNames: StaticString = "SunMonTueWedThuFriSatJanFebMarAprMayJunJulAugSepOctNovDec"

    @inline(__always)
    static func twoDigits(_ v: Int, _ o: UnsafeMutablePointer<UInt8>) {
        o[0] = UInt8(truncatingIfNeeded: 0x30 + v / 10)
        o[1] = UInt8(truncatingIfNeeded: 0x30 + v % 10)
    }
}

/// The `Date` value for responses, formatted at most once per second (one per worker: not
/// thread-safe, and it need not be). Each use takes the clock's second and reformats only when
/// it changed. A value type holding the 29 bytes inline; never allocates.
public struct HTTPDateCache: Sendable {
    /// Where the time comes from.
    public enum Clock: Hashable, Sendable {
        /// `CLOCK_REALTIME_COARSE`, read at most once per scheduler loop turn on a thread
        /// running a Spindle scheduler (the responses written in one turn share the read: see
        /// `spindle_run_clock_t`), at every use elsewhere (`HTTPDate.now()`).
        case system
        /// A fixed time, for tests and reproducible output.
        case fixed(unixSeconds: Int)
    }

    /// The clock; assign to change it (e.g. advance a fixed clock in a test).
    public var clock: Clock
    var second = Int.min
    /// The date's field line, `Date: <date>\r\n` (37 bytes; the date at `dateOffset`).
    var storage: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
    static let dateOffset = 6
    static let lineLength = dateOffset + HTTPDate.length + 2
    /// How many times the date was formatted (for tests of the once-per-second rule).
    package private(set) var formatCount = 0

    /// A cache reading `clock`. Cost: none (the first use formats).
    public init(clock: Clock = .system) { self.clock = clock }

    /// Calls `body` with the current 29-byte IMF-fixdate, reformatting it first only if the
    /// clock's second changed. The bytes are valid only inside `body`. No allocation.
    public mutating func withCurrentDate<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        update()
        return try withUnsafeBytes(of: &storage) {
            try body(UnsafeRawBufferPointer(rebasing: $0[Self.dateOffset..<(Self.dateOffset + HTTPDate.length)]))
        }
    }

    /// Calls `body` with the current date's field line, `Date: <IMF-fixdate>\r\n` (37 bytes),
    /// as `withCurrentDate` does with the date: one copy for the writer instead of three.
    package mutating func withCurrentDateLine<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        update()
        return try withUnsafeBytes(of: &storage) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<Self.lineLength])) }
    }

    /// Brings the date up to the clock's current second (reformatting it if that changed) and
    /// returns that second: the date line is a function of it, so a head holding the line is
    /// current while this returns the same value. Cost: a clock read (see `Clock.system`).
    @inline(__always)
    package mutating func currentSecond() -> Int {
        update()
        return second
    }

    /// The second of the date line formatted last (no clock read).
    package var formattedSecond: Int { second }

    /// Reformats the line if the clock's second changed.
    @inline(__always)
    private mutating func update() {
        let now: Int
        switch clock {
        case .system: now = RunClock.realtimeSeconds
        case .fixed(let seconds): now = seconds
        }
        if now != second { format(now) }
    }

    private mutating func format(_ now: Int) {
        second = now
        formatCount += 1
        withUnsafeMutableBytes(of: &storage) { line in
            line.copyBytes(from: "Date: ".utf8)
            HTTPDate.format(unixSeconds: now, into: UnsafeMutableRawBufferPointer(rebasing: line[Self.dateOffset...]))
            line[Self.lineLength - 2] = UInt8(ascii: "\r")
            line[Self.lineLength - 1] = UInt8(ascii: "\n")
        }
    }

    /// The current date as a String. Allocates.
    public mutating func currentString() -> String {
        withCurrentDate { String(decoding: $0, as: UTF8.self) }
    }
}
