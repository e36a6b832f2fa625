// The store on its own: the migration runs on first open only, and what was stored is there
// when the file is opened again.
import Foundation
import TodoApp
import XCTest

final class TodoStoreTests: XCTestCase {
    func testTheMigrationRunsOnceAndTheDataOutlivesTheStore() throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        XCTAssertTrue(FileManager.default.fileExists(atPath: database.path), "the file is created on first open")
        XCTAssertEqual(try database.store.appliedMigrations(), ["v1: create todo"])
        let kept = try database.store.create(title: "survives", done: true)

        let reopened = try TodoStore(path: database.path)
        XCTAssertEqual(try reopened.appliedMigrations(), ["v1: create todo"], "not applied twice")
        XCTAssertEqual(try reopened.find(id: kept.id), kept)
        let next = try reopened.create(title: "next")
        XCTAssertEqual(next.id, kept.id + 1)
    }

    func testIdsAreNotReusedAfterADelete() throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let first = try database.store.create(title: "first")
        let second = try database.store.create(title: "second")
        XCTAssertTrue(try database.store.delete(id: second.id))
        XCTAssertFalse(try database.store.delete(id: second.id))
        XCTAssertEqual(try database.store.create(title: "third").id, second.id + 1)
        XCTAssertEqual(try database.store.list(done: nil, limit: 10, offset: 0).todos.map(\.id), [first.id, second.id + 1])
    }

    func testTheDefaultPathIsTodoSqliteInTheTemporaryDirectory() {
        XCTAssertEqual(URL(fileURLWithPath: TodoStore.defaultPath).lastPathComponent, "todo.sqlite")
        XCTAssertEqual(URL(fileURLWithPath: TodoStore.defaultPath).deletingLastPathComponent().standardizedFileURL.path,
                       FileManager.default.temporaryDirectory.standardizedFileURL.path)
    }
}
