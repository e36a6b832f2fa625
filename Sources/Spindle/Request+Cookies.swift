import SpindleHTTP

// The cookies a request carries (`Cookie` field lines), parsed on demand with `CookieHeader`.
extension Request {
    /// Every cookie the client sent, in order, from all its `Cookie` field lines: at most
    /// `CookieHeader.defaultMaximumCount`, invalid pairs skipped (see `CookieHeader`). Parsed on
    /// each read: keep the array when you need it more than once. Cost: allocates the array and
    /// a String per name and value.
    public var cookies: [Cookie] {
        var cookies: [Cookie] = []
        for field in head.fields where field.hasName("cookie") {
            CookieHeader.parse(field.valueString, into: &cookies)
            if cookies.count >= CookieHeader.defaultMaximumCount { break }
        }
        return cookies
    }

    /// The value of the first cookie named `name` (case-sensitive), or nil. Cost: scans the
    /// `Cookie` fields; allocates a copy of each field scanned and the result.
    public func cookie(_ name: String) -> String? {
        for field in head.fields where field.hasName("cookie") {
            if let value = CookieHeader.value(of: name, in: field.valueString) { return value }
        }
        return nil
    }
}
