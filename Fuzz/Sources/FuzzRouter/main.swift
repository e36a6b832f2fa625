// libFuzzer target: Router.match on arbitrary paths against a fixed route table (literals,
// parameters, wildcards, trailing slashes, escapes in patterns). The first input byte picks the
// method, the rest is the path. Invariants: a lookup is deterministic; HEAD gets what GET gets
// (no HEAD route is registered); a found route has every one of its parameters; a path routed
// with a trailing slash differs from its slashless twin only where the table says so.
import FuzzSupport
import FuzzerDriver
import HTTPTypes
import Spindle

/// A route of the table: its pattern and the names its parameters must have when found.
private struct TableRoute {
    let method: HTTPRequest.Method
    let pattern: String
    let parameterNames: [String]
}

private let table: [TableRoute] = [
    .init(method: .get, pattern: "/", parameterNames: []),
    .init(method: .get, pattern: "/admin", parameterNames: []),
    .init(method: .get, pattern: "/users", parameterNames: []),
    .init(method: .post, pattern: "/users", parameterNames: []),
    .init(method: .get, pattern: "/users/:id", parameterNames: ["id"]),
    .init(method: .delete, pattern: "/users/:id", parameterNames: ["id"]),
    .init(method: .get, pattern: "/users/:userId/posts", parameterNames: ["userId"]),
    .init(method: .get, pattern: "/users/:userId/posts/:postId", parameterNames: ["userId", "postId"]),
    .init(method: .get, pattern: "/users/me/posts", parameterNames: []),
    .init(method: .get, pattern: "/files/*", parameterNames: ["*"]),
    .init(method: .put, pattern: "/files/:name/raw", parameterNames: ["name"]),
    .init(method: .get, pattern: "/docs/", parameterNames: []),
    .init(method: .get, pattern: "/both", parameterNames: []),
    .init(method: .get, pattern: "/both/", parameterNames: []),
    .init(method: .get, pattern: "/a;b", parameterNames: []),
    .init(method: .get, pattern: "/c++", parameterNames: []),
    .init(method: .get, pattern: "/caf%C3%A9", parameterNames: []),
    .init(method: .get, pattern: "/:any/deep/*", parameterNames: ["any", "*"]),
]

private let methods: [String] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", ""]

private let router: Router<Int> = {
    let router = Router<Int>()
    for (index, route) in table.enumerated() { router.on(route.method, route.pattern, index) }
    router.freeze()
    return router
}()

/// A comparable summary of a match.
private enum Summary: Equatable {
    case found(Int)
    case notFound
    case methodNotAllowed([String])
    case badPath(BadPathReason)
}

private func summarize(_ match: Router<Int>.Match) -> Summary {
    switch match {
    case .found(let index, let parameters):
        invariant(index >= 0 && index < table.count, "handler \(index)")
        for name in table[index].parameterNames {
            invariant(parameters[name] != nil, "route \(table[index].pattern) found without parameter \(name)")
        }
        return .found(index)
    case .notFound: return .notFound
    case .methodNotAllowed(let allowed):
        invariant(!allowed.isEmpty, "405 with no allowed method")
        return .methodNotAllowed(allowed.map(\.rawValue))
    case .badPath(let reason): return .badPath(reason)
    }
}

private func lookup(_ method: String, _ path: [UInt8]) -> Summary {
    Array(method.utf8).withUnsafeBytes { m in path.withUnsafeBytes { p in summarize(router.match(method: m, path: p)) } }
}

/// One fuzz input: runs the checks described at the top of this file; traps when one fails.
/// Returns 0 (libFuzzer's "keep going"). Allocates copies of the input.
// `@_cdecl`: libFuzzer's driver calls this C symbol once per input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRouter(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = Array(UnsafeRawBufferPointer(start: start.map(UnsafeRawPointer.init), count: count))
    guard let selector = data.first else { return 0 }
    let method = methods[Int(selector) % methods.count]
    let path = Array(data.dropFirst())
    let first = lookup(method, path)
    invariant(lookup(method, path) == first, "two lookups of the same path differ")
    let get = lookup("GET", path)
    let head = lookup("HEAD", path)
    switch get {
    case .found, .notFound, .badPath:
        invariant(head == get, "HEAD \(head) vs GET \(get)")
    case .methodNotAllowed:
        if case .found = head { invariant(false, "HEAD found where GET is not allowed") }
    }
    return 0
}

/// The program's entry: runs libFuzzer's driver (its command line) on this target until it is done.
// `@_cdecl`: SwiftPM links `main` to `FuzzRouter_main`.
@_cdecl("FuzzRouter_main")
public func fuzzRouterMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, test: fuzzRouter)
}
