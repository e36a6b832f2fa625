import Foundation
import GRDB

/// One todo as stored in the `todo` table and as the API answers it:
/// `{"createdAt":"2026-12-03T10:15:00Z","done":false,"id":1,"title":"Buy milk"}` (the date in
/// ISO-8601, UTC, whole seconds; see `TodoJSON`). A plain value: copying it allocates nothing
/// beyond the title's storage.
public struct Todo: Codable, Equatable, Sendable, FetchableRecord, PersistableRecord {
    /// The row id SQLite assigned (1, 2, …; never reused: the table is AUTOINCREMENT).
    public var id: Int64
    /// What to do: 1…`TodoInput.maxTitleLength` characters, trimmed of surrounding whitespace.
    public var title: String
    /// Whether it is done.
    public var done: Bool
    /// When it was created, to the whole second.
    public var createdAt: Date

    /// A todo with these values (the store makes them; tests compare with them).
    public init(id: Int64, title: String, done: Bool, createdAt: Date) {
        self.id = id
        self.title = title
        self.done = done
        self.createdAt = createdAt
    }

    /// The table's name (GRDB's `TableRecord`).
    public static let databaseTableName = "todo"
}

/// The `todo` table's columns that queries filter and order by.
enum TodoColumn {
    static let id = Column("id")
    static let done = Column("done")
}
