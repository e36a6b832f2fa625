// The curl command lines README.md shows for the todo example, run as written (but for the
// port) against the app on a live server with a new database, and what they print checked.
import Foundation
import Spindle
import SpindleTestSupport
import TodoApp
import XCTest

final class TodoReadmeTests: XCTestCase {
    func testTheReadmeCommandLinesWork() throws {
        let commands = try ReadmeCommands.curlLines(section: "### todo")
        XCTAssertEqual(commands.count, 3, "\(commands)")
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let server = Server(router: TodoRoutes.router(store: database.store), configuration: ServerConfiguration(host: "127.0.0.1", port: 0))
        let port = try server.start().port
        defer {
            server.stop()
            server.wait()
        }
        var outputs: [String] = []
        for command in commands {
            XCTAssertTrue(command.contains("127.0.0.1:8080"), command)
            let (status, output) = try ReadmeCommands.run(command.replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:\(port)"))
            XCTAssertEqual(status, 0, "\(command) exited \(status)")
            outputs.append(output)
        }
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
