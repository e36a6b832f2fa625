/// A route pattern as the router registers it: its segments, and whether it was written with
/// a trailing slash. Parsed once, at registration.
struct RoutePattern {
    enum Segment: Equatable {
        /// Matched against the raw bytes of a path segment.
        case literal([UInt8])
        /// `:name`: any one non-empty segment, percent-decoded.
        case parameter(String)
        /// `*`: the rest of the path (zero or more segments), percent-decoded.
        case wildcard
    }

    let segments: [Segment]
    /// Written with a trailing slash (`/users/`): a separate route, reached only by paths that
    /// end in `/`.
    let trailingSlash: Bool

    /// The names a match captures, in path order (`*` for the wildcard).
    var parameterNames: [String] {
        segments.compactMap {
            switch $0 {
            case .literal: nil
            case .parameter(let name): name
            case .wildcard: "*"
            }
        }
    }

    /// Parses `pattern`, or throws the reason no request could ever reach it as written.
    init(_ pattern: String) throws(RouteRegistrationError) {
        let bytes = Array(pattern.utf8)
        guard bytes.first == UInt8(ascii: "/") else { throw .notAbsolute(pattern: pattern) }
        if let byte = bytes.first(where: { !(0x21...0x7E).contains($0) || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            throw .invalidByte(pattern: pattern, byte: byte)
        }
        let shape = bytes.withUnsafeBytes { RoutingPath.check($0) }
        switch shape {
        case .bad(.dotSegment): throw .dotSegment(pattern: pattern)
        case .bad: throw .invalidEscape(pattern: pattern)
        case .noRoute: throw .emptySegment(pattern: pattern)
        case .routable(let trailingSlash): self.trailingSlash = trailingSlash
        }
        var body = bytes.dropFirst()
        if trailingSlash { body = body.dropLast() }
        var segments: [Segment] = []
        var names: Set<String> = []
        let pieces = body.isEmpty ? [] : body.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (index, piece) in pieces.enumerated() {
            if piece.elementsEqual("*".utf8) {
                guard index == pieces.count - 1 && !trailingSlash else { throw .wildcardNotLast(pattern: pattern) }
                segments.append(.wildcard)
            } else if piece.first == UInt8(ascii: ":") {
                let name = String(decoding: piece.dropFirst(), as: UTF8.self)
                guard !name.isEmpty else { throw .emptyParameterName(pattern: pattern) }
                guard names.insert(name).inserted else { throw .duplicateParameterName(pattern: pattern, name: name) }
                segments.append(.parameter(name))
            } else {
                segments.append(.literal(Array(piece)))
            }
        }
        self.segments = segments
    }
}

/// Why a route could not be registered. `Router.on` stops with it (a mistake in the program,
/// found at startup); `Router.register` throws it.
public enum RouteRegistrationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The pattern does not start with `/`.
    case notAbsolute(pattern: String)
    /// The pattern has an empty segment (`//`): no path with one is routed.
    case emptySegment(pattern: String)
    /// A segment is `.` or `..` (in any spelling): paths with one are answered 400.
    case dotSegment(pattern: String)
    /// A `%` not followed by two hex digits: paths with one are answered 400.
    case invalidEscape(pattern: String)
    /// A byte no request-target carries literally (space, control, non-ASCII, `?`, `#`);
    /// write it percent-encoded, as clients send it.
    case invalidByte(pattern: String, byte: UInt8)
    /// `*` somewhere other than the last segment (or followed by a slash).
    case wildcardNotLast(pattern: String)
    /// `:` without a name.
    case emptyParameterName(pattern: String)
    /// The same parameter name twice in one pattern.
    case duplicateParameterName(pattern: String, name: String)
    /// The method already has a route there: `existing` (the same pattern, possibly with
    /// other parameter names).
    case duplicateRoute(method: String, pattern: String, existing: String)
    /// The router is frozen: the server has started.
    case registeredAfterStart(method: String, pattern: String)

    /// What went wrong and what to do (allocates).
    public var description: String {
        switch self {
        case .notAbsolute(let pattern): "pattern \"\(pattern)\" must start with /"
        case .emptySegment(let pattern): "pattern \"\(pattern)\" has an empty segment (//); paths with one are never routed"
        case .dotSegment(let pattern): "pattern \"\(pattern)\" has a . or .. segment; paths with one are answered 400, never routed"
        case .invalidEscape(let pattern): "pattern \"\(pattern)\" has a % not followed by two hex digits"
        case .invalidByte(let pattern, let byte):
            "pattern \"\(pattern)\" has byte 0x\(String(byte, radix: 16)), which no request path carries literally; percent-encode it"
        case .wildcardNotLast(let pattern): "* must be the last segment of \"\(pattern)\""
        case .emptyParameterName(let pattern): "empty parameter name in \"\(pattern)\""
        case .duplicateParameterName(let pattern, let name): "\"\(pattern)\" names parameter :\(name) twice"
        case .duplicateRoute(let method, let pattern, let existing):
            existing == pattern ? "\(method) \(pattern) is registered twice" : "\(method) \(pattern) is the route \(method) \(existing) again (parameter names aside)"
        case .registeredAfterStart(let method, let pattern):
            "route \(method) \(pattern) added after the server started; register routes and middleware before Server.run"
        }
    }
}
