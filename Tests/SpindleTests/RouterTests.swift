// The router on its own, no sockets: `match` called on byte buffers of a `Router<String>`
// whose handlers are labels. Precedence and backtracking, parameter names per route, HEAD and
// 405, the path rules as a table, decoded captures, and registration errors.
import HTTPTypes
import Spindle
import SpindleTestSupport
import XCTest

/// What a lookup gave, comparable: the handler's label and the parameters asked for.
private enum Outcome: Equatable, CustomStringConvertible {
    case found(String, [String: String])
    case notFound
    case methodNotAllowed([String])
    case badPath(BadPathReason)

    var description: String {
        switch self {
        case .found(let label, let parameters): "found \(label) \(parameters.sorted { $0.key < $1.key })"
        case .notFound: "404"
        case .methodNotAllowed(let allowed): "405 \(allowed)"
        case .badPath(let reason): "400 \(reason)"
        }
    }
}

/// Looks up `method` `path` (raw bytes, as they come off the wire); for a match, reads the
/// parameters named in `expected` (and only those: `Parameters` is not enumerable).
private func lookup(_ router: Router<String>, _ method: String, _ path: [UInt8], expecting expected: Outcome) -> Outcome {
    let match = Array(method.utf8).withUnsafeBytes { methodBytes in
        path.withUnsafeBytes { router.match(method: methodBytes, path: $0) }
    }
    switch match {
    case .found(let label, let parameters):
        var values: [String: String] = [:]
        if case .found(_, let wanted) = expected {
            for name in wanted.keys { values[name] = parameters[name] }
        }
        return .found(label, values)
    case .notFound: return .notFound
    case .methodNotAllowed(let allowed): return .methodNotAllowed(allowed.map(\.rawValue))
    case .badPath(let reason): return .badPath(reason)
    }
}

private func lookup(_ router: Router<String>, _ method: String, _ path: String, expecting expected: Outcome) -> Outcome {
    lookup(router, method, Array(path.utf8), expecting: expected)
}

/// The router `build` makes, twice: as registered (lookups walk the trie) and frozen (as the
/// server runs it: literal-only paths are found in the static-path index first). Every table
/// below holds for both.
private func unfrozenAndFrozen(_ build: () -> Router<String>) -> [Router<String>] {
    let frozen = build()
    frozen.freeze()
    return [build(), frozen]
}

/// The router of the path-rule table.
private func pathRulesRouter() -> Router<String> {
    let router = Router<String>()
    router.on(.get, "/", "root")
    router.on(.get, "/admin", "admin")
    router.on(.get, "/users", "users")
    router.on(.post, "/users", "create")
    router.on(.get, "/users/:id", "user")
    router.on(.get, "/users/:userId/posts", "posts")
    router.on(.get, "/files/*", "files")
    router.on(.get, "/docs/", "docs/")
    router.on(.get, "/both", "both")
    router.on(.get, "/both/", "both/")
    router.on(.get, "/a;b", "semicolon")
    router.on(.get, "/c++", "plus")
    router.on(.get, "/caf%C3%A9", "café")
    return router
}

private let pathRuleCases: [(path: String, expected: Outcome)] = [
    // Literal segments match the raw bytes.
    ("/", .found("root", [:])),
    ("", .found("root", [:])),
    ("/admin", .found("admin", [:])),
    ("/%61dmin", .notFound),
    ("/%61%64%6D%69%6E", .notFound),
    ("/Admin", .notFound),
    ("/a;b", .found("semicolon", [:])),
    ("/a%3Bb", .notFound),
    ("/a", .notFound),
    ("/c++", .found("plus", [:])),
    ("/c%2B%2B", .notFound),
    ("/c%20%20", .notFound),
    ("/caf%C3%A9", .found("café", [:])),
    ("/caf%c3%a9", .notFound),
    // Dot-segments, in any spelling, anywhere: refused, whatever the routes.
    ("/.", .badPath(.dotSegment)),
    ("/..", .badPath(.dotSegment)),
    ("/./admin", .badPath(.dotSegment)),
    ("/../admin", .badPath(.dotSegment)),
    ("/admin/.", .badPath(.dotSegment)),
    ("/admin/..", .badPath(.dotSegment)),
    ("/admin/../admin", .badPath(.dotSegment)),
    ("/users/./42", .badPath(.dotSegment)),
    ("/users/%2e", .badPath(.dotSegment)),
    ("/users/%2E", .badPath(.dotSegment)),
    ("/users/%2e%2e", .badPath(.dotSegment)),
    ("/users/%2E%2e", .badPath(.dotSegment)),
    ("/users/.%2E/admin", .badPath(.dotSegment)),
    ("/users/%2e./admin", .badPath(.dotSegment)),
    ("/files/../etc/passwd", .badPath(.dotSegment)),
    ("/files/a/%2e%2e/%2e%2e/etc", .badPath(.dotSegment)),
    ("/files/a/..", .badPath(.dotSegment)),
    ("/files/../", .badPath(.dotSegment)),
    ("/nowhere/..", .badPath(.dotSegment)),
    ("/a//../b", .badPath(.dotSegment)),
    // Not dot-segments: more dots, dots with other bytes, dots behind an encoded slash.
    ("/users/...", .found("user", ["id": "..."])),
    ("/users/.hidden", .found("user", ["id": ".hidden"])),
    ("/users/a..", .found("user", ["id": "a.."])),
    ("/users/%2e%2e%2fetc", .found("user", ["id": "../etc"])),
    ("/users/..%2F..", .found("user", ["id": "../.."])),
    // Invalid escapes: refused.
    ("/users/%", .badPath(.invalidEscape)),
    ("/users/%4", .badPath(.invalidEscape)),
    ("/users/%zz", .badPath(.invalidEscape)),
    ("/users/50%off", .badPath(.invalidEscape)),
    ("/%%41dmin", .badPath(.invalidEscape)),
    ("/admin%", .badPath(.invalidEscape)),
    ("/a%/b", .badPath(.invalidEscape)),
    // Empty segments: no route.
    ("//", .notFound),
    ("//admin", .notFound),
    ("/admin//", .notFound),
    ("/users//", .notFound),
    ("/users//posts", .notFound),
    ("/files/a//b", .notFound),
    ("/files//", .notFound),
    // Not starting with `/`: no route.
    ("*", .notFound),
    ("admin", .notFound),
    // One trailing slash.
    ("/admin/", .found("admin", [:])),
    ("/users/42/", .found("user", ["id": "42"])),
    ("/users/42/posts/", .found("posts", ["userId": "42"])),
    ("/docs/", .found("docs/", [:])),
    ("/docs", .notFound),
    ("/both", .found("both", [:])),
    ("/both/", .found("both/", [:])),
    // Parameters: one segment, percent-decoded; `%2F` stays inside.
    ("/users/42", .found("user", ["id": "42"])),
    ("/users/%41", .found("user", ["id": "A"])),
    ("/users/a%2Fb", .found("user", ["id": "a/b"])),
    ("/users/%2F", .found("user", ["id": "/"])),
    ("/users/a%2Fb/posts", .found("posts", ["userId": "a/b"])),
    ("/users/caf%C3%A9", .found("user", ["id": "café"])),
    ("/users/a+b", .found("user", ["id": "a+b"])),
    ("/users/a%20b", .found("user", ["id": "a b"])),
    ("/users/a;v=1", .found("user", ["id": "a;v=1"])),
    ("/users/%00", .found("user", ["id": "\u{0}"])),
    ("/users/%FF", .badPath(.invalidUTF8)),
    ("/users/%C3", .badPath(.invalidUTF8)),
    ("/users/%C3%A9%FF/posts", .badPath(.invalidUTF8)),
    ("/users/1/2", .notFound),
    // The wildcard: the rest of the path, zero or more segments, decoded, trailing slash kept.
    ("/files", .found("files", ["*": ""])),
    ("/files/", .found("files", ["*": ""])),
    ("/files/a", .found("files", ["*": "a"])),
    ("/files/a/b/c", .found("files", ["*": "a/b/c"])),
    ("/files/a/b/", .found("files", ["*": "a/b/"])),
    ("/files/a%20b/%2e.txt", .found("files", ["*": "a b/..txt"])),
    ("/files/a%2F..%2Fb", .found("files", ["*": "a/../b"])),
    ("/files/%FF", .badPath(.invalidUTF8)),
]

final class RouterTests: XCTestCase {
    func testPathRules() {
        XCTAssertGreaterThanOrEqual(pathRuleCases.count, 25)
        for router in unfrozenAndFrozen(pathRulesRouter) {
            for (path, expected) in pathRuleCases {
                XCTAssertEqual(lookup(router, "GET", path, expecting: expected), expected, "GET \(path.debugDescription)")
            }
        }
    }

    /// Whatever the bytes (all 256 values, and random sequences of those the rules care
    /// about), `match` answers without trapping; a path with a `.` or `..` segment is never
    /// routed (refused as a dot-segment, or earlier for an invalid escape).
    func testArbitraryBytesNeverTrap() {
        for router in unfrozenAndFrozen(pathRulesRouter) { arbitraryBytesNeverTrap(router) }
    }

    private func arbitraryBytesNeverTrap(_ router: Router<String>) {
        for byte in UInt8.min...UInt8.max {
            for path in [[byte], [UInt8(ascii: "/"), byte], [UInt8(ascii: "/"), byte, UInt8(ascii: "/")], Array("/users/".utf8) + [byte]] {
                _ = lookup(router, "GET", path, expecting: .notFound)
            }
        }
        var random = SplitMix(seed: 0x2545_F491_4F6C_DD1D)
        let alphabet = Array("/./%2eE%zF;+a".utf8) + [0xFF]
        for _ in 0..<5_000 {
            let path = [UInt8(ascii: "/")] + (0..<Int(random.next() % 12)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            let outcome = lookup(router, "GET", path, expecting: .notFound)
            let segments = path.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            if segments.contains(where: { $0.elementsEqual(".".utf8) || $0.elementsEqual("..".utf8) }) {
                guard case .badPath = outcome else {
                    XCTFail("\(String(decoding: path, as: UTF8.self).debugDescription) has a dot-segment but gave \(outcome)")
                    continue
                }
            }
        }
    }

    /// The path check reads eight bytes at a time, then byte by byte: paths of every length
    /// up to 40, with `/`, `.`, `%` and escapes at every offset (doubled slashes across the
    /// eight-byte boundaries included), are classified as a segment-by-segment reading of the
    /// rules says (`/*` routes every routable path).
    func testPathCheckAgreesWithTheRulesAtEveryLength() {
        let router = Router<String>()
        router.on(.get, "/*", "all")
        var random = SplitMix(seed: 0x9E37_79B9_7F4A_7C15)
        let alphabet = Array("//..%2eEaz".utf8)
        for length in 0...40 {
            for _ in 0..<400 {
                var path = (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
                if !path.isEmpty && random.next() % 4 != 0 { path[0] = UInt8(ascii: "/") }
                var outcome = lookup(router, "GET", path, expecting: .notFound)
                if case .found = outcome { outcome = .found("all", [:]) }
                if outcome == .badPath(.invalidUTF8) { outcome = .found("all", [:]) }  // routed, then not decodable
                XCTAssertEqual(outcome, Self.ruleOutcome(path), "GET \(String(decoding: path, as: UTF8.self).debugDescription)")
            }
        }
    }

    /// The rules read segment by segment, in order (an invalid escape or a dot-segment, the
    /// first met, refuses the path; else an empty segment but a trailing one means no route).
    private static func ruleOutcome(_ path: [UInt8]) -> Outcome {
        guard let first = path.first else { return .found("all", [:]) }
        guard first == UInt8(ascii: "/") else { return .notFound }
        func isHex(_ byte: UInt8) -> Bool { Array("0123456789abcdefABCDEF".utf8).contains(byte) }
        var empty = false
        let segments = path.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (number, segment) in segments.enumerated() {
            if segment.isEmpty && (number < segments.count - 1 || segments.count == 1) {
                if number < segments.count - 1 { empty = true }
                continue
            }
            var dots = 0
            var other = false
            var index = segment.startIndex
            while index < segment.endIndex {
                if segment[index] == UInt8(ascii: "%") {
                    guard index + 2 < path.count, isHex(path[index + 1]), isHex(path[index + 2]) else { return .badPath(.invalidEscape) }
                    if path[index + 1] == UInt8(ascii: "2") && path[index + 2] | 0x20 == UInt8(ascii: "e") { dots += 1 } else { other = true }
                    index += 3
                } else {
                    if segment[index] == UInt8(ascii: ".") { dots += 1 } else { other = true }
                    index += 1
                }
            }
            if !other && dots > 0 && dots <= 2 { return .badPath(.dotSegment) }
        }
        return empty ? .notFound : .found("all", [:])
    }

    func testLiteralsWinOverParametersOverTheWildcardWithBacktracking() {
        for router in unfrozenAndFrozen(precedenceRouter) { literalsWinOverParametersOverTheWildcard(router) }
    }

    private func precedenceRouter() -> Router<String> {
        let router = Router<String>()
        router.on(.get, "/a/b/c", "literal")
        router.on(.get, "/a/:x/d", "parameter")
        router.on(.get, "/a/*", "wildcard")
        router.on(.get, "/:first/b/e", "root parameter")
        router.on(.get, "/:first/:second", "two parameters")
        return router
    }

    private func literalsWinOverParametersOverTheWildcard(_ router: Router<String>) {
        let cases: [(path: String, expected: Outcome)] = [
            ("/a/b/c", .found("literal", [:])),
            ("/a/b/d", .found("parameter", ["x": "b"])),  // the literal b has no d: back to :x
            ("/a/q/d", .found("parameter", ["x": "q"])),
            // Depth first: under the literal a, its wildcard is tried before the root's parameters.
            ("/a/b/e", .found("wildcard", ["*": "b/e"])),
            ("/a/b", .found("wildcard", ["*": "b"])),
            ("/a", .found("wildcard", ["*": ""])),
            ("/z/b/e", .found("root parameter", ["first": "z"])),
            ("/z/b", .found("two parameters", ["first": "z", "second": "b"])),
            ("/z", .notFound),
        ]
        for row in cases {
            XCTAssertEqual(lookup(router, "GET", row.path, expecting: row.expected), row.expected, row.path)
        }
        // Without a wildcard under a, backtracking goes up to the root's parameters.
        let noWildcard = Router<String>()
        noWildcard.on(.get, "/a/b/c", "literal")
        noWildcard.on(.get, "/a/:x/d", "parameter")
        noWildcard.on(.get, "/:first/:second", "two parameters")
        if router.isFrozen { noWildcard.freeze() }
        let expected = Outcome.found("two parameters", ["first": "a", "second": "b"])
        XCTAssertEqual(lookup(noWildcard, "GET", "/a/b", expecting: expected), expected)
        XCTAssertEqual(lookup(noWildcard, "GET", "/a/b/x", expecting: .notFound), .notFound)
        // A parameter never matches an empty segment, nor spans a `/`.
        XCTAssertEqual(lookup(noWildcard, "GET", "/a/", expecting: .notFound), .notFound)
        XCTAssertEqual(lookup(noWildcard, "GET", "/a/b/c/d", expecting: .notFound), .notFound)
    }

    func testRoutesNameTheParameterAtOnePositionDifferently() {
        let router = Router<String>()
        router.on(.get, "/users/:id", "by id")
        router.on(.get, "/users/:userId/posts", "posts")
        router.on(.put, "/users/:uid", "replace")
        router.on(.get, "/users/:owner/posts/:post", "post")
        XCTAssertEqual(lookup(router, "GET", "/users/7", expecting: .found("", ["id": "", "userId": "", "uid": ""])),
                       .found("by id", ["id": "7"]))
        XCTAssertEqual(lookup(router, "PUT", "/users/7", expecting: .found("", ["id": "", "uid": ""])),
                       .found("replace", ["uid": "7"]))
        XCTAssertEqual(lookup(router, "GET", "/users/7/posts", expecting: .found("", ["id": "", "userId": "", "owner": ""])),
                       .found("posts", ["userId": "7"]))
        XCTAssertEqual(lookup(router, "GET", "/users/7/posts/9", expecting: .found("", ["userId": "", "owner": "", "post": ""])),
                       .found("post", ["owner": "7", "post": "9"]))
        XCTAssertEqual(lookup(router, "DELETE", "/users/7", expecting: .notFound), .methodNotAllowed(["GET", "PUT"]))
    }

    func testMethods() {
        for router in unfrozenAndFrozen(methodsRouter) { methods(router) }
    }

    private func methodsRouter() -> Router<String> {
        let router = Router<String>()
        router.on(.get, "/thing", "get")
        router.on(.post, "/thing", "post")
        router.on(.delete, "/thing", "delete")
        router.on(.put, "/only-put", "put")
        router.on(HTTPRequest.Method("PURGE")!, "/thing", "purge")
        router.on(.head, "/own-head", "head")
        router.on(.get, "/own-head", "get for own-head")
        router.on(.get, "/slash/", "slash get")
        router.on(.post, "/slash", "plain post")
        // Methods past 16 bytes share a packed key per length: their bytes tell them apart.
        router.on(HTTPRequest.Method("LONG-METHOD-NAME-A")!, "/long", "long a")
        router.on(HTTPRequest.Method("LONG-METHOD-NAME-B")!, "/long", "long b")
        router.on(HTTPRequest.Method("LONG-METHOD-NAME-")!, "/long", "long 17")
        return router
    }

    private func methods(_ router: Router<String>) {
        let cases: [(method: String, path: String, expected: Outcome)] = [
            ("GET", "/thing", .found("get", [:])),
            ("POST", "/thing", .found("post", [:])),
            ("PURGE", "/thing", .found("purge", [:])),
            ("HEAD", "/thing", .found("get", [:])),  // HEAD falls back to GET
            ("HEAD", "/own-head", .found("head", [:])),
            ("get", "/thing", .methodNotAllowed(["GET", "POST", "DELETE", "PURGE"])),  // case-sensitive
            ("PATCH", "/thing", .methodNotAllowed(["GET", "POST", "DELETE", "PURGE"])),
            ("HEAD", "/only-put", .methodNotAllowed(["PUT"])),  // no GET to fall back to
            ("GET", "/only-put", .methodNotAllowed(["PUT"])),
            ("GET", "/nothing", .notFound),
            // The trailing-slash form answers its path alone (no fallback to the plain form).
            ("GET", "/slash/", .found("slash get", [:])),
            ("POST", "/slash/", .methodNotAllowed(["GET"])),
            ("POST", "/slash", .found("plain post", [:])),
            ("GET", "/slash", .methodNotAllowed(["POST"])),
            ("LONG-METHOD-NAME-A", "/long", .found("long a", [:])),
            ("LONG-METHOD-NAME-B", "/long", .found("long b", [:])),
            ("LONG-METHOD-NAME-", "/long", .found("long 17", [:])),
            ("LONG-METHOD-NAME-C", "/long", .methodNotAllowed(["LONG-METHOD-NAME-A", "LONG-METHOD-NAME-B", "LONG-METHOD-NAME-"])),
            ("LONG-METHOD-NAME", "/long", .methodNotAllowed(["LONG-METHOD-NAME-A", "LONG-METHOD-NAME-B", "LONG-METHOD-NAME-"])),
            // A bad path is refused before methods are looked at.
            ("PATCH", "/thing/..", .badPath(.dotSegment)),
        ]
        for row in cases {
            XCTAssertEqual(lookup(router, row.method, row.path, expecting: row.expected), row.expected, "\(row.method) \(row.path)")
        }
    }

    func testRegistrationErrors() {
        let cases: [(pattern: String, error: RouteRegistrationError)] = [
            ("users", .notAbsolute(pattern: "users")),
            ("", .notAbsolute(pattern: "")),
            ("//", .emptySegment(pattern: "//")),
            ("/a//b", .emptySegment(pattern: "/a//b")),
            ("/a//", .emptySegment(pattern: "/a//")),
            ("/a/./b", .dotSegment(pattern: "/a/./b")),
            ("/a/..", .dotSegment(pattern: "/a/..")),
            ("/%2e%2E/x", .dotSegment(pattern: "/%2e%2E/x")),
            ("/a%zz", .invalidEscape(pattern: "/a%zz")),
            ("/100%", .invalidEscape(pattern: "/100%")),
            ("/a b", .invalidByte(pattern: "/a b", byte: 0x20)),
            ("/a?b", .invalidByte(pattern: "/a?b", byte: UInt8(ascii: "?"))),
            ("/a#b", .invalidByte(pattern: "/a#b", byte: UInt8(ascii: "#"))),
            ("/café", .invalidByte(pattern: "/café", byte: 0xC3)),
            ("/*/a", .wildcardNotLast(pattern: "/*/a")),
            ("/a/*/", .wildcardNotLast(pattern: "/a/*/")),
            ("/a/:", .emptyParameterName(pattern: "/a/:")),
            ("/:id/x/:id", .duplicateParameterName(pattern: "/:id/x/:id", name: "id")),
        ]
        for (pattern, expected) in cases {
            let router = Router<String>()
            XCTAssertThrowsError(try router.register(.get, pattern, "x"), pattern) { error in
                XCTAssertEqual(error as? RouteRegistrationError, expected, pattern)
            }
        }

        let router = Router<String>()
        XCTAssertNoThrow(try router.register(.get, "/users/:id", "first"))
        XCTAssertNoThrow(try router.register(.post, "/users/:id", "post"))
        XCTAssertNoThrow(try router.register(.get, "/users/:id/", "slash form"))
        XCTAssertThrowsError(try router.register(.get, "/users/:id", "again")) { error in
            XCTAssertEqual(error as? RouteRegistrationError, .duplicateRoute(method: "GET", pattern: "/users/:id", existing: "/users/:id"))
        }
        XCTAssertThrowsError(try router.register(.get, "/users/:name", "same route, other name")) { error in
            XCTAssertEqual(error as? RouteRegistrationError, .duplicateRoute(method: "GET", pattern: "/users/:name", existing: "/users/:id"))
        }
        // What failed registered nothing: the first handler still answers.
        XCTAssertEqual(lookup(router, "GET", "/users/1", expecting: .found("", ["id": ""])), .found("first", ["id": "1"]))
        router.freeze()
        XCTAssertThrowsError(try router.register(.get, "/late", "late")) { error in
            XCTAssertEqual(error as? RouteRegistrationError, .registeredAfterStart(method: "GET", pattern: "/late"))
        }
        XCTAssertEqual(lookup(router, "GET", "/late", expecting: .notFound), .notFound)
    }

    func testPatternsThatRegister() {
        for frozen in [false, true] {
            let router = Router<String>()
            for pattern in ["/", "/a:b", "/*", "/x/*", "/%2F", "/~user", "/a.b", "/...", "/:p/:q/:r", "/v1/:id/", "/%C3%A9"] {
                XCTAssertNoThrow(try router.register(.get, pattern, pattern), pattern)
            }
            if frozen { router.freeze() }
            patternsThatRegister(router)
        }
    }

    private func patternsThatRegister(_ router: Router<String>) {
        XCTAssertEqual(lookup(router, "GET", "/a:b", expecting: .found("", [:])), .found("/a:b", [:]))
        XCTAssertEqual(lookup(router, "GET", "/%2F", expecting: .found("", [:])), .found("/%2F", [:]))
        XCTAssertEqual(lookup(router, "GET", "/...", expecting: .found("", [:])), .found("/...", [:]))
        XCTAssertEqual(lookup(router, "GET", "/v1/7/", expecting: .found("", ["id": ""])), .found("/v1/:id/", ["id": "7"]))
        // Registered only with the slash, /v1/:id/ is not reached without it: backtracking
        // passes /:p/:q/:r (a segment short) and ends at the root's wildcard.
        XCTAssertEqual(lookup(router, "GET", "/v1/7", expecting: .found("", ["*": "", "id": ""])), .found("/*", ["*": "v1/7"]))
        XCTAssertEqual(lookup(router, "GET", "/q/y/z", expecting: .found("", ["p": "", "q": "", "r": ""])),
                       .found("/:p/:q/:r", ["p": "q", "q": "y", "r": "z"]))
        XCTAssertEqual(lookup(router, "GET", "/%C3%A9", expecting: .found("", [:])), .found("/%C3%A9", [:]))
    }

    /// A frozen router finds literal-only paths in its static-path index, skipping the path
    /// check and the trie walk: it must answer exactly as the walk does. Random paths of the
    /// routes' own segments, parameters, empty segments, dot-segments, escapes and one or two
    /// trailing slashes, with several methods, against routers where literal-only routes sit
    /// beside parameters and wildcards at every level (and a literal-only route registered only
    /// with its trailing slash, and one whose node has no route of its own).
    /// Methods of every length from 1 to 20 on one path: each finds its own route, and a
    /// method differing from one of them in a single byte, at any position, finds none (the
    /// method key is built from a few overlapping loads; a byte it dropped would let the
    /// variant through, for methods up to 16 bytes, where the key alone decides).
    func testMethodsOfEveryLengthAreToldApart() {
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        let methods = (1...20).map { length in
            String(decoding: (0..<length).map { letters[($0 &* 7 &+ length) % letters.count] }, as: UTF8.self)
        }
        for router in unfrozenAndFrozen({
            let router = Router<String>()
            for method in methods { router.on(HTTPRequest.Method(method)!, "/m", method) }
            return router
        }) {
            for method in methods {
                XCTAssertEqual(lookup(router, method, "/m", expecting: .found("", [:])), .found(method, [:]), method)
                var bytes = Array(method.utf8)
                for index in bytes.indices {
                    let original = bytes[index]
                    bytes[index] = UInt8(ascii: "0")
                    let variant = String(decoding: bytes, as: UTF8.self)
                    if case .found(let label, _) = lookup(router, variant, "/m", expecting: .found("", [:])) {
                        XCTFail("\(variant) (byte \(index) of \(method) changed) found the route of \(label)")
                    }
                    bytes[index] = original
                }
            }
        }
    }

    func testFrozenRouterAnswersAsTheTrieWalk() {
        func build() -> Router<String> {
            let router = pathRulesRouter()
            router.on(.get, "/a/b/c", "abc")
            router.on(.delete, "/a/b/c", "abc delete")
            router.on(.get, "/a/:x/d", "a x d")
            router.on(.get, "/a/*", "a wildcard")
            router.on(.get, "/plaintext", "plaintext")
            router.on(.get, "/json", "json")
            router.on(.get, "/x/y/", "x y slash")
            router.on(.get, "/x/:p/z", "x p z")
            router.on(.get, "/deep/one/two/three/four/five/six/seven", "deep")
            router.on(HTTPRequest.Method("LONG-METHOD-NAME-A")!, "/json", "long")
            return router
        }
        let walked = build()
        let indexed = build()
        indexed.freeze()
        let segments = ["", "a", "b", "c", "d", "x", "y", "z", "users", "admin", "docs", "both", "files", "plaintext", "json",
                        "deep", "one", "two", "three", "four", "five", "six", "seven", "42", ".", "..", "%2e", "caf%C3%A9",
                        "a;b", "c++", "%", "plaintexT", "plaintext1", "jso"]
        let methods = ["GET", "HEAD", "POST", "DELETE", "PUT", "LONG-METHOD-NAME-A", "LONG-METHOD-NAME-B"]
        var random = SplitMix(seed: 0x5151_2025_0CAF_E001)
        var checked = 0
        for _ in 0..<20_000 {
            let depth = Int(random.next() % 9)
            var path = (0..<depth).map { _ in "/" + segments[Int(random.next() % UInt64(segments.count))] }.joined()
            switch random.next() % 6 {
            case 0: path += "/"
            case 1: path += "//"
            case 2: if path.isEmpty { path = "/" }
            default: break
            }
            let method = methods[Int(random.next() % UInt64(methods.count))]
            let expected = lookup(walked, method, path, expecting: .found("", ["*": "", "x": "", "id": "", "p": "", "userId": ""]))
            let answered = lookup(indexed, method, path, expecting: .found("", ["*": "", "x": "", "id": "", "p": "", "userId": ""]))
            XCTAssertEqual(answered, expected, "\(method) \(path.debugDescription)")
            checked += 1
        }
        // Every literal-only pattern, with and without one trailing slash, both routers agree.
        for path in ["/", "//", "/a/b/c", "/a/b/c/", "/a/b/c//", "/plaintext", "/plaintext/", "/json", "/x/y", "/x/y/", "/x", "/x/",
                     "/deep/one/two/three/four/five/six/seven", "/deep/one/two/three/four/five/six/seve", "/docs", "/docs/", "/both/"] {
            for method in methods {
                XCTAssertEqual(lookup(indexed, method, path, expecting: .found("", [:])), lookup(walked, method, path, expecting: .found("", [:])),
                               "\(method) \(path)")
            }
        }
        XCTAssertEqual(checked, 20_000)
        XCTAssertEqual(lookup(indexed, "GET", "/plaintext", expecting: .found("", [:])), .found("plaintext", [:]))
        XCTAssertEqual(lookup(indexed, "GET", "/x/y", expecting: .notFound), .notFound)  // only `/x/y/` is registered
        XCTAssertEqual(lookup(indexed, "HEAD", "/json/", expecting: .found("", [:])), .found("json", [:]))
    }
}
