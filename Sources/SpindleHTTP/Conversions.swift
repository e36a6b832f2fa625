import HTTPTypes

// Conversions from a parsed head to the swift-http-types vocabulary, made only when asked.
// The head itself is offsets; these build the public types and say what they cost.

extension HTTPRequestHead {
    /// The method as `HTTPRequest.Method`. The standard methods map to the library's constants
    /// and other methods of up to 15 bytes fit a small String: no allocation in either case;
    /// a longer method allocates its String. (Methods are case-sensitive: `get` is not GET.)
    public var method: HTTPRequest.Method {
        let m = methodBytes
        switch m.count {
        case 3:
            if methodIs("GET") { return .get }
            if methodIs("PUT") { return .put }
        case 4:
            if methodIs("POST") { return .post }
            if methodIs("HEAD") { return .head }
        case 5:
            if methodIs("PATCH") { return .patch }
        case 6:
            if methodIs("DELETE") { return .delete }
        case 7:
            if methodIs("OPTIONS") { return .options }
        default:
            break
        }
        // The parser validated the token, so this cannot fail.
        return HTTPRequest.Method(String(decoding: m, as: UTF8.self))!
    }

    /// The field lines as `HTTPFields`, in order, names with their received case, except Host:
    /// swift-http-types carries it as `HTTPRequest.authority` (see `authorityBytes`), as HTTP/2
    /// does. Allocates: a String per name and value (beyond 15 bytes) plus the fields' storage.
    public var headerFields: HTTPFields {
        var result = HTTPFields()
        result.reserveCapacity(fieldCount)
        for field in fields where !field.hasName("host") { result.append(field.httpField) }
        return result
    }
}

extension HTTPRawField {
    /// This field as an `HTTPField`. Allocates the name's and the value's Strings (unless small).
    public var httpField: HTTPField {
        // The parser checked the name is a token, so `Name(_:)` cannot fail.
        HTTPField(name: HTTPField.Name(nameString)!, value: value)
    }
}

extension HTTPRequest {
    /// The request of a parsed head, as swift-http-types models it: `method`; `scheme` from an
    /// absolute-form target, else `scheme` (the connection's: "http" or "https"); `authority`
    /// from an absolute-form target, else Host; `path` = path and query ("/" when an
    /// absolute-form URI has none, "*" for asterisk-form); `headerFields` = every field except
    /// Host (it became `authority`, as HTTP/2 carries it). Allocates (Strings, fields storage):
    /// call it when a handler asks for an `HTTPRequest`, not on the fast path.
    public init(_ head: HTTPRequestHead, scheme: String = "http") {
        let fields = head.headerFields
        let authority = head.authorityBytes.map { String(decoding: $0, as: UTF8.self) }
        var requestScheme: String? = scheme
        var path = head.targetString
        if head.targetForm == .absolute {
            let target = head.targetBytes
            let colon = target.firstIndex(of: ASCII.colon)!
            requestScheme = String(decoding: target[..<colon], as: UTF8.self).lowercased()
            let rest = head.pathBytes
            path = rest.isEmpty ? "/" : (rest.first == ASCII.question ? "/" : "") + String(decoding: rest, as: UTF8.self)
        }
        self.init(method: head.method, scheme: requestScheme, authority: authority, path: path, headerFields: fields)
    }
}
