import HTTPTypes

/// Maps (method, path) to a handler. Build it (mutable) at startup, then the server freezes it;
/// lookups walk a trie over the raw path bytes without allocating (parameter routes allocate one
/// small array for the captured ranges).
///
/// Patterns: static segments (`/users/list`), parameters (`/users/:id`, captured without the
/// colon), and a trailing wildcard (`/static/*`, captured as `*`). Static segments win over
/// parameters, parameters over wildcards. A path that matches a route but not its method gives
/// 405 with `Allow`; no route gives 404.
public final class Router<Handler> {
    // `@exclusivity(unchecked)`: nodes change only while routes are registered, on one thread,
    // before the server starts; afterwards the workers only read them (no dynamic checks on
    // every lookup).
    final class Node {
        @exclusivity(unchecked) var segment: [UInt8]
        @exclusivity(unchecked) var children: [Node] = []
        @exclusivity(unchecked) var parameter: (name: String, node: Node)? = nil
        @exclusivity(unchecked) var wildcard: Node? = nil
        @exclusivity(unchecked) var handlers: [(method: HTTPRequest.Method, bytes: [UInt8], handler: Handler)] = []
        init(segment: [UInt8]) { self.segment = segment }
    }

    let root = Node(segment: [])
    @exclusivity(unchecked) private(set) var isFrozen = false
    /// Middleware around everything the router answers (`add(middleware:)`), outermost first.
    @exclusivity(unchecked) var globalMiddleware: [any Middleware] = []
    /// The global middleware around `dispatch`, composed when the server starts (nil without
    /// global middleware: the server then calls `dispatch` directly).
    @exclusivity(unchecked) var chainedResponder: Handler? = nil

    /// Creates an empty router.
    public init() {}

    /// Registers `handler` for `method` on `pattern`. Registering the same method and pattern
    /// twice, or after the server started, stops with a message.
    public func on(_ method: HTTPRequest.Method, _ pattern: String, _ handler: Handler) {
        requireNotFrozen("route \(method) \(pattern)")
        guard pattern.hasPrefix("/") else { fatalError("Router: pattern \"\(pattern)\" must start with /") }
        var node = root
        let segments = pattern.split(separator: "/", omittingEmptySubsequences: true)
        for (index, segment) in segments.enumerated() {
            if segment == "*" {
                guard index == segments.count - 1 else { fatalError("Router: * must be the last segment of \"\(pattern)\"") }
                if node.wildcard == nil { node.wildcard = Node(segment: Array("*".utf8)) }
                node = node.wildcard!
            } else if segment.hasPrefix(":") {
                let name = String(segment.dropFirst())
                guard !name.isEmpty else { fatalError("Router: empty parameter name in \"\(pattern)\"") }
                if let existing = node.parameter {
                    guard existing.name == name else {
                        fatalError("Router: \"\(pattern)\" names parameter :\(name) where another route has :\(existing.name); use one name per position")
                    }
                    node = existing.node
                } else {
                    let child = Node(segment: Array(segment.utf8))
                    node.parameter = (name, child)
                    node = child
                }
            } else {
                let bytes = Array(segment.utf8)
                if let child = node.children.first(where: { $0.segment == bytes }) {
                    node = child
                } else {
                    let child = Node(segment: bytes)
                    node.children.append(child)
                    node = child
                }
            }
        }
        guard !node.handlers.contains(where: { $0.method == method }) else {
            fatalError("Router: \(method) \(pattern) is registered twice")
        }
        node.handlers.append((method, Array(method.rawValue.utf8), handler))
    }

    /// Stops further registration (the server calls it when it starts).
    public func freeze() { isFrozen = true }

    /// Stops with a message when the router is frozen: `what` was added too late.
    func requireNotFrozen(_ what: @autoclosure () -> String) {
        guard !isFrozen else { fatalError("Router: \(what()) added after the server started; register routes and middleware before Server.run") }
    }

    /// The outcome of a lookup.
    public enum Match {
        /// A handler, with the parameters captured from the path.
        case found(Handler, Parameters)
        /// No route matches the path.
        case notFound
        /// Routes match the path but not the method; `allowed` lists those that do.
        case methodNotAllowed(allowed: [HTTPRequest.Method])
    }

    /// Finds the handler for `method` and `path` (the path part of the target: no query).
    public func match(method: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer) -> Match {
        var captures: [Parameters.Capture] = []
        guard let node = find(root, path, from: path.first == UInt8(ascii: "/") ? 1 : 0, captures: &captures) else {
            return .notFound
        }
        for entry in node.handlers where entry.bytes.elementsEqual(method) {
            return .found(entry.handler, Parameters(path: path, captures: captures))
        }
        // HEAD falls back to GET (the server omits the body).
        if method.elementsEqual("HEAD".utf8), let get = node.handlers.first(where: { $0.method == .get }) {
            return .found(get.handler, Parameters(path: path, captures: captures))
        }
        return .methodNotAllowed(allowed: node.handlers.map(\.method))
    }

    /// Depth-first: static child, then parameter, then wildcard (backtracking on failure).
    private func find(_ node: Node, _ path: UnsafeRawBufferPointer, from start: Int,
                      captures: inout [Parameters.Capture]) -> Node? {
        var start = start
        while start < path.count && path[start] == UInt8(ascii: "/") { start += 1 }  // tolerate //
        if start >= path.count {
            if !node.handlers.isEmpty { return node }
            if let wildcard = node.wildcard, !wildcard.handlers.isEmpty {
                captures.append(.init(name: "*", range: start..<start))
                return wildcard
            }
            return nil
        }
        var end = start
        while end < path.count && path[end] != UInt8(ascii: "/") { end += 1 }
        let segment = UnsafeRawBufferPointer(rebasing: path[start..<end])
        for child in node.children where child.segment.elementsEqual(segment) {
            if let found = find(child, path, from: end, captures: &captures) { return found }
        }
        if let (name, child) = node.parameter {
            captures.append(.init(name: name, range: start..<end))
            if let found = find(child, path, from: end, captures: &captures) { return found }
            captures.removeLast()
        }
        if let wildcard = node.wildcard, !wildcard.handlers.isEmpty {
            captures.append(.init(name: "*", range: start..<path.count))
            return wildcard
        }
        return nil
    }
}

/// Path parameters captured by a route, decoded on demand.
public struct Parameters: Sendable {
    struct Capture: Sendable {
        let name: String
        let range: Range<Int>
    }

    private let values: [(name: String, value: String)]

    init(path: UnsafeRawBufferPointer, captures: [Capture]) {
        values = captures.map { ($0.name, String(decoding: UnsafeRawBufferPointer(rebasing: path[$0.range]), as: UTF8.self)) }
    }

    /// No parameters.
    public init() { values = [] }

    /// The value of `name` (`*` for the wildcard), or nil.
    public subscript(_ name: String) -> String? {
        values.first(where: { $0.name == name })?.value
    }

    /// The value of `name` converted to `T`; throws `HTTPError(.badRequest)` when missing or
    /// not convertible, naming the parameter.
    public func require<T: LosslessStringConvertible>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let raw = self[name] else { throw HTTPError(.badRequest, "missing path parameter :\(name)") }
        guard let value = T(raw) else { throw HTTPError(.badRequest, "path parameter :\(name) = \"\(raw)\" is not a valid \(T.self)") }
        return value
    }
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
