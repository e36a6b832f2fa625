// Reading HTTP-dates: the three forms RFC 9110 §5.6.7 makes recipients accept, the century of
// two-digit years, and inputs that are not dates (which must give nil, never trap).
import SpindleHTTP
import XCTest

final class HTTPDateParsingTests: XCTestCase {
    /// 2026-12-03, for the two-digit years of the RFC 850 form.
    private let now = 1_796_256_000

    func testTheThreeForms() {
        let cases: [(String, Int)] = [
            ("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777),
            ("Sunday, 06-Nov-94 08:49:37 GMT", 784_111_777),
            ("Sun Nov  6 08:49:37 1994", 784_111_777),
            ("Sun Nov 16 08:49:37 1994", 784_111_777 + 10 * 86_400),
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            ("Tue, 29 Feb 2000 00:00:00 GMT", 951_782_400),
            ("Fri, 31 Dec 9999 23:59:59 GMT", 253_402_300_799),
            ("Wed, 31 Dec 1969 23:59:59 GMT", -1),
            ("Tue, 30 Jun 2015 23:59:60 GMT", 1_435_708_800),  // a leap second, as RFC 9110 allows
        ]
        for (text, seconds) in cases {
            XCTAssertEqual(HTTPDate.parse(text, currentUnixSeconds: now), seconds, text)
        }
    }

    func testTwoDigitYearsAreTheMostRecentCentury() {
        // RFC 9110: a year that would be more than 50 years in the future is in the past century.
        XCTAssertEqual(HTTPDate.parse("Wednesday, 01-Jan-70 00:00:00 GMT", currentUnixSeconds: now), 3_155_760_000,
                       "2070 is 44 years ahead of 2026: kept")
        XCTAssertEqual(HTTPDate.parse("Saturday, 01-Jan-00 00:00:00 GMT", currentUnixSeconds: now), 946_684_800)
        XCTAssertEqual(HTTPDate.parse("Saturday, 01-Jan-77 00:00:00 GMT", currentUnixSeconds: now), 220_924_800,
                       "2077 would be more than 50 years ahead of 2026: 1977")
    }

    func testWhatIFormatIReadBack() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let seconds = Int.random(in: 0...253_402_300_799, using: &generator)
            let text = HTTPDate.string(unixSeconds: seconds)
            XCTAssertEqual(HTTPDate.parse(text), seconds, text)
        }
    }

    func testWhatIsNotADate() {
        let cases = [
            "", "yesterday", "0",
            "Sun, 06 Nov 1994 08:49:37 UTC",      // not GMT
            "Sun, 06 Nov 1994 08:49:37 gmt",      // case matters
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",       // two digits required
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun,06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ",     // trailing bytes
            " Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",      // hour out of range
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 30 Feb 1994 08:49:37 GMT",      // no such day
            "Sun, 29 Feb 1900 08:49:37 GMT",      // 1900 is not a leap year
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{0}",
            "Sun, ๐๖ Nov 1994 08:49:37 GMT",     // digits that are not ASCII
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",            // asctime pads the day with a space
            "Sun Nov  6 08:49:37 94",
            String(repeating: "9", count: 400),
        ]
        for text in cases {
            XCTAssertNil(HTTPDate.parse(text, currentUnixSeconds: now), text.debugDescription)
        }
    }
}
