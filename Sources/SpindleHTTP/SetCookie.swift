// The response side of cookies: building `Set-Cookie` field values (RFC 6265 §4.1, with the
// SameSite attribute and the `__Secure-`/`__Host-` name prefixes of RFC 6265bis).

/// A cookie for a `Set-Cookie` response field: name, value and attributes.
///
/// `fieldValue()` checks everything before it writes anything, so values that come from a
/// client cannot add attributes or other cookies (a `;` in a value), nor bytes that are not
/// allowed in a field: what it refuses throws `CookieError` naming the cookie and the rule.
/// (swift-http-types would already turn CR, LF and NUL into spaces; these checks refuse the
/// cookie instead, so nothing is silently changed.) Values are written as given: encode
/// anything outside the allowed bytes yourself (percent-encoding or base64url are usual).
///
///     var cookie = SetCookie(name: "session", value: token)
///     cookie.maxAge = 3600
///     cookie.secure = true
///     cookie.httpOnly = true
///     cookie.sameSite = .lax
///     try response.setCookie(cookie)   // Spindle's Response
public struct SetCookie: Hashable, Sendable {
    /// The `SameSite` attribute: when browsers send the cookie with cross-site requests.
    public enum SameSite: String, Hashable, Sendable {
        /// Only with same-site requests.
        case strict = "Strict"
        /// With same-site requests and top-level cross-site navigations (browsers' default).
        case lax = "Lax"
        /// With every request. Browsers accept it only on `Secure` cookies, and `fieldValue()`
        /// refuses it without `secure` (`CookieError.Rule.sameSiteNoneRequiresSecure`).
        case none = "None"
    }

    /// The name: a token (RFC 9110 §5.6.2: letters, digits and ``!#$%&'*+-.^_`|~``).
    public var name: String
    /// The value: bytes 0x21–0x7E except `"`, `,`, `;` and `\` (RFC 6265 `cookie-octet`),
    /// optionally all inside one pair of double quotes; may be empty.
    public var value: String
    /// `Expires`: when the cookie expires, in seconds since the Unix epoch, written as an
    /// IMF-fixdate (clamped to years 1970–9999). Nil: no `Expires`.
    public var expiresUnixSeconds: Int?
    /// `Max-Age`: seconds until the cookie expires; 0 or less is written `Max-Age=0` (expire
    /// now). Browsers prefer it to `Expires`. Nil: no `Max-Age` (with neither, the cookie lasts
    /// the browser session).
    public var maxAge: Int?
    /// `Domain`: the host and its subdomains receive the cookie. Letters, digits, `-` and `.`
    /// (a leading `.` is allowed and ignored by browsers). Nil: only the origin host.
    public var domain: String?
    /// `Path`: the paths that receive the cookie; must start with `/`, no control bytes or
    /// `;`. Nil: no `Path` (browsers then use the request path's directory, rarely what is
    /// meant; the default is `/`).
    public var path: String?
    /// `Secure`: sent over HTTPS only.
    public var secure: Bool
    /// `HttpOnly`: not readable by scripts.
    public var httpOnly: Bool
    /// `SameSite`, or nil for none (browsers then treat it as `Lax`).
    public var sameSite: SameSite?

    /// A cookie with `name`, `value` and the given attributes (all optional; `path` is `/`).
    /// Cost: none beyond the strings; nothing is checked until `fieldValue()`.
    public init(name: String, value: String, expiresUnixSeconds: Int? = nil, maxAge: Int? = nil,
                domain: String? = nil, path: String? = "/", secure: Bool = false, httpOnly: Bool = false,
                sameSite: SameSite? = nil) {
        self.name = name
        self.value = value
        self.expiresUnixSeconds = expiresUnixSeconds
        self.maxAge = maxAge
        self.domain = domain
        self.path = path
        self.secure = secure
        self.httpOnly = httpOnly
        self.sameSite = sameSite
    }

    /// The cookie that removes `name` from the browser: an empty value, `Max-Age=0` and an
    /// `Expires` in 1970. `path` and `domain` must be those the cookie was set with.
    public static func removing(_ name: String, path: String? = "/", domain: String? = nil) -> SetCookie {
        SetCookie(name: name, value: "", expiresUnixSeconds: 0, maxAge: 0, domain: domain, path: path)
    }

    /// The `Set-Cookie` field value: `name=value` then the attributes set, in the order
    /// Expires, Max-Age, Domain, Path, Secure, HttpOnly, SameSite. Throws `CookieError` for a
    /// name, value or attribute that breaks the rules above, for `SameSite=None` without
    /// `Secure`, for a `__Secure-` name without `Secure`, for a `__Host-` name without `Secure`,
    /// with a `Domain` or with a path other than `/`, and when name and value together exceed
    /// 4096 bytes (browsers drop such cookies). Cost: allocates the string.
    public func fieldValue() throws -> String {
        try validate()
        var result = name + "=" + value
        if let expiresUnixSeconds { result += "; Expires=" + HTTPDate.string(unixSeconds: expiresUnixSeconds) }
        if let maxAge { result += "; Max-Age=" + String(max(maxAge, 0)) }
        if let domain { result += "; Domain=" + domain }
        if let path { result += "; Path=" + path }
        if secure { result += "; Secure" }
        if httpOnly { result += "; HttpOnly" }
        if let sameSite { result += "; SameSite=" + sameSite.rawValue }
        return result
    }

    /// Bytes browsers keep of a cookie's name and value together (RFC 6265bis §5.6).
    public static let maximumNameAndValueBytes = 4096

    private func validate() throws {
        func refuse(_ rule: CookieError.Rule) -> CookieError { CookieError(name: name, rule: rule) }
        guard !name.isEmpty, name.utf8.allSatisfy(ByteClass.isToken) else { throw refuse(.invalidName) }
        var octets = Substring(value).utf8
        if octets.count >= 2, octets.first == ASCII.doubleQuote, octets.last == ASCII.doubleQuote {
            octets = octets.dropFirst().dropLast()
        }
        guard octets.allSatisfy(Self.isCookieOctet) else { throw refuse(.invalidValue) }
        guard name.utf8.count + value.utf8.count <= Self.maximumNameAndValueBytes else { throw refuse(.tooLarge) }
        if let domain {
            let bytes = domain.utf8
            guard !bytes.isEmpty, bytes.count <= 253, bytes.allSatisfy(Self.isDomainByte) else { throw refuse(.invalidDomain) }
        }
        if let path {
            guard path.utf8.first == ASCII.slash, path.utf8.count <= 1024,
                  path.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != ASCII.semicolon }) else { throw refuse(.invalidPath) }
        }
        if sameSite == SameSite.none && !secure { throw refuse(.sameSiteNoneRequiresSecure) }
        if name.hasPrefix("__Secure-") && !secure { throw refuse(.securePrefixRequiresSecure) }
        if name.hasPrefix("__Host-") && (!secure || domain != nil || path != "/") { throw refuse(.hostPrefixRequirements) }
    }

    /// RFC 6265 `cookie-octet`: 0x21, 0x23–0x2B, 0x2D–0x3A, 0x3C–0x5B, 0x5D–0x7E.
    static func isCookieOctet(_ byte: UInt8) -> Bool {
        byte >= 0x21 && byte <= 0x7E && byte != ASCII.doubleQuote && byte != ASCII.comma
            && byte != ASCII.semicolon && byte != ASCII.backslash
    }

    static func isDomainByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."): true
        default: false
        }
    }
}

/// A `SetCookie` that `fieldValue()` refused: the cookie's name and the rule it breaks.
public struct CookieError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rules `SetCookie.fieldValue()` checks.
    public enum Rule: Hashable, Sendable {
        /// The name is empty or not a token.
        case invalidName
        /// The value has a byte outside RFC 6265's `cookie-octet` (a space, `"`, `,`, `;`, `\`,
        /// a control byte, non-ASCII).
        case invalidValue
        /// Name and value together exceed `SetCookie.maximumNameAndValueBytes`.
        case tooLarge
        /// The domain is empty, over 253 bytes, or has a byte other than letters, digits, `-`, `.`.
        case invalidDomain
        /// The path does not start with `/`, is over 1024 bytes, or has a control byte or `;`.
        case invalidPath
        /// `SameSite=None` without `Secure`: browsers reject the cookie.
        case sameSiteNoneRequiresSecure
        /// A `__Secure-` name without `Secure`: browsers reject the cookie.
        case securePrefixRequiresSecure
        /// A `__Host-` name needs `Secure`, no `Domain` and `Path=/`: browsers reject it otherwise.
        case hostPrefixRequirements
    }

    /// The name of the cookie refused (it may be the invalid part).
    public let name: String
    /// What is wrong.
    public let rule: Rule

    /// The error for cookie `name` breaking `rule`.
    public init(name: String, rule: Rule) {
        self.name = name
        self.rule = rule
    }

    /// What is wrong and what to do, e.g. `cookie "id": SameSite=None requires Secure: set secure = true`.
    public var description: String {
        let reason = switch rule {
        case .invalidName: "the name must be a non-empty token (letters, digits, !#$%&'*+-.^_`|~)"
        case .invalidValue: "the value may hold only visible ASCII except \", comma, ; and \\ (encode it, e.g. base64url)"
        case .tooLarge: "name and value exceed \(SetCookie.maximumNameAndValueBytes) bytes, which browsers drop"
        case .invalidDomain: "the domain may hold only letters, digits, '-' and '.'"
        case .invalidPath: "the path must start with '/' and hold no control bytes or ';'"
        case .sameSiteNoneRequiresSecure: "SameSite=None requires Secure: set secure = true"
        case .securePrefixRequiresSecure: "a __Secure- name requires Secure: set secure = true"
        case .hostPrefixRequirements: "a __Host- name requires Secure, no Domain and Path=/"
        }
        // The name may be what is invalid: quote it with control bytes made visible.
        let shown = name.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
        return "cookie \"\(shown)\": \(reason)"
    }
}
