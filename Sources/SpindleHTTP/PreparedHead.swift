import HTTPTypes

/// A response head kept whole for reuse: the bytes `HTTPResponseWriter` wrote for a status, a
/// shared field set, a `Content-Length`, a persistence and the date's second, copied again as
/// they are while all of those are the same. One per writer; it holds the last head only, so a
/// route answering alike responses in a row (a health check, a constant page, a benchmark)
/// writes each head with one copy instead of a status line, field lines, the date, a decimal
/// and the framing.
///
/// Only heads made entirely of what the key names are kept: the status line (code and reason
/// phrase), field lines given as a `StaticString` (identified by their address: a static
/// string's bytes never change), `Date` (a function of the second), `Content-Length` and the
/// persistence's `Connection` field.
struct PreparedHead {
    /// Everything a kept head was made of.
    struct Key {
        /// The status code.
        var code: Int
        /// The status's reason phrase.
        var reason: String
        /// The field lines' bytes (a `StaticString`'s, which never change) and their count.
        var fieldLines: UnsafePointer<UInt8>
        var fieldLinesCount: Int
        /// The `Content-Length`.
        var length: Int
        /// Which `Connection` field, if any, and whether the connection closes after it.
        var persistence: HTTPConnectionPersistence
        /// The second of the `Date` line.
        var second: Int

        /// Whether this names the head of `status` with the field lines at `fieldLines`
        /// (`fieldLinesCount` bytes), `length`, `persistence` and `second`. The reason compares
        /// by its bits first (a short reason, or the same string, is equal without reading its
        /// bytes). Takes the parts rather than a second key: building one would copy (retain)
        /// the reason and destroy it again, for every response.
        @inline(__always)
        func matches(_ status: HTTPResponse.Status, fieldLines: UnsafePointer<UInt8>, fieldLinesCount: Int,
                     length: Int, persistence: HTTPConnectionPersistence, second: Int) -> Bool {
            code == status.code && self.length == length && self.fieldLines == fieldLines && self.second == second
                && self.fieldLinesCount == fieldLinesCount && self.persistence == persistence
                && reason == status.reasonPhrase
        }
    }

    /// The longest head kept; a longer one (a long custom reason phrase) is written each time.
    static let capacity = 256

    private var key: Key? = nil
    private var storage: [UInt8] = []
    private var closes = false

    /// Whether the head kept is the one the arguments name (see `Key.matches`): then whether it
    /// closes the connection (the writer's return value), else nil. Cost: a few comparisons.
    @inline(__always)
    func closes(for status: HTTPResponse.Status, fieldLines: UnsafePointer<UInt8>, fieldLinesCount: Int,
                length: Int, persistence: HTTPConnectionPersistence, second: Int) -> Bool? {
        guard key?.matches(status, fieldLines: fieldLines, fieldLinesCount: fieldLinesCount, length: length,
                           persistence: persistence, second: second) == true else { return nil }
        return closes
    }

    /// Calls `body` with the kept head's bytes.
    @inline(__always)
    func withBytes(_ body: (UnsafeRawBufferPointer) -> Void) {
        storage.withUnsafeBytes(body)
    }

    /// Keeps `bytes`, the head `key` names, which closes the connection when `closes`.
    /// Allocates the storage once (`capacity` bytes); a head longer than that is not kept.
    mutating func remember(_ bytes: UnsafeRawBufferPointer, closes: Bool, for key: Key) {
        guard bytes.count <= Self.capacity else {
            self.key = nil
            return
        }
        if storage.capacity < Self.capacity { storage.reserveCapacity(Self.capacity) }
        storage.removeAll(keepingCapacity: true)
        storage.append(contentsOf: bytes)
        self.closes = closes
        self.key = key
    }
}
