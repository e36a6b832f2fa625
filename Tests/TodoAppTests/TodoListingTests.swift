// GET /todos: the done filter, paging in id order with the total, and 400 for parameters out of
// their bounds, in both modes.
import Foundation
import HTTPTypes
import SpindleTesting
import TodoApp
import XCTest

final class TodoListingTests: XCTestCase {
    private var database: TemporaryDatabase!
    private var todos: [Todo] = []

    override func setUpWithError() throws {
        database = try TemporaryDatabase()
        // Seven todos, ids 1…7; the even ones done.
        todos = try (1...7).map { n in try database.store.create(title: "todo \(n)", done: n % 2 == 0) }
    }

    override func tearDown() { database.remove() }

    func testFiltersAndPages() throws {
        let done = todos.filter(\.done)
        let open = todos.filter { !$0.done }
        let cases: [(query: String, expected: [Todo], total: Int, limit: Int, offset: Int)] = [
            ("", todos, 7, 50, 0),
            ("?done=true", done, 3, 50, 0),
            ("?done=false", open, 4, 50, 0),
            ("?limit=3", Array(todos[0..<3]), 7, 3, 0),
            ("?limit=3&offset=3", Array(todos[3..<6]), 7, 3, 3),
            ("?limit=3&offset=6", Array(todos[6...]), 7, 3, 6),
            ("?offset=7", [], 7, 50, 7),
            ("?offset=1000000", [], 7, 50, 1_000_000),
            ("?done=false&limit=2&offset=1", Array(open[1..<3]), 4, 2, 1),
            ("?limit=100", todos, 7, 100, 0),
            ("?limit=1&limit=5", Array(todos[0..<1]), 7, 1, 0),
            ("?other=ignored", todos, 7, 50, 0),
        ]
        try inBothModes(database.store) { client, mode in
            for (query, expected, total, limit, offset) in cases {
                let response = try client.get("/todos" + query)
                XCTAssertEqual(response.status, .ok, "\(query) (\(mode)): \(response.bodyString)")
                let page: TodoPage = try response.decoded()
                XCTAssertEqual(page, TodoPage(todos: expected, total: total, limit: limit, offset: offset), "\(query) (\(mode))")
            }
        }
    }

    func testParametersOutOfBoundsAreBadRequests() throws {
        let cases: [(query: String, names: String)] = [
            ("?done=yes", "done"), ("?done=TRUE", "done"), ("?done=", "done"), ("?done=1", "done"),
            ("?limit=0", "limit"), ("?limit=101", "limit"), ("?limit=-1", "limit"), ("?limit=ten", "limit"),
            ("?limit=", "limit"), ("?limit=99999999999999999999999", "limit"), ("?limit=1.5", "limit"),
            ("?offset=-1", "offset"), ("?offset=1000001", "offset"), ("?offset=x", "offset"),
            ("?offset=9223372036854775808", "offset"),
        ]
        try inBothModes(database.store) { client, mode in
            for (query, name) in cases {
                let response = try client.get("/todos" + query)
                XCTAssertEqual(response.status, .badRequest, "\(query) (\(mode))")
                XCTAssertTrue(response.errorFields["error"]?.hasPrefix(name) == true, "\(query): \(response.bodyString)")
            }
        }
    }
}
