/// An HTTP version as received: `HTTP/major.minor`. Two bytes; free to copy.
public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    /// The major version (always 1 in a head the parser accepted).
    public var major: UInt8
    /// The minor version. 0 for HTTP/1.0; 1 for HTTP/1.1; 2–9 for later 1.x, which the parser
    /// accepts and treats as HTTP/1.1 (RFC 9110 §6.2: process as the highest minor version known).
    public var minor: UInt8
    /// Creates a version. Cost: none.
    @inlinable public init(major: UInt8, minor: UInt8) { self.major = major; self.minor = minor }
    /// HTTP/1.0.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    /// True for HTTP/1.1 and later 1.x: Host required, persistent by default, chunked allowed.
    @inlinable public var hasHTTP11Semantics: Bool { major > 1 || (major == 1 && minor >= 1) }
    /// `HTTP/1.1`. Allocates a String.
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// The form of a request-target (RFC 9112 §3.2). One byte.
public enum HTTPRequestTargetForm: UInt8, Hashable, Sendable {
    /// `/path?query`: the usual form.
    case origin
    /// `http://host:port/path?query`: sent to proxies, and accepted by origin servers. The
    /// authority then comes from the target, not from Host (RFC 9112 §3.2.2).
    case absolute
    /// `*`, only with OPTIONS.
    case asterisk
}

/// How the body of a request is delimited (RFC 9112 §6.3). Free to copy.
public enum HTTPBodyFraming: Hashable, Sendable {
    /// No Content-Length and no Transfer-Encoding: the request has no body.
    case none
    /// Exactly this many body bytes follow the head.
    case contentLength(Int)
    /// A chunked body follows; decode it with `HTTPChunkedDecoder` (or `HTTPBodyDecoder`).
    case chunked
}

/// What the response must say about the connection. Derived from the request by
/// `HTTPRequestHead.persistence`; the server may downgrade it to `.close`. One byte.
public enum HTTPConnectionPersistence: UInt8, Hashable, Sendable {
    /// HTTP/1.1 default: keep the connection; nothing is written.
    case keepAlive
    /// An HTTP/1.0 client asked for keep-alive: `Connection: keep-alive` is written.
    case keepAliveHTTP10
    /// `Connection: close` is written and the server closes after the response.
    case close
}

/// Where one field line lies in the head, as offsets from the head's first byte. 16 bytes; the
/// parser preallocates `HTTPLimits.maxHeaderCount` of them once.
@usableFromInline
struct FieldSlot {
    @usableFromInline var nameStart: UInt32
    @usableFromInline var nameEnd: UInt32
    @usableFromInline var valueStart: UInt32
    @usableFromInline var valueEnd: UInt32
    @usableFromInline init(nameStart: Int, nameEnd: Int, valueStart: Int, valueEnd: Int) {
        self.nameStart = UInt32(truncatingIfNeeded: nameStart)
        self.nameEnd = UInt32(truncatingIfNeeded: nameEnd)
        self.valueStart = UInt32(truncatingIfNeeded: valueStart)
        self.valueEnd = UInt32(truncatingIfNeeded: valueEnd)
    }
}

/// One field line of a head, as views of its bytes (the value without surrounding whitespace).
/// Valid as long as the head it came from. Making Strings (`nameString`, `valueString`) allocates.
public struct HTTPRawField {
    /// The field name as received (case preserved).
    public let name: UnsafeRawBufferPointer
    /// The field value with leading and trailing SP/HTAB removed.
    public let value: UnsafeRawBufferPointer
    /// Creates a field view. Cost: none.
    @inlinable public init(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        self.name = name
        self.value = value
    }
    /// The name as a String. Allocates unless it is at most 15 bytes (small-string inline storage).
    public var nameString: String { String(decoding: name, as: UTF8.self) }
    /// The value as a String (bytes that are not UTF-8 become U+FFFD). Allocates unless ≤ 15 bytes.
    public var valueString: String { String(decoding: value, as: UTF8.self) }
    /// ASCII case-insensitive comparison of the name. Cost: compares bytes; no allocation.
    @inlinable
    public func hasName(_ lowercaseName: StaticString) -> Bool {
        guard let start = name.baseAddress else { return lowercaseName.utf8CodeUnitCount == 0 }
        return Bytes.equalsLowercase(start.assumingMemoryBound(to: UInt8.self), name.count, lowercaseName)
    }
}

/// The field lines of a head, in order, as a random-access collection of `HTTPRawField`.
/// A view over the parser's field table: no allocation; valid as long as the head.
public struct HTTPRawFields: RandomAccessCollection {
    @usableFromInline let base: UnsafeRawPointer
    @usableFromInline let slots: UnsafePointer<FieldSlot>
    /// Number of field lines.
    public let count: Int
    @inlinable init(base: UnsafeRawPointer, slots: UnsafePointer<FieldSlot>, count: Int) {
        self.base = base
        self.slots = slots
        self.count = count
    }
    /// 0.
    @inlinable public var startIndex: Int { 0 }
    /// `count`.
    @inlinable public var endIndex: Int { count }
    /// The field at `position`. Cost: two pointer additions; precondition-checked bound.
    @inlinable
    public subscript(position: Int) -> HTTPRawField {
        precondition(position >= 0 && position < count, "HTTPRawFields: index \(position) out of 0..<\(count)")
        return field(position)
    }

    @inlinable
    func field(_ k: Int) -> HTTPRawField {
        let s = slots[k]
        return HTTPRawField(
            name: UnsafeRawBufferPointer(start: base + Int(s.nameStart), count: Int(s.nameEnd &- s.nameStart)),
            value: UnsafeRawBufferPointer(start: base + Int(s.valueStart), count: Int(s.valueEnd &- s.valueStart)))
    }

    /// A direct iterator (not the generic `IndexingIterator`, whose unspecialised form in debug
    /// builds allocates a coroutine frame per element). No allocation.
    @inlinable public func makeIterator() -> Iterator { Iterator(fields: self, next: 0) }

    /// Iterates the fields in order.
    public struct Iterator: IteratorProtocol {
        @usableFromInline let fields: HTTPRawFields
        @usableFromInline var position: Int
        @inlinable init(fields: HTTPRawFields, next: Int) {
            self.fields = fields
            self.position = next
        }
        /// The next field, or nil. Cost: two pointer additions.
        @inlinable
        public mutating func next() -> HTTPRawField? {
            guard position < fields.count else { return nil }
            defer { position += 1 }
            return fields.field(position)
        }
    }
}

/// A parsed request head: a view of offsets into the bytes it was parsed from.
///
/// Zero-copy: the method, target, names and values are `UnsafeRawBufferPointer` slices of the
/// caller's buffer; no String or Array is made unless an accessor says it allocates.
///
/// Lifetime: valid while (1) the head's bytes stay where they were when `parseHead` completed
/// and are unchanged, and (2) the parser has not parsed another head (the field table is the
/// parser's, reused per head). If the bytes move (buffer compaction), use `rebased(to:)`.
/// To keep a request beyond that, convert it (`HTTPRequest(head)`, which allocates).
public struct HTTPRequestHead {
    @usableFromInline var base: UnsafeRawPointer
    @usableFromInline let slots: UnsafePointer<FieldSlot>
    @usableFromInline let methodStart: Int32
    @usableFromInline let methodEnd: Int32
    @usableFromInline let targetStart: Int32
    @usableFromInline let targetEnd: Int32
    /// The target's first `?` (-1: none): where its path ends and its query starts.
    @usableFromInline let queryStart: Int32
    @usableFromInline let hostStart: Int32  // -1 when there is no Host field
    @usableFromInline let hostEnd: Int32
    /// `length`, in 32 bits like the offsets (the head stays the size it was before `queryStart`).
    @usableFromInline let length32: Int32
    /// Bytes of the head, from the first byte given to `parseHead` (leading empty lines included)
    /// through the CRLF that ends it. The body, if any, starts right after.
    @inlinable public var length: Int { Int(length32) }
    /// Number of field lines.
    public let fieldCount: Int
    /// The version as received.
    public let version: HTTPVersion
    /// The request-target's form.
    public let targetForm: HTTPRequestTargetForm
    /// How the body is delimited.
    public let framing: HTTPBodyFraming
    /// True when the connection may stay open after this exchange: HTTP/1.1 without a `close`
    /// connection option, or HTTP/1.0 with `keep-alive` and without `close`.
    public let keepAlive: Bool
    /// True for an HTTP/1.1 request with `Expect: 100-continue` (ignored in HTTP/1.0, RFC 9110
    /// §10.1.1). Send `HTTPResponseWriter.writeContinue` before reading the body, or a final
    /// response and skip the body.
    public let expectsContinue: Bool

    /// A head from the parser's offsets (`queryStart` -1 when the target has no `?`, `hostStart`
    /// -1 when there is no Host field). Cost: one bound check (every offset is at most `length`,
    /// so one check covers the 32-bit narrowing).
    @usableFromInline
    init(base: UnsafeRawPointer, slots: UnsafePointer<FieldSlot>, length: Int, fieldCount: Int,
         methodStart: Int, methodEnd: Int, targetStart: Int, targetEnd: Int, queryStart: Int, hostStart: Int, hostEnd: Int,
         version: HTTPVersion, targetForm: HTTPRequestTargetForm, framing: HTTPBodyFraming,
         keepAlive: Bool, expectsContinue: Bool) {
        precondition(length <= Int(Int32.max), "HTTPRequestHead: a head longer than 2 GiB; lower HTTPLimits")
        self.base = base
        self.slots = slots
        self.length32 = Int32(truncatingIfNeeded: length)
        self.fieldCount = fieldCount
        self.methodStart = Int32(truncatingIfNeeded: methodStart)
        self.methodEnd = Int32(truncatingIfNeeded: methodEnd)
        self.targetStart = Int32(truncatingIfNeeded: targetStart)
        self.targetEnd = Int32(truncatingIfNeeded: targetEnd)
        self.queryStart = Int32(truncatingIfNeeded: queryStart)
        self.hostStart = Int32(truncatingIfNeeded: hostStart)
        self.hostEnd = Int32(truncatingIfNeeded: hostEnd)
        self.version = version
        self.targetForm = targetForm
        self.framing = framing
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
    }

    /// The same head over a copy of its bytes at `newBase` (e.g. after the server moved them).
    /// The field table is still the parser's. Cost: none.
    @inlinable
    public func rebased(to newBase: UnsafeRawPointer) -> HTTPRequestHead {
        var copy = self
        copy.base = newBase
        return copy
    }

    /// All bytes of the head. Cost: none.
    @inlinable public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: length) }

    /// The method token bytes, case preserved (methods are case-sensitive). Cost: none.
    @inlinable public var methodBytes: UnsafeRawBufferPointer { slice(methodStart, methodEnd) }

    /// The request-target bytes as received (not decoded or normalised). Cost: none.
    @inlinable public var targetBytes: UnsafeRawBufferPointer { slice(targetStart, targetEnd) }

    /// The target up to its first `?`, or all of it without one: in origin-form, the path
    /// (the parser noted where the query starts as it scanned the target). Cost: none.
    @inlinable public var targetBeforeQuery: UnsafeRawBufferPointer { slice(targetStart, queryStart < 0 ? targetEnd : queryStart) }

    /// The bytes after the target's first `?` — its query, in every form (neither a scheme nor
    /// an authority holds a `?`) — or nil without one. Cost: none (the parser noted where it
    /// starts).
    @inlinable public var queryBytes: UnsafeRawBufferPointer? { queryStart < 0 ? nil : slice(queryStart + 1, targetEnd) }

    /// The Host value (whitespace-trimmed), or nil when absent (only possible in HTTP/1.0).
    /// Cost: none.
    @inlinable public var hostBytes: UnsafeRawBufferPointer? { hostStart < 0 ? nil : slice(hostStart, hostEnd) }

    /// The field lines in order, as views. Cost: none.
    @inlinable public var fields: HTTPRawFields { HTTPRawFields(base: base, slots: slots, count: fieldCount) }

    /// True when the method is exactly `HEAD` (its response carries no body). Cost: a length
    /// compare and one 4-byte load and compare (the server asks once per response).
    @inlinable public var isHEAD: Bool {
        methodEnd &- methodStart == 4
            && base.loadUnaligned(fromByteOffset: Int(methodStart), as: UInt32.self) == 0x4441_4548  // "HEAD", little-endian
    }

    /// True when the method token is exactly `method` (case-sensitive). Cost: a byte compare.
    @inlinable
    public func methodIs(_ method: StaticString) -> Bool {
        let m = methodBytes
        guard m.count == method.utf8CodeUnitCount else { return false }
        return memcmpEqual(m.baseAddress!, UnsafeRawPointer(method.utf8Start), m.count)
    }

    /// The value of the first field named `lowercaseName` (ASCII case-insensitive; pass it in
    /// lowercase), or nil. Cost: a linear scan of the field table; no allocation.
    @inlinable
    public func firstValue(_ lowercaseName: StaticString) -> UnsafeRawBufferPointer? {
        for field in fields where field.hasName(lowercaseName) { return field.value }
        return nil
    }

    /// The value of the first field named `name` (ASCII case-insensitive), or nil. Cost: a linear
    /// scan; no allocation for native Strings.
    public func firstValue(named name: String) -> UnsafeRawBufferPointer? {
        var name = name
        return name.withUTF8 { wanted in
            let w = UnsafeRawBufferPointer(wanted)
            for field in fields where Bytes.equalsIgnoringCase(field.name, w) { return field.value }
            return nil
        }
    }

    /// The authority of the request: from the target in absolute-form (RFC 9112 §3.2.2: Host is
    /// then ignored), else the Host value. nil for an HTTP/1.0 request without Host. Cost: a
    /// short scan of the target for absolute-form; none otherwise.
    public var authorityBytes: UnsafeRawBufferPointer? {
        guard targetForm == .absolute else { return hostBytes }
        let (authority, _) = splitAbsoluteTarget()
        return authority
    }

    /// The path and query: the whole target in origin- and asterisk-form; in absolute-form the
    /// part after the authority (empty when the URI has no path). Cost: as `authorityBytes`.
    public var pathBytes: UnsafeRawBufferPointer {
        guard targetForm == .absolute else { return targetBytes }
        let (_, path) = splitAbsoluteTarget()
        return path
    }

    /// The path without its query, in every target form: `targetBeforeQuery` in origin-form;
    /// in absolute-form the part after the authority, up to the first `?` (empty when the URI
    /// has no path); `*` in asterisk-form. Cost: none in origin-form (the parser noted where the
    /// query starts); a short scan of the target for the authority otherwise.
    @inlinable @inline(__always) public var pathBeforeQuery: UnsafeRawBufferPointer {
        targetForm == .origin ? targetBeforeQuery : pathBeforeQueryOfOtherForms()
    }

    /// `pathBeforeQuery` for absolute- and asterisk-form: `pathBytes` cut where the parser noted
    /// the query starts (the first `?` of the target is never in its scheme or authority).
    @usableFromInline
    func pathBeforeQueryOfOtherForms() -> UnsafeRawBufferPointer {
        let path = pathBytes
        guard queryStart >= 0, let pathStart = path.baseAddress else { return path }
        let queryOffset = base + Int(queryStart) - pathStart  // where the `?` is in `path`
        return UnsafeRawBufferPointer(rebasing: path[..<min(max(queryOffset, 0), path.count)])
    }

    /// The method as a String. Allocates unless it is at most 15 bytes (all standard ones are).
    public var methodString: String { String(decoding: methodBytes, as: UTF8.self) }
    /// The request-target as a String. Allocates when longer than 15 bytes.
    public var targetString: String { String(decoding: targetBytes, as: UTF8.self) }

    /// What the response must say about the connection: `.close` unless `keepAlive`;
    /// `.keepAliveHTTP10` for an HTTP/1.0 keep-alive request. Cost: none.
    @inlinable
    public var persistence: HTTPConnectionPersistence {
        if !keepAlive { return .close }
        return version.hasHTTP11Semantics ? .keepAlive : .keepAliveHTTP10
    }

    @inlinable
    func slice(_ start: Int32, _ end: Int32) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + Int(start), count: Int(end - start))
    }

    /// (authority, path-and-query) of an absolute-form target `scheme://authority[/path][?query]`.
    func splitAbsoluteTarget() -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer) {
        let t = targetBytes
        var i = 0
        while i < t.count && t[i] != ASCII.colon { i += 1 }
        let authorityStart = i + 3  // the parser checked "://"
        var j = authorityStart
        while j < t.count && t[j] != ASCII.slash && t[j] != ASCII.question { j += 1 }
        return (UnsafeRawBufferPointer(rebasing: t[authorityStart..<j]), UnsafeRawBufferPointer(rebasing: t[j...]))
    }
}

/// `memcmp(a, b, n) == 0` without importing libc here.
@inlinable
func memcmpEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
    for k in 0..<n where a.load(fromByteOffset: k, as: UInt8.self) != b.load(fromByteOffset: k, as: UInt8.self) {
        return false
    }
    return true
}
