// Cookies: the `Cookie` field as browsers send it (table of cases, limits, random bytes), and
// `Set-Cookie` values built from attributes, with every injection attempt refused.
import SpindleHTTP
import SpindleTestSupport
import XCTest

final class CookieTests: XCTestCase {
    private func pairs(_ cookies: [Cookie]) -> [String] { cookies.map { "\($0.name)=\($0.value)" } }

    func testCookieFieldTable() {
        let cases: [(field: String, expected: [String], note: String)] = [
            ("a=1; b=2", ["a=1", "b=2"], "the grammar's form"),
            ("a=1;b=2", ["a=1", "b=2"], "no space after ;"),
            ("  a = 1 ;\tb=2\t ", ["a=1", "b=2"], "spaces and tabs around names, values and separators"),
            (#"a="quoted"; b="""#, ["a=quoted", "b="], "one pair of double quotes is removed"),
            (#"a="unterminated; b=2"#, ["b=2"], "a lone quote is not a valid value"),
            (#"a="; b=2"#, ["b=2"], "a single double quote is not a quoted empty value"),
            (#"a="in"side"; b=2"#, ["b=2"], "a quote inside a quoted value"),
            ("noequals; a=1", ["a=1"], "a pair without = is skipped"),
            ("=value; a=1", ["a=1"], "an empty name is skipped"),
            ("bad name=1; ok=2", ["ok=2"], "a name that is not a token is skipped"),
            ("b(r)=1; ok=2", ["ok=2"], "separators in a name"),
            ("a=1; a=2", ["a=1", "a=2"], "repeated names are kept in order"),
            ("a=1,b=2", ["a=1,b=2"], "a comma belongs to the value (browsers send what servers set)"),
            ("a=hello world; b=2", ["a=hello world", "b=2"], "an inner space belongs to the value"),
            ("a=b=c==", ["a=b=c=="], "= inside a value (base64 padding)"),
            ("a=x\u{1}y; b=2", ["b=2"], "a control byte in a value"),
            ("a=x\u{7F}y; b=2", ["b=2"], "DEL in a value"),
            ("a=caf\u{E9}; b=2", ["b=2"], "non-ASCII in a value"),
            (#"a=back\slash; b=2"#, ["b=2"], "a backslash in a value"),
            ("a=; b", ["a="], "an empty value is a value"),
            ("", [], "an empty field"),
            (";;; ;", [], "only separators"),
            ("a", [], "a lone name"),
            ("__Host-id=x; $Version=1", ["__Host-id=x", "$Version=1"], "prefixes and $ are token characters"),
        ]
        for (field, expected, note) in cases {
            XCTAssertEqual(pairs(CookieHeader.parse(field)), expected, "\(note): \(field.debugDescription)")
        }
    }

    func testFirstValueByName() {
        XCTAssertEqual(CookieHeader.value(of: "b", in: "a=1; b=2; b=3"), "2", "the first one")
        XCTAssertEqual(CookieHeader.value(of: "b", in: #"b=bad\; b=good"#), "good", "invalid pairs are skipped")
        XCTAssertEqual(CookieHeader.value(of: "b", in: #"b="q""#), "q")
        XCTAssertNil(CookieHeader.value(of: "B", in: "b=1"), "names are case-sensitive")
        XCTAssertNil(CookieHeader.value(of: "c", in: "a=1; b=2"))
        XCTAssertEqual(CookieHeader.value(of: "a", in: "a="), "")
    }

    func testCountIsLimited() {
        let field = (0..<150).map { "c\($0)=\($0)" }.joined(separator: "; ")
        let all = CookieHeader.parse(field)
        XCTAssertEqual(all.count, CookieHeader.defaultMaximumCount)
        XCTAssertEqual(all.last, Cookie(name: "c99", value: "99"), "the first ones are kept")
        XCTAssertEqual(pairs(CookieHeader.parse(field, maximumCount: 3)), ["c0=0", "c1=1", "c2=2"])
        XCTAssertEqual(CookieHeader.parse(field, maximumCount: 0), [])
        XCTAssertEqual(CookieHeader.parse(field, maximumCount: -1), [])
        var several = CookieHeader.parse("a=1; b=2")
        CookieHeader.parse("c=3; d=4", into: &several, maximumCount: 3)
        XCTAssertEqual(pairs(several), ["a=1", "b=2", "c=3"], "the limit counts what the array holds already")
    }

    func testRandomFieldsNeverTrapAndYieldOnlyValidPairs() {
        var random = SplitMix(seed: 0xC00C1E)
        let alphabet = Array("ab=; \t\"\\,=\u{0}\u{7F}é=;x".unicodeScalars)
        for _ in 0..<5_000 {
            let length = Int.random(in: 0...40, using: &random)
            let field = String(String.UnicodeScalarView((0..<length).map { _ in alphabet.randomElement(using: &random)! }))
            for cookie in CookieHeader.parse(field) {
                XCTAssertFalse(cookie.name.isEmpty, field.debugDescription)
                XCTAssertTrue(cookie.name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !"\"(),/:;<=>?@[\\]{}".utf8.contains($0) },
                              "name \(cookie.name.debugDescription) of \(field.debugDescription)")
                XCTAssertTrue(cookie.value.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x3B && $0 != 0x5C },
                              "value \(cookie.value.debugDescription) of \(field.debugDescription)")
                XCTAssertEqual(cookie.value, cookie.value.trimmingSpaces, "values are trimmed")
            }
        }
    }

    // MARK: - Set-Cookie

    func testSetCookieValues() throws {
        let rfcDate = 784_111_777  // Sun, 06 Nov 1994 08:49:37 GMT
        let cases: [(cookie: SetCookie, expected: String)] = [
            (SetCookie(name: "sid", value: "abc123"), "sid=abc123; Path=/"),
            (SetCookie(name: "sid", value: "abc123", path: nil), "sid=abc123"),
            (SetCookie(name: "e", value: ""), "e=; Path=/"),
            (SetCookie(name: "q", value: #""quoted""#), #"q="quoted"; Path=/"#),
            (SetCookie(name: "b64", value: "YWJj+/=="), "b64=YWJj+/==; Path=/"),
            (SetCookie(name: "all", value: "1", expiresUnixSeconds: rfcDate, maxAge: 3600, domain: "example.com", path: "/app",
                       secure: true, httpOnly: true, sameSite: .strict),
             "all=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Max-Age=3600; Domain=example.com; Path=/app; Secure; HttpOnly; SameSite=Strict"),
            (SetCookie(name: "lax", value: "1", sameSite: .lax), "lax=1; Path=/; SameSite=Lax"),
            (SetCookie(name: "none", value: "1", secure: true, sameSite: SetCookie.SameSite.none), "none=1; Path=/; Secure; SameSite=None"),
            (SetCookie(name: "old", value: "1", maxAge: -30), "old=1; Max-Age=0; Path=/"),
            (SetCookie(name: "sub", value: "1", domain: ".example.com"), "sub=1; Domain=.example.com; Path=/"),
            (SetCookie(name: "__Secure-id", value: "1", secure: true), "__Secure-id=1; Path=/; Secure"),
            (SetCookie(name: "__Host-id", value: "1", secure: true), "__Host-id=1; Path=/; Secure"),
            (SetCookie.removing("sid"), "sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"),
            (SetCookie.removing("sid", path: "/app", domain: "example.com"),
             "sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Domain=example.com; Path=/app"),
        ]
        for (cookie, expected) in cases {
            XCTAssertEqual(try cookie.fieldValue(), expected)
            // What a browser sends back parses to the same pair.
            let quoted = cookie.value.hasPrefix("\"") ? String(cookie.value.dropFirst().dropLast()) : cookie.value
            XCTAssertEqual(CookieHeader.parse("\(cookie.name)=\(cookie.value)"), [Cookie(name: cookie.name, value: quoted)])
        }
    }

    func testSetCookieRefusesInjectionAndBrokenRules() {
        typealias Rule = CookieError.Rule
        let cases: [(cookie: SetCookie, rule: Rule, note: String)] = [
            (SetCookie(name: "a", value: "x; Domain=evil.example"), .invalidValue, "an attribute smuggled in a value"),
            (SetCookie(name: "a", value: "x\r\nSet-Cookie: admin=1"), .invalidValue, "a field smuggled in a value"),
            (SetCookie(name: "a", value: "x\nLocation: /"), .invalidValue, "a bare LF"),
            (SetCookie(name: "a", value: "x\u{0}"), .invalidValue, "NUL"),
            (SetCookie(name: "a", value: "one,two"), .invalidValue, "a comma"),
            (SetCookie(name: "a", value: "hello world"), .invalidValue, "a space"),
            (SetCookie(name: "a", value: #"in"side"#), .invalidValue, "a double quote inside"),
            (SetCookie(name: "a", value: #""unbalanced"#), .invalidValue, "an unbalanced quote"),
            (SetCookie(name: "a", value: #"back\slash"#), .invalidValue, "a backslash"),
            (SetCookie(name: "a", value: "caf\u{E9}"), .invalidValue, "non-ASCII"),
            (SetCookie(name: "", value: "1"), .invalidName, "an empty name"),
            (SetCookie(name: "a b", value: "1"), .invalidName, "a space in the name"),
            (SetCookie(name: "a;b", value: "1"), .invalidName, "a ; in the name"),
            (SetCookie(name: "a=b", value: "1"), .invalidName, "a = in the name"),
            (SetCookie(name: "a\r\nX-Evil", value: "1"), .invalidName, "CRLF in the name"),
            (SetCookie(name: "a,b", value: "1"), .invalidName, "a comma in the name"),
            (SetCookie(name: "a", value: "1", domain: "evil.example; Secure"), .invalidDomain, "an attribute in the domain"),
            (SetCookie(name: "a", value: "1", domain: "ex\r\nample.com"), .invalidDomain, "CRLF in the domain"),
            (SetCookie(name: "a", value: "1", domain: ""), .invalidDomain, "an empty domain"),
            (SetCookie(name: "a", value: "1", domain: String(repeating: "a", count: 254)), .invalidDomain, "a domain over 253 bytes"),
            (SetCookie(name: "a", value: "1", path: "/x; HttpOnly"), .invalidPath, "an attribute in the path"),
            (SetCookie(name: "a", value: "1", path: "/x\r\n"), .invalidPath, "CRLF in the path"),
            (SetCookie(name: "a", value: "1", path: "relative"), .invalidPath, "a path not starting with /"),
            (SetCookie(name: "a", value: "1", path: ""), .invalidPath, "an empty path"),
            (SetCookie(name: "a", value: "1", sameSite: SetCookie.SameSite.none), .sameSiteNoneRequiresSecure, "SameSite=None without Secure"),
            (SetCookie(name: "__Secure-a", value: "1"), .securePrefixRequiresSecure, "__Secure- without Secure"),
            (SetCookie(name: "__Host-a", value: "1"), .hostPrefixRequirements, "__Host- without Secure"),
            (SetCookie(name: "__Host-a", value: "1", domain: "example.com", secure: true), .hostPrefixRequirements, "__Host- with Domain"),
            (SetCookie(name: "__Host-a", value: "1", path: "/app", secure: true), .hostPrefixRequirements, "__Host- with another path"),
            (SetCookie(name: "big", value: String(repeating: "x", count: 4094)), .tooLarge, "over 4096 bytes with the name"),
        ]
        for (cookie, rule, note) in cases {
            XCTAssertThrowsError(try cookie.fieldValue(), note) { error in
                XCTAssertEqual((error as? CookieError)?.rule, rule, "\(note): \(error)")
                XCTAssertEqual((error as? CookieError)?.name, cookie.name, note)
            }
        }
        XCTAssertNoThrow(try SetCookie(name: "big", value: String(repeating: "x", count: 4093)).fieldValue(), "4096 bytes exactly")
    }

    func testCookieErrorsSayWhatToDo() {
        let error = CookieError(name: "id", rule: .sameSiteNoneRequiresSecure)
        XCTAssertEqual(error.description, #"cookie "id": SameSite=None requires Secure: set secure = true"#)
        let injected = CookieError(name: "a\r\nb", rule: .invalidName)
        XCTAssertFalse(injected.description.contains("\r"), "control bytes of the name are shown escaped: \(injected)")
        XCTAssertTrue(injected.description.contains(#"a\u{d}\u{a}b"#), injected.description)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
