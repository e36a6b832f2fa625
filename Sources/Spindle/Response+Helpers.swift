import HTTPTypes
import SpindleHTTP

// Building common responses and fields: redirects, Cache-Control, Set-Cookie.
extension Response {
    /// The statuses a redirect can have (RFC 9110 §15.4).
    public enum RedirectStatus: Sendable {
        /// 303: "see that resource", fetched with GET whatever the request's method (the usual
        /// answer to a form POST).
        case seeOther
        /// 302: found elsewhere for now; browsers turn a POST into a GET.
        case found
        /// 301: moved for good; browsers turn a POST into a GET, and caches keep it.
        case movedPermanently
        /// 307: elsewhere for now, with the same method and body.
        case temporaryRedirect
        /// 308: moved for good, with the same method and body; caches keep it.
        case permanentRedirect

        /// The status code.
        public var status: HTTPResponse.Status {
            switch self {
            case .seeOther: .seeOther
            case .found: .found
            case .movedPermanently: .movedPermanently
            case .temporaryRedirect: .temporaryRedirect
            case .permanentRedirect: .permanentRedirect
            }
        }
    }

    /// A redirect to `location` (a URI reference: absolute, or relative to the request's URI)
    /// with `status` (303 by default) and an empty body. Throws `InvalidFieldValueError` when
    /// `location` is empty or holds a control byte (CR, LF, NUL, …), so a location built from
    /// client input cannot add fields or end the head. It does not check where it points: a
    /// location taken from the request (`?next=`) can send users to another site, so check
    /// it against your own paths. Cost: the field's strings.
    public static func redirect(to location: String, status: RedirectStatus = .seeOther) throws -> Response {
        guard !location.isEmpty, location.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
            throw InvalidFieldValueError(field: "Location", reason: "must be non-empty and hold no control bytes (CR, LF, NUL, …)")
        }
        var response = Response(status: status.status)
        response.headerFields[.location] = location
        return response
    }

    /// Sets `Cache-Control` to `directives`, in the order given, replacing any value set
    /// before: `response.cacheControl(.public, .maxAge(31_536_000), .immutable)`. The
    /// directives are not checked against each other (`noStore` with `maxAge` is yours to
    /// avoid). Cost: the field's string.
    public mutating func cacheControl(_ directives: CacheDirective...) {
        cacheControl(directives)
    }

    /// `cacheControl(_:)` with an array; an empty one removes `Cache-Control`.
    public mutating func cacheControl(_ directives: [CacheDirective]) {
        headerFields[.cacheControl] = directives.isEmpty ? nil : directives.map(\.text).joined(separator: ", ")
    }

    /// Appends a `Set-Cookie` field for `cookie` (several are allowed; each is its own field
    /// line). Throws `CookieError` when the cookie breaks a rule (see `SetCookie.fieldValue()`),
    /// and adds nothing then. Cost: the field's string.
    public mutating func setCookie(_ cookie: SetCookie) throws {
        headerFields.append(HTTPField(name: .setCookie, value: try cookie.fieldValue()))
    }
}

/// A `Cache-Control` response directive (RFC 9111 §5.2.2). Seconds are clamped to
/// 0…2,147,483,648, the largest value caches must understand (RFC 9111 §1.2.2).
public enum CacheDirective: Hashable, Sendable {
    /// `max-age=N`: fresh for N seconds.
    case maxAge(Int)
    /// `s-maxage=N`: fresh for N seconds in shared caches (CDNs, proxies), overriding `max-age`.
    case sharedMaxAge(Int)
    /// `no-store`: no cache may keep it.
    case noStore
    /// `no-cache`: caches may keep it but must revalidate before each use.
    case noCache
    /// `public`: shared caches may keep it, even for a request with `Authorization`.
    case `public`
    /// `private`: only the user's own cache may keep it.
    case `private`
    /// `immutable`: it will not change while fresh; browsers skip revalidating on reload
    /// (RFC 8246).
    case immutable
    /// `must-revalidate`: once stale, not used without revalidating.
    case mustRevalidate
    /// `no-transform`: intermediaries must not change the content (nor its coding).
    case noTransform

    /// The directive as written in the field.
    public var text: String {
        switch self {
        case .maxAge(let seconds): "max-age=\(Self.clamped(seconds))"
        case .sharedMaxAge(let seconds): "s-maxage=\(Self.clamped(seconds))"
        case .noStore: "no-store"
        case .noCache: "no-cache"
        case .public: "public"
        case .private: "private"
        case .immutable: "immutable"
        case .mustRevalidate: "must-revalidate"
        case .noTransform: "no-transform"
        }
    }

    private static func clamped(_ seconds: Int) -> Int { min(max(seconds, 0), 2_147_483_648) }
}

/// A response field value a helper refused (it would have changed the response's framing or
/// meaning): the field and the rule. Answered `500` when not caught: a handler passed it on.
public struct InvalidFieldValueError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The field's name.
    public let field: String
    /// What the value must be.
    public let reason: String

    /// `Location: must be …`.
    public var description: String { "\(field): \(reason)" }
}
