// Reading HTTP-dates (RFC 9110 §5.6.7): what `If-Modified-Since` and `If-Range` carry.
extension HTTPDate {
    /// The Unix time of an HTTP-date, or nil when `text` is not one. Accepts the three forms a
    /// recipient must (RFC 9110 §5.6.7): IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the
    /// obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`, a two-digit year taken as the
    /// most recent year that ends so, as of `currentUnixSeconds`) and asctime
    /// (`Sun Nov  6 08:49:37 1994`). The day name is checked for form, not against the date.
    /// Whatever the input, never traps. Cost: no allocation beyond a copy of the bytes.
    public static func parse(_ text: some StringProtocol, currentUnixSeconds: Int = HTTPDate.now()) -> Int? {
        let bytes = Array(text.utf8)
        var fixdate = DateReader(bytes), rfc850 = DateReader(bytes), asctime = DateReader(bytes)
        return fixdate.imfFixdate() ?? rfc850.rfc850(currentUnixSeconds: currentUnixSeconds) ?? asctime.asctime()
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Days in `month` of `year`.
    static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// A cursor over the bytes of a date; each reading method consumes what it matched.
private struct DateReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    static let shortDays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    static let longDays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Sun, 06 Nov 1994 08:49:37 GMT`
    mutating func imfFixdate() -> Int? {
        guard oneOf(Self.shortDays) != nil, literal(", "), let day = digits(2), literal(" "),
              let month = month(), literal(" "), let year = digits(4), literal(" "),
              let seconds = timeOfDay(), literal(" GMT"), atEnd else { return nil }
        return unixTime(year: year, month: month, day: day, secondOfDay: seconds)
    }

    /// `Sunday, 06-Nov-94 08:49:37 GMT`
    mutating func rfc850(currentUnixSeconds: Int) -> Int? {
        guard oneOf(Self.longDays) != nil, literal(", "), let day = digits(2), literal("-"),
              let month = month(), literal("-"), let twoDigitYear = digits(2), literal(" "),
              let seconds = timeOfDay(), literal(" GMT"), atEnd else { return nil }
        // RFC 9110 §5.6.7: a year more than 50 years in the future is the past century's.
        let currentYear = 1970 + max(0, currentUnixSeconds) / 31_556_952
        var year = currentYear - currentYear % 100 + twoDigitYear
        if year > currentYear + 50 { year -= 100 }
        return unixTime(year: year, month: month, day: day, secondOfDay: seconds)
    }

    /// `Sun Nov  6 08:49:37 1994`
    mutating func asctime() -> Int? {
        guard oneOf(Self.shortDays) != nil, literal(" "), let month = month(), literal(" ") else { return nil }
        let day: Int
        if literal(" ") {
            guard let d = digits(1) else { return nil }
            day = d
        } else {
            guard let d = digits(2) else { return nil }
            day = d
        }
        guard literal(" "), let seconds = timeOfDay(), literal(" "), let year = digits(4), atEnd else { return nil }
        return unixTime(year: year, month: month, day: day, secondOfDay: seconds)
    }

    private var atEnd: Bool { position == bytes.count }

    /// `hh:mm:ss` as seconds of the day (a leap second 60 is accepted as RFC 9110 allows it).
    private mutating func timeOfDay() -> Int? {
        guard let hours = digits(2), literal(":"), let minutes = digits(2), literal(":"), let seconds = digits(2),
              hours < 24, minutes < 60, seconds <= 60 else { return nil }
        return hours * 3600 + minutes * 60 + seconds
    }

    private mutating func month() -> Int? { oneOf(Self.months).map { $0 + 1 } }

    private func unixTime(year: Int, month: Int, day: Int, secondOfDay: Int) -> Int? {
        guard day >= 1, day <= HTTPDate.daysInMonth(month, year: year) else { return nil }
        return HTTPDate.days(year: year, month: month, day: day) * 86_400 + secondOfDay
    }

    /// Exactly `count` ASCII digits (at most 4, so no overflow).
    private mutating func digits(_ count: Int) -> Int? {
        guard count <= bytes.count - position else { return nil }
        var value = 0
        for byte in bytes[position..<(position + count)] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        position += count
        return value
    }

    /// `text`, case-sensitively (HTTP-date names are case-sensitive).
    private mutating func literal(_ text: String) -> Bool {
        let count = text.utf8.count
        guard count <= bytes.count - position else { return false }
        guard bytes[position..<(position + count)].elementsEqual(text.utf8) else { return false }
        position += count
        return true
    }

    /// The index of the name in `names` found here, consumed.
    private mutating func oneOf(_ names: [String]) -> Int? {
        for (index, name) in names.enumerated() {
            let utf8 = name.utf8
            if utf8.count <= bytes.count - position, bytes[position..<(position + utf8.count)].elementsEqual(utf8) {
                position += utf8.count
                return index
            }
        }
        return nil
    }
}
