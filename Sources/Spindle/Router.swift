import HTTPTypes
import SpindleHTTP

/// Maps (method, path) to a handler. Build it (mutable) at startup, then the server freezes it
/// and every worker reads it. Once frozen, a path equal to a pattern of literal segments only
/// (`/plaintext`, `/api/health`, with or without one trailing slash) is found with one hash
/// (`StaticPathIndex`); any other path is checked once, then walked down a trie over its
/// segments. A lookup allocates nothing for a route without parameters, and for one with
/// parameters an array of captured ranges and the decoded values (`Parameters`).
///
/// Patterns: literal segments (`/users/list`), parameters (`/users/:id`, captured without the
/// colon), and a last-segment wildcard (`/static/*`, captured as `*`: the rest of the path,
/// zero or more segments). Literal segments win over parameters, parameters over the wildcard;
/// a branch that leads nowhere is left for the next one (backtracking). Routes may name the
/// parameter at one position differently (`/users/:id`, `/users/:userId/posts`): each handler
/// sees its own names.
///
/// Path rules (Docs/routing.md has the reasons and a table of examples). The path is the raw
/// target path, not decoded and never normalised, so a route is reached only by the bytes a
/// front proxy's rules see:
/// - literal segments match the raw bytes, case-sensitively: `/%61dmin` does not reach
///   `/admin`, `/Admin` neither (404);
/// - a dot-segment anywhere — `.` or `..`, also spelled `%2e`, `%2E%2e`, `.%2E`, … — or a `%`
///   not followed by two hex digits makes the lookup `.badPath` (answered 400), whatever the
///   routes;
/// - empty segments (`//`, `/a//b`) match nothing (404); so does a path not starting with `/`
///   (`OPTIONS *`); the empty path (`http://host` in absolute-form) is `/`;
/// - one trailing slash is ignored (`/users/` reaches `/users`), unless the trailing-slash form
///   was registered (`/users/`): then that route answers `/users/` (and only it), `/users`
///   answers `/users`; a pattern registered only with the slash is not reached without it;
/// - parameter and wildcard values are percent-decoded, strictly: `%2F` gives a `/` inside
///   the value (it never splits segments); a value that decodes to invalid UTF-8 makes the
///   lookup `.badPath`. The wildcard's value keeps a trailing slash (`/static/a/` → `a/`).
///   Decoded values may hold `/`, `..` and NUL: never join one to a file path unchecked;
/// - `;`, `+` and every other byte are literal (no matrix parameters, `+` is not a space).
///
/// Methods: exact, case-sensitive; `HEAD` falls back to `GET`. A path with routes but none for
/// the method gives `.methodNotAllowed` (405 with `Allow`); no route gives `.notFound` (404).
///
/// Cost: a literal-only path, one hash of its bytes and one comparison; otherwise the path check
/// is one pass without allocation, and the walk visits one trie node per
/// segment plus the branches it backtracks from, a number bounded by the routes (recursion is
/// as deep as the longest pattern), not by the client.
public final class Router<Handler> {
    // `@exclusivity(unchecked)`: nodes change only while routes are registered, on one thread,
    // before the server starts; afterwards the workers only read them (no dynamic checks on
    // every lookup).
    //
    // A lookup walks the trie through unmanaged references, so it takes
    // no reference counts (a counted walk cost two atomic operations per node it looked at, on
    // every request). Invariant that makes this safe: every node but the root is owned by its
    // parent's `owned` array, the root by the router, and no node is ever removed, so a node
    // lives as long as the router, which outlives every lookup in it (a lookup is a method call).
    final class Node {
        @exclusivity(unchecked) var segment: [UInt8]
        /// Owns the children below; the references next to it only point into it.
        @exclusivity(unchecked) private var owned: [Node] = []
        /// Children of literal segments, in registration order.
        @exclusivity(unchecked) private(set) var literals: [Unmanaged<Node>] = []
        @exclusivity(unchecked) private(set) var parameter: Unmanaged<Node>? = nil
        @exclusivity(unchecked) private(set) var wildcard: Unmanaged<Node>? = nil
        /// Routes of patterns ending here without a trailing slash (reached with or without one).
        @exclusivity(unchecked) var routes: [Route] = []
        /// Routes of patterns ending here with a trailing slash (reached only with one).
        @exclusivity(unchecked) var slashRoutes: [Route] = []
        init(segment: [UInt8]) { self.segment = segment }

        /// The route for the method `key` (whose bytes are `method`) among `slashRoutes` when
        /// `slash`, else `routes`; unretained; nil when none. By index, each element read on its
        /// own: no reference count on the array.
        @inline(__always)
        func route(slash: Bool, _ key: MethodKey, _ method: UnsafeRawBufferPointer) -> Unmanaged<Route>? {
            // Two loops reading the stored arrays in place: passing either array to a shared
            // loop retained it.
            var index = 0
            if slash {
                while index < slashRoutes.count {
                    let route = Unmanaged.passUnretained(slashRoutes[index])
                    if Self.isRoute(route, for: key, method) { return route }
                    index &+= 1
                }
            } else {
                while index < routes.count {
                    let route = Unmanaged.passUnretained(routes[index])
                    if Self.isRoute(route, for: key, method) { return route }
                    index &+= 1
                }
            }
            return nil
        }

        /// Whether `route` is for the method `key` (whose bytes are `method`).
        @inline(__always)
        private static func isRoute(_ route: Unmanaged<Route>, for key: MethodKey, _ method: UnsafeRawBufferPointer) -> Bool {
            route._withUnsafeGuaranteedRef { $0.methodKey == key && (key.isExact || $0.methodBytes.elementsEqual(method)) }
        }

        /// The child for the literal `bytes`, made if missing. Registration only.
        func literal(_ bytes: [UInt8]) -> Node {
            for child in literals where child.takeUnretainedValue().segment == bytes { return child.takeUnretainedValue() }
            let child = adopt(Node(segment: bytes))
            literals.append(.passUnretained(child))
            return child
        }

        /// The parameter child, made if missing. Registration only.
        func parameterChild() -> Node {
            if let parameter { return parameter.takeUnretainedValue() }
            let child = adopt(Node(segment: []))
            parameter = .passUnretained(child)
            return child
        }

        /// The wildcard child, made if missing. Registration only.
        func wildcardChild() -> Node {
            if let wildcard { return wildcard.takeUnretainedValue() }
            let child = adopt(Node(segment: []))
            wildcard = .passUnretained(child)
            return child
        }

        private func adopt(_ child: Node) -> Node {
            owned.append(child)
            return child
        }
    }

    /// One registered handler.
    /// A registered route. A class: a lookup hands it on with one reference count, where a
    /// struct of five reference-counted fields was copied field by field.
    final class Route {
        let method: HTTPRequest.Method
        let methodBytes: [UInt8]
        let methodKey: MethodKey
        let handler: Handler
        /// The names of its captures, in path order (`*` for the wildcard).
        let parameterNames: [String]
        let pattern: String
        /// The route's own body limit (nil: the server's `limits.maxBodyBytes`).
        let maxBodyBytes: Int?
        /// Its row in the per-route metrics: its place in registration order (`routeNames`).
        let index: Int

        init(method: HTTPRequest.Method, methodBytes: [UInt8], handler: Handler, parameterNames: [String], pattern: String,
             maxBodyBytes: Int?, index: Int) {
            self.index = index
            self.method = method
            self.methodBytes = methodBytes
            methodKey = methodBytes.withUnsafeBytes { MethodKey($0) }
            self.handler = handler
            self.parameterNames = parameterNames
            self.pattern = pattern
            self.maxBodyBytes = maxBodyBytes
        }
    }

    let root = Node(segment: [])
    /// Whether the router is frozen (`freeze()`, which the server calls when it starts): no
    /// route or middleware can be added any more. Any thread; a load.
    @exclusivity(unchecked) public private(set) var isFrozen = false
    /// The literal-only routes by path, built by `freeze()` (nil before: lookups walk the trie).
    @exclusivity(unchecked) private var staticPaths: StaticPathIndex? = nil
    /// Middleware around everything the router answers (`add(middleware:)`), outermost first.
    @exclusivity(unchecked) var globalMiddleware: [any Middleware] = []
    /// The global middleware around `dispatch`, composed when the server starts (nil without
    /// global middleware: the server then calls `dispatch` directly).
    @exclusivity(unchecked) var chainedResponder: Handler? = nil
    /// `<method> <pattern>` of every route, in registration order: route `index` is row `index`
    /// of the per-route metrics, whose last row (`routeNames.count`) is the requests no route
    /// answered. Fixed once frozen.
    @exclusivity(unchecked) private(set) var routeNames: [String] = []

    /// Creates an empty router.
    public init() {}

    /// Registers `handler` for `method` on `pattern`. A pattern no request could reach as
    /// written, the same method on the same route twice, or a registration after the server
    /// started stops the program with the reason (see `RouteRegistrationError`; `register`
    /// throws it instead). Startup only; allocates the trie nodes.
    ///
    /// `maxBodyBytes` gives the route a request body limit of its own in place of the server's
    /// `limits.maxBodyBytes` (0: no limit; nil, the default: the server's), larger or smaller:
    /// an upload route may take a gigabyte while every other route keeps the server's megabyte.
    /// It applies as the server's does — a `Content-Length` above it is answered `413` before
    /// the handler runs, a chunked body that grows past it fails its read with `413`, and
    /// `readAll()` collects up to it — once the request is routed: global middleware that reads
    /// the body before routing reads it under the server's limit. Cost per request to such a
    /// route: a few stores into the request's state.
    public func on(_ method: HTTPRequest.Method, _ pattern: String, maxBodyBytes: Int? = nil, _ handler: Handler) {
        do {
            try register(method, pattern, maxBodyBytes: maxBodyBytes, handler)
        } catch {
            fatalError("Router: \(error)")
        }
    }

    /// Registers `handler` for `method` on `pattern` (with its own body limit when
    /// `maxBodyBytes` is given: see `on`), or throws why it cannot be (nothing is registered
    /// then). A negative `maxBodyBytes` stops the program. Startup only, on one thread;
    /// allocates the trie nodes.
    public func register(_ method: HTTPRequest.Method, _ pattern: String, maxBodyBytes: Int? = nil,
                         _ handler: Handler) throws(RouteRegistrationError) {
        guard !isFrozen else { throw .registeredAfterStart(method: method.rawValue, pattern: pattern) }
        if let maxBodyBytes {
            precondition(maxBodyBytes >= 0, "Router: maxBodyBytes of \(method.rawValue) \(pattern) must be >= 0 (0 = unlimited)")
        }
        let parsed = try RoutePattern(pattern)
        var node = root
        for segment in parsed.segments {
            switch segment {
            case .literal(let bytes):
                node = node.literal(bytes)
            case .parameter:
                node = node.parameterChild()
            case .wildcard:
                node = node.wildcardChild()
            }
        }
        let existing = parsed.trailingSlash ? node.slashRoutes : node.routes
        if let clash = existing.first(where: { $0.method == method }) {
            throw .duplicateRoute(method: method.rawValue, pattern: pattern, existing: clash.pattern)
        }
        let route = Route(method: method, methodBytes: Array(method.rawValue.utf8), handler: handler,
                          parameterNames: parsed.parameterNames, pattern: pattern, maxBodyBytes: maxBodyBytes,
                          index: routeNames.count)
        routeNames.append("\(method.rawValue) \(pattern)")
        if parsed.trailingSlash { node.slashRoutes.append(route) } else { node.routes.append(route) }
    }

    /// Stops further registration (the server calls it when it starts) and indexes the routes
    /// made only of literal segments by path, which lookups then find with one hash instead of
    /// a trie walk. Allocates the index once (a power of two of slots, at least eight and twice
    /// the literal-only paths with routes, and those paths' bytes). Call it on one thread before
    /// other threads look up routes (the server does): it publishes the index with plain stores.
    public func freeze() {
        guard !isFrozen else { return }
        isFrozen = true
        staticPaths = StaticPathIndex(root: root)
    }

    /// Stops with a message when the router is frozen: `what` was added too late.
    func requireNotFrozen(_ what: @autoclosure () -> String) {
        guard !isFrozen else { fatalError("Router: \(what()) added after the server started; register routes and middleware before Server.run") }
    }

    /// The outcome of a lookup.
    public enum Match {
        /// A handler, with the parameters captured from the path (decoded).
        case found(Handler, Parameters)
        /// No route matches the path.
        case notFound
        /// Routes match the path but not the method; `allowed` lists those that do.
        case methodNotAllowed(allowed: [HTTPRequest.Method])
        /// The path breaks a rule (a dot-segment, an invalid escape, a parameter that is not
        /// UTF-8): it is not routed; the server answers `400 Bad Request`.
        case badPath(BadPathReason)
    }

    /// Finds the handler for `method` and `path` (the path part of the target: no query), as
    /// the rules in the type's comment say. Any thread once frozen; never traps, whatever the
    /// bytes. Cost: see the type's comment.
    public func match(method: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer) -> Match {
        var route = 0
        return matchRoute(method: method, path: path, route: &route).match
    }

    /// `match`, and the body limit of the route found (nil: none of its own, or no route);
    /// also sets `route` to the index of the route found (its `routeNames` row; left as it was
    /// unless `.found`).
    @inline(__always)
    func matchRoute(method: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer,
                    route routeIndex: inout Int) -> (match: Match, maxBodyBytes: Int?) {
        switch lookup(method: method, path: path) {
        case .route(let route, let captures):
            return route._withUnsafeGuaranteedRef { route in
                routeIndex = route.index
                return (found(route, path: path, captures: captures ?? []), route.maxBodyBytes)
            }
        case .answer(let match):
            return (match, nil)
        }
    }

    /// What a lookup found, before any parameter is decoded.
    enum Lookup {
        /// The route for the method and path (unretained: it lives as long as the router, see
        /// `Node`), and the ranges of the path its parameters captured (nil when it has none: no
        /// array to count references on).
        case route(Unmanaged<Route>, captures: [Range<Int>]?)
        /// No route: the answer (`.notFound`, `.methodNotAllowed`, `.badPath`; never `.found`).
        case answer(Match)
    }

    /// The route for `method` and `path`, as the rules in the type's comment say, with its
    /// parameters' ranges undecoded (`found` decodes them); `dispatch` runs its handler without
    /// building a `Match` or counting a reference. Cost: see the type's comment.
    @inline(__always)
    func lookup(method: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer) -> Lookup {
        if let hit = staticPaths?.node(for: path) {
            return route(at: hit.node, trailingSlash: hit.trailingSlash, method: method, captures: nil)
        }
        let trailingSlash: Bool
        switch RoutingPath.check(path) {
        case .bad(let reason): return .answer(.badPath(reason))
        case .noRoute: return .answer(.notFound)
        case .routable(let slash): trailingSlash = slash
        }
        var captures: [Range<Int>] = []
        let end = trailingSlash ? path.count - 1 : path.count
        guard let node = find(root, path, from: 1, end: end, trailingSlash: trailingSlash, captures: &captures) else {
            return .answer(.notFound)
        }
        return route(at: node, trailingSlash: trailingSlash, method: method, captures: captures.isEmpty ? nil : captures)
    }

    /// The route of `node` (which answers the path: see `find`) for `method`, with `captures`;
    /// `HEAD` falls back to `GET`; `.methodNotAllowed` when the node has none for the method.
    /// `captures` is consumed: borrowed, storing it in the result retained it (a call even for
    /// the nil of a static path).
    @inline(__always)
    private func route(at node: Unmanaged<Node>, trailingSlash: Bool, method: UnsafeRawBufferPointer,
                       captures: consuming [Range<Int>]?) -> Lookup {
        node._withUnsafeGuaranteedRef { node in
            let slash = trailingSlash && !node.slashRoutes.isEmpty
            // Unmanaged: the route lives as long as the node (see `Node`).
            if let route = node.route(slash: slash, MethodKey(method), method) {
                return .route(route, captures: captures)
            }
            return otherMethod(slash ? node.slashRoutes : node.routes, method: method, captures: captures)
        }
    }

    /// No route among a node's `routes` for `method`: its `GET` route for `HEAD` (the server
    /// omits the body), else `.methodNotAllowed` listing their methods (allocates the list).
    @inline(never)
    private func otherMethod(_ routes: [Route], method: UnsafeRawBufferPointer, captures: [Range<Int>]?) -> Lookup {
        if method.elementsEqual("HEAD".utf8), let get = routes.first(where: { $0.method == .get }) {
            return .route(.passUnretained(get), captures: captures)
        }
        return .answer(.methodNotAllowed(allowed: routes.map(\.method)))
    }

    /// `.found` with the route's parameters decoded, or `.badPath` when one is not UTF-8.
    func found(_ route: Route, path: UnsafeRawBufferPointer, captures: [Range<Int>]) -> Match {
        if captures.isEmpty { return .found(route.handler, Parameters()) }
        do throws(BadPathReason) {
            return .found(route.handler, try Parameters(decoding: path, captures: captures, names: route.parameterNames))
        } catch {
            return .badPath(error)
        }
    }

    /// Whether a node's segment is `bytes` (a loop the compiler keeps inline; `elementsEqual`
    /// between an array and a buffer was a call per child visited).
    @inline(__always)
    private static func same(_ segment: [UInt8], _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard segment.count == bytes.count else { return false }
        return segment.withUnsafeBufferPointer { segment in
            var index = 0
            while index < segment.count {
                if segment[index] != bytes[index] { return false }
                index &+= 1
            }
            return true
        }
    }

    /// The node whose routes answer the segments of `path[start..<end]` under `node` (its
    /// `slashRoutes` when `trailingSlash` and it has some, else its `routes`, else, at the end
    /// of the path, those of its wildcard), recording parameter and wildcard ranges in
    /// `captures` (left as found when nil is returned). Depth-first: literal child, then
    /// parameter, then wildcard. Takes no reference counts (see `Node`).
    private func find(_ node: Node, _ path: UnsafeRawBufferPointer, from start: Int, end: Int, trailingSlash: Bool,
                      captures: inout [Range<Int>]) -> Unmanaged<Node>? {
        if start >= end {
            if (trailingSlash && !node.slashRoutes.isEmpty) || !node.routes.isEmpty { return .passUnretained(node) }
            if let wildcard = node.wildcard, wildcard._withUnsafeGuaranteedRef({ !$0.routes.isEmpty }) {
                let rest = min(start, path.count)
                captures.append(rest..<path.count)
                return wildcard
            }
            return nil
        }
        var segmentEnd = start
        while segmentEnd < end && path[segmentEnd] != UInt8(ascii: "/") { segmentEnd += 1 }
        let segment = UnsafeRawBufferPointer(rebasing: path[start..<segmentEnd])
        // By index, each element read on its own (`Unmanaged` is trivial): a `for` loop would
        // retain the array around the recursive calls.
        var index = 0
        while index < node.literals.count {
            let found = node.literals[index]._withUnsafeGuaranteedRef { child -> Unmanaged<Node>? in
                guard Self.same(child.segment, segment) else { return nil }
                return find(child, path, from: segmentEnd + 1, end: end, trailingSlash: trailingSlash, captures: &captures)
            }
            if let found { return found }
            index &+= 1
        }
        if let parameter = node.parameter {
            captures.append(start..<segmentEnd)
            let found = parameter._withUnsafeGuaranteedRef {
                find($0, path, from: segmentEnd + 1, end: end, trailingSlash: trailingSlash, captures: &captures)
            }
            if let found { return found }
            captures.removeLast()
        }
        if let wildcard = node.wildcard, wildcard._withUnsafeGuaranteedRef({ !$0.routes.isEmpty }) {
            captures.append(start..<path.count)
            return wildcard
        }
        return nil
    }
}

/// A request method's bytes packed into two words: a lookup compares a route's method without
/// reading (or reference counting) the array that holds its bytes. Methods longer than 16 bytes
/// (no standard one is) share a key per length, and are told apart by their bytes.
struct MethodKey: Equatable {
    private(set) var low: UInt64 = 0
    private(set) var high: UInt64 = 0
    let count: Int

    /// The key of `bytes`: byte `i` of the first 16 at bits `8 i` of `low` (`i` < 8) or of
    /// `high`. Cost: at most four loads, whatever the length (two overlapping loads cover a
    /// length between two widths; the bytes they share are the same, so or-ing them is exact).
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer) {
        count = bytes.count
        switch count {
        case 0:
            break
        case 1...3:  // bytes 0, count / 2 and count - 1: every byte of a 1-, 2- or 3-byte method
            let middle = count &>> 1, last = count &- 1
            low = UInt64(bytes[0]) | UInt64(bytes[middle]) &<< UInt64(8 &* middle) | UInt64(bytes[last]) &<< UInt64(8 &* last)
        case 4...8:
            let first = UInt64(Self.word32(bytes, 0)), tail = UInt64(Self.word32(bytes, count &- 4))
            low = first | tail &<< UInt64(8 &* (count &- 4))
        case 9...16:
            low = Self.word64(bytes, 0)
            high = Self.word64(bytes, count &- 8) &>> UInt64(8 &* (16 &- count))
        default:  // longer: the first 16 bytes (`isExact` is false)
            low = Self.word64(bytes, 0)
            high = Self.word64(bytes, 8)
        }
    }

    /// Four bytes of `bytes` from `offset`, the first in the low bits (`offset + 4 ≤ count`).
    @inline(__always)
    private static func word32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// Eight bytes of `bytes` from `offset`, the first in the low bits (`offset + 8 ≤ count`).
    @inline(__always)
    private static func word64(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Whether equal keys mean equal methods (the method fits in the key).
    var isExact: Bool { count <= 16 }
}

/// An error a handler throws to answer with a specific status (anything else becomes 500).
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// The response status.
    public let status: HTTPResponse.Status
    /// Sent as the plain-text body.
    public let message: String
    /// Extra response fields (`Retry-After`, `WWW-Authenticate`, `Sec-WebSocket-Version`, …).
    public var headerFields: HTTPFields = [:]

    /// An error answered with `status` and `message` (and `headerFields`).
    public init(_ status: HTTPResponse.Status, _ message: String? = nil, headerFields: HTTPFields = [:]) {
        self.status = status
        self.message = message ?? status.reasonPhrase
        self.headerFields = headerFields
    }

    /// The status code and the message, as logged (allocates the string).
    public var description: String { "\(status.code) \(message)" }
}

// @unchecked Sendable, for handlers that are Sendable themselves: the trie changes only while
// routes are registered, on one thread, before `freeze()`; the server freezes it before any
// worker starts, and after that every thread only reads it.
extension Router: @unchecked Sendable where Handler: Sendable {}
