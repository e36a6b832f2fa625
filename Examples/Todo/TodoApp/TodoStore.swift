import Foundation
import GRDB

/// The todos in one SQLite database file, through a GRDB `DatabasePool` (WAL mode: reads run
/// beside the one writer; writes are serialized by GRDB, never refused as busy).
///
/// Every method **blocks the calling thread** on SQLite: call them through `context.offload`
/// (or `Fiber.offload`) from a handler, so the worker thread keeps serving its other fibers
/// while the offload pool's thread waits on the database. `TodoStore` is `Sendable`: any
/// thread may call it at any time.
public final class TodoStore: Sendable {
    /// The database file's path.
    public let path: String
    private let pool: DatabasePool

    /// `todo.sqlite` in the system's temporary directory (`$TMPDIR`, else `/tmp`).
    public static var defaultPath: String {
        FileManager.default.temporaryDirectory.appendingPathComponent("todo.sqlite").path
    }

    /// Opens (creating it if needed) the database at `path` and migrates it to the current
    /// schema (`TodoStore.migrator`; a migration already applied is not run again). Blocks
    /// while SQLite opens and migrates: call it at startup, not in a handler. Throws GRDB's
    /// `DatabaseError` (or a file error) when the file cannot be opened or migrated.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    /// The schema's history, applied in order by `init(path:)`.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: create todo") { db in
            try db.create(table: Todo.databaseTableName) { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("title", .text).notNull()
                table.column("done", .boolean).notNull().defaults(to: false)
                table.column("createdAt", .datetime).notNull()
            }
            try db.create(index: "todo_on_done", on: Todo.databaseTableName, columns: ["done", "id"])
        }
        return migrator
    }

    /// The migrations applied to this database, oldest first. Blocks on SQLite.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Self.migrator.appliedMigrations(db) }
    }

    /// Inserts a todo and returns it as stored (with its id and creation time). Blocks on the
    /// database's single writer. `title` must be valid already (`TodoInput`).
    public func create(title: String, done: Bool = false) throws -> Todo {
        let createdAt = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        return try pool.write { db in
            try db.execute(sql: "INSERT INTO todo (title, done, createdAt) VALUES (?, ?, ?)",
                           arguments: [title, done, createdAt])
            return Todo(id: db.lastInsertedRowID, title: title, done: done, createdAt: createdAt)
        }
    }

    /// A page of todos in id order, and how many match `done` (nil: all) in total. Blocks on
    /// a reader (concurrent with writes). Allocates the page.
    public func list(done: Bool?, limit: Int, offset: Int) throws -> (todos: [Todo], total: Int) {
        try pool.read { db in
            var request = Todo.all()
            if let done { request = request.filter(TodoColumn.done == done) }
            let total = try request.fetchCount(db)
            let todos = try request.order(TodoColumn.id).limit(limit, offset: offset).fetchAll(db)
            return (todos, total)
        }
    }

    /// The todo with `id`, or nil. Blocks on a reader.
    public func find(id: Int64) throws -> Todo? {
        try pool.read { db in try Todo.fetchOne(db, key: id) }
    }

    /// Applies `changes` to the todo with `id` and returns it as stored, or nil when there is
    /// none. Blocks on the writer (one transaction: the read and the update together).
    public func update(id: Int64, with changes: TodoChanges) throws -> Todo? {
        try pool.write { db in
            guard var todo = try Todo.fetchOne(db, key: id) else { return nil }
            if let title = changes.title { todo.title = title }
            if let done = changes.done { todo.done = done }
            try todo.update(db)
            return todo
        }
    }

    /// Deletes the todo with `id`; false when there was none. Blocks on the writer.
    public func delete(id: Int64) throws -> Bool {
        try pool.write { db in try Todo.deleteOne(db, key: id) }
    }

    /// How many todos there are. Blocks on a reader.
    public func count() throws -> Int {
        try pool.read { db in try Todo.fetchCount(db) }
    }
}
