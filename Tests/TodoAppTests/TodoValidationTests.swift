// What the todo API refuses in a body, as a table: 422 naming the field (wrong type, empty or
// too long title, unknown or server-set fields), 400 for what is not a JSON object; nothing
// refused is stored.
import Foundation
import HTTPTypes
import SpindleTesting
import TodoApp
import XCTest

final class TodoValidationTests: XCTestCase {
    private var database: TemporaryDatabase!

    override func setUpWithError() throws { database = try TemporaryDatabase() }
    override func tearDown() { database.remove() }

    private struct Case {
        let body: String
        let status: HTTPResponse.Status
        /// The field the 422 names (nil for a 400).
        let field: String?
        /// Part of the reason or error text.
        let says: String
    }

    private static let longTitle = String(repeating: "é", count: TodoInput.maxTitleLength + 1)

    /// Refused by POST /todos.
    private static let creationCases: [Case] = [
        Case(body: "{}", status: .unprocessableContent, field: "title", says: "required"),
        Case(body: #"{"title":""}"#, status: .unprocessableContent, field: "title", says: "must not be empty"),
        Case(body: #"{"title":"   \n\t "}"#, status: .unprocessableContent, field: "title", says: "must not be empty"),
        Case(body: "{\"title\":\"\(longTitle)\"}", status: .unprocessableContent, field: "title", says: "at most 200 characters"),
        Case(body: #"{"title":42}"#, status: .unprocessableContent, field: "title", says: "not a number"),
        Case(body: #"{"title":true}"#, status: .unprocessableContent, field: "title", says: "not a boolean"),
        Case(body: #"{"title":null}"#, status: .unprocessableContent, field: "title", says: "not null"),
        Case(body: #"{"title":["a"]}"#, status: .unprocessableContent, field: "title", says: "not an array"),
        Case(body: #"{"title":{"text":"a"}}"#, status: .unprocessableContent, field: "title", says: "not an object"),
        Case(body: #"{"title":"ok","done":"yes"}"#, status: .unprocessableContent, field: "done", says: "not a string"),
        Case(body: #"{"title":"ok","done":1}"#, status: .unprocessableContent, field: "done", says: "not a number"),
        Case(body: #"{"title":"ok","done":null}"#, status: .unprocessableContent, field: "done", says: "not null"),
        Case(body: #"{"title":"ok","id":7}"#, status: .unprocessableContent, field: "id", says: "set by the server"),
        Case(body: #"{"title":"ok","createdAt":"2026-01-01T00:00:00Z"}"#, status: .unprocessableContent, field: "createdAt", says: "set by the server"),
        Case(body: #"{"title":"ok","priority":1}"#, status: .unprocessableContent, field: "priority", says: "not a field"),
        Case(body: #"{"zeta":1,"alpha":2}"#, status: .unprocessableContent, field: "alpha", says: "not a field"),
        Case(body: "", status: .badRequest, field: nil, says: "not valid JSON"),
        Case(body: #"{"title":"unterminated"#, status: .badRequest, field: nil, says: "not valid JSON"),
        Case(body: #"["title"]"#, status: .badRequest, field: nil, says: "JSON object"),
        Case(body: #""title""#, status: .badRequest, field: nil, says: "JSON object"),
    ]

    /// Refused by PATCH /todos/:id.
    private static let changeCases: [Case] = [
        Case(body: #"{"title":""}"#, status: .unprocessableContent, field: "title", says: "must not be empty"),
        Case(body: "{\"title\":\"\(longTitle)\"}", status: .unprocessableContent, field: "title", says: "at most 200 characters"),
        Case(body: #"{"title":null}"#, status: .unprocessableContent, field: "title", says: "not null"),
        Case(body: #"{"done":"true"}"#, status: .unprocessableContent, field: "done", says: "not a string"),
        Case(body: #"{"done":0}"#, status: .unprocessableContent, field: "done", says: "not a number"),
        Case(body: #"{"id":2}"#, status: .unprocessableContent, field: "id", says: "set by the server"),
        Case(body: "[]", status: .badRequest, field: nil, says: "JSON object"),
        Case(body: "nope", status: .badRequest, field: nil, says: "not valid JSON"),
    ]

    private func check(_ response: TestResponse, _ expected: Case, _ what: String) {
        XCTAssertEqual(response.status, expected.status, "\(what) \(expected.body.prefix(60)): \(response.bodyString)")
        XCTAssertEqual(response.headerFields[.contentType], "application/json", what)
        let fields = response.errorFields
        XCTAssertEqual(fields["field"], expected.field, "\(what) \(expected.body.prefix(60))")
        let text = (fields["reason"] ?? "") + " " + (fields["error"] ?? "")
        XCTAssertTrue(text.contains(expected.says), "\(what) \(expected.body.prefix(60)): \(response.bodyString)")
    }

    func testRefusedCreationsNameTheFieldAndStoreNothing() throws {
        try inBothModes(database.store) { client, mode in
            for expected in Self.creationCases {
                check(try client.send(.post, "/todos", json: expected.body), expected, "POST (\(mode))")
            }
        }
        XCTAssertEqual(try database.store.count(), 0)
    }

    func testRefusedChangesNameTheFieldAndChangeNothing() throws {
        let todo = try database.store.create(title: "unchanged")
        try inBothModes(database.store) { client, mode in
            for expected in Self.changeCases {
                check(try client.send(.patch, "/todos/\(todo.id)", json: expected.body), expected, "PATCH (\(mode))")
            }
        }
        XCTAssertEqual(try database.store.find(id: todo.id), todo)
    }

    func testTheLongestTitleAndUnicodeAreAccepted() throws {
        let longest = String(repeating: "é", count: TodoInput.maxTitleLength)
        try inBothModes(database.store) { client, _ in
            let created = try client.send(.post, "/todos", json: "{\"title\":\"\(longest)\",\"done\":true}")
            XCTAssertEqual(created.status, .created, created.bodyString)
            XCTAssertEqual(try created.decoded(as: Todo.self).title, longest)
            XCTAssertEqual(try created.decoded(as: Todo.self).done, true)
            let escaped = try client.send(.post, "/todos", json: #"{"title":"caf\u00e9 \"quoted\" 🍵"}"#)
            XCTAssertEqual(try escaped.decoded(as: Todo.self).title, "café \"quoted\" 🍵")
        }
    }
}
