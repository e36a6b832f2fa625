import SpindleHTTP

/// What `GET /todos` asks for: `?done=true|false` filters, `?limit=&offset=` pages (in id
/// order). Anything else in the query is ignored.
public struct TodoListQuery: Equatable, Sendable {
    /// Only todos in this state (nil: all).
    public var done: Bool?
    /// At most this many, 1…`maxLimit` (default `defaultLimit`).
    public var limit: Int
    /// After skipping this many, 0…`maxOffset` (default 0).
    public var offset: Int

    /// The page size when none is asked for.
    public static let defaultLimit = 50
    /// The largest page.
    public static let maxLimit = 100
    /// The largest offset (beyond, SQLite would scan that many rows for nothing).
    public static let maxOffset = 1_000_000

    /// A query with these values (not checked).
    public init(done: Bool? = nil, limit: Int = TodoListQuery.defaultLimit, offset: Int = 0) {
        self.done = done
        self.limit = limit
        self.offset = offset
    }

    /// Reads the query's `done`, `limit` and `offset` (the first of each when repeated).
    /// Throws `APIError` `400` naming the parameter and what it accepts for anything else,
    /// including numbers out of range or too long to convert. Cost: a few short strings.
    public init(_ parameters: QueryParameters) throws(APIError) {
        self.init()
        if let raw = parameters.first("done") {
            switch raw {
            case "true": done = true
            case "false": done = false
            default: throw .badRequest("done must be true or false")
            }
        }
        if let raw = parameters.first("limit") {
            guard let limit = Int(raw), (1...Self.maxLimit).contains(limit) else {
                throw .badRequest("limit must be an integer from 1 to \(Self.maxLimit)")
            }
            self.limit = limit
        }
        if let raw = parameters.first("offset") {
            guard let offset = Int(raw), (0...Self.maxOffset).contains(offset) else {
                throw .badRequest("offset must be an integer from 0 to \(Self.maxOffset)")
            }
            self.offset = offset
        }
    }
}
