// The curl command lines README.md shows for the todo example, run as written (but for the
// port) against the app on a live server with a new database, and what they print checked.
import Foundation
import Spindle
import SpindleTestSupport
import TodoApp
import XCTest

final class TodoReadmeTests: XCTestCase {
    func testTheReadmeCommandLinesWork() throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let server = Server(router: TodoRoutes.router(store: database.store), configuration: ServerConfiguration(host: "127.0.0.1", port: 0))
        let port = try server.start().port
        defer {
            server.stop()
            server.wait()
        }
        let outputs = try ReadmeCommands.runCurlLines(section: "### todo", expecting: 3, port: port)
        let decoder = TodoJSON.decoder()
        let created = try decoder.decode(Todo.self, from: Data(outputs[0].utf8))
        XCTAssertEqual([created.id, created.done ? 1 : 0], [1, 0], outputs[0])
        XCTAssertEqual(created.title, "Buy milk")
        let changed = try decoder.decode(Todo.self, from: Data(outputs[1].utf8))
        XCTAssertEqual(changed, Todo(id: 1, title: "Buy milk", done: true, createdAt: created.createdAt), outputs[1])
        let page = try decoder.decode(TodoPage.self, from: Data(outputs[2].utf8))
        XCTAssertEqual(page, TodoPage(todos: [changed], total: 1, limit: 10, offset: 0), outputs[2])
    }
}
