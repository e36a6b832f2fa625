// IMF-fixdate formatting without Foundation, checked against Foundation, and the once-per-second cache.
import Foundation
import SpindleFibers
import SpindleHTTP
import XCTest

final class HTTPDateTests: XCTestCase {
    func testKnownDates() {
        XCTAssertEqual(HTTPDate.string(unixSeconds: 784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT")
        XCTAssertEqual(HTTPDate.string(unixSeconds: 0), "Thu, 01 Jan 1970 00:00:00 GMT")
        XCTAssertEqual(HTTPDate.string(unixSeconds: 951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT")
        XCTAssertEqual(HTTPDate.string(unixSeconds: 2_147_483_647), "Tue, 19 Jan 2038 03:14:07 GMT")
        XCTAssertEqual(HTTPDate.string(unixSeconds: 4_102_444_799), "Thu, 31 Dec 2099 23:59:59 GMT")
        XCTAssertEqual(HTTPDate.string(unixSeconds: 253_402_300_799), "Fri, 31 Dec 9999 23:59:59 GMT")
        XCTAssertEqual(HTTPDate.string(unixSeconds: -5), "Thu, 01 Jan 1970 00:00:00 GMT", "clamped")
    }

    func testMatchesFoundationOnManyInstants() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        var generator = SystemRandomNumberGenerator()
        var instants = (0..<2000).map { _ in Int.random(in: 0...4_102_444_800, using: &generator) }
        // Month, year and leap-year boundaries.
        for year in [1970, 1999, 2000, 2024, 2100] {
            for month in 1...12 {
                let components = DateComponents(timeZone: TimeZone(identifier: "GMT"), year: year, month: month, day: 1)
                let start = Int(Calendar(identifier: .gregorian).date(from: components)!.timeIntervalSince1970)
                instants += [start, start - 1]
            }
        }
        for t in instants where t >= 0 {
            XCTAssertEqual(HTTPDate.string(unixSeconds: t), formatter.string(from: Date(timeIntervalSince1970: TimeInterval(t))), "t=\(t)")
        }
    }

    func testSystemClockIsNow() {
        let now = Int(Date().timeIntervalSince1970)
        XCTAssertLessThanOrEqual(abs(HTTPDate.now() - now), 2)
        var cache = HTTPDateCache()
        let s = cache.currentString()
        XCTAssertEqual(s.utf8.count, 29)
        XCTAssertTrue(s.hasSuffix(" GMT"))
    }

    /// Outside a scheduler `.system` reads the clock at every use: the second it gives follows
    /// the clock across a second's boundary.
    func testSystemClockFollowsTheClockOutsideAScheduler() {
        var cache = HTTPDateCache()
        let first = cache.currentSecond()
        let giveUp = Date() + 3
        while HTTPDate.now() == first && Date() < giveUp { usleep(2_000) }
        XCTAssertGreaterThan(cache.currentSecond(), first)
    }

    /// In a fiber, `.system` takes the second of the scheduler loop's turn: one run that keeps
    /// the CPU past a second's boundary still writes the turn's second; once the fiber has been
    /// back through the loop (a sleep), the new one.
    func testSystemClockInAFiberIsTheLoopTurns() throws {
        try Scheduler.run {
            var cache = HTTPDateCache()
            let first = cache.currentSecond()
            let giveUp = Date() + 3
            while HTTPDate.now() == first && Date() < giveUp {}  // no park: the same turn
            XCTAssertGreaterThan(HTTPDate.now(), first, "the clock moved on")
            XCTAssertEqual(cache.currentSecond(), first, "the turn's second")
            try Fiber.sleep(for: .milliseconds(1))
            XCTAssertGreaterThan(cache.currentSecond(), first, "a new turn reads the clock")
        }
    }

    func testCacheFormatsAtMostOncePerSecond() {
        var cache = HTTPDateCache(clock: .fixed(unixSeconds: 784_111_777))
        XCTAssertEqual(cache.formatCount, 0)
        for _ in 0..<1000 {
            cache.withCurrentDate { XCTAssertEqual(String(decoding: $0, as: UTF8.self), "Sun, 06 Nov 1994 08:49:37 GMT") }
        }
        XCTAssertEqual(cache.formatCount, 1)
        cache.clock = .fixed(unixSeconds: 784_111_778)
        XCTAssertEqual(cache.currentString(), "Sun, 06 Nov 1994 08:49:38 GMT")
        XCTAssertEqual(cache.currentString(), "Sun, 06 Nov 1994 08:49:38 GMT")
        XCTAssertEqual(cache.formatCount, 2)
        cache.withCurrentDateLine {
            XCTAssertEqual(String(decoding: $0, as: UTF8.self), "Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n", "the writer's line, same format")
        }
        cache.clock = .fixed(unixSeconds: 784_111_779)
        cache.withCurrentDateLine { XCTAssertEqual(String(decoding: $0, as: UTF8.self), "Date: Sun, 06 Nov 1994 08:49:39 GMT\r\n") }
        XCTAssertEqual(cache.currentString(), "Sun, 06 Nov 1994 08:49:39 GMT")
        XCTAssertEqual(cache.formatCount, 3)

        var system = HTTPDateCache()
        for _ in 0..<10_000 { _ = system.withCurrentDate { $0.count } }
        XCTAssertLessThanOrEqual(system.formatCount, 3, "10,000 uses within a second or two")
    }
}
