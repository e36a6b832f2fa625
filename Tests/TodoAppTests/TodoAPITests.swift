// The todo API's CRUD through SpindleTesting, the same assertions in memory and live: create,
// read, change, delete, the 404s of a missing id, and the body's media type and size.
import Foundation
import HTTPTypes
import Spindle
import SpindleTesting
import TodoApp
import XCTest

final class TodoAPITests: XCTestCase {
    private var database: TemporaryDatabase!

    override func setUpWithError() throws { database = try TemporaryDatabase() }
    override func tearDown() { database.remove() }

    func testCreateReadUpdateDeleteInBothModes() throws {
        try inBothModes(database.store) { client, mode in
            let before = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
            let created = try client.send(.post, "/todos", json: #"{"title":"  Buy milk  "}"#)
            XCTAssertEqual(created.status, .created, "\(mode): \(created.bodyString)")
            XCTAssertEqual(created.headerFields[.contentType], "application/json")
            let todo: Todo = try created.decoded()
            XCTAssertEqual(todo.title, "Buy milk", "the title is stored trimmed")
            XCTAssertFalse(todo.done)
            XCTAssertGreaterThanOrEqual(todo.createdAt, before)
            XCTAssertLessThanOrEqual(todo.createdAt, Date())
            XCTAssertEqual(created.headerFields[.location], "/todos/\(todo.id)")
            XCTAssertTrue(created.bodyString.contains(#""createdAt":""#), created.bodyString)
            XCTAssertNotNil(ISO8601DateFormatter().date(from: try XCTUnwrap(
                (try JSONSerialization.jsonObject(with: Data(created.body)) as? [String: Any])?["createdAt"] as? String)),
                "createdAt is an ISO-8601 string")

            let fetched = try client.get("/todos/\(todo.id)")
            XCTAssertEqual(fetched.status, .ok)
            XCTAssertEqual(try fetched.decoded(as: Todo.self), todo, "\(mode)")

            let renamed = try client.send(.patch, "/todos/\(todo.id)", json: #"{"title":"Buy oat milk"}"#)
            XCTAssertEqual(renamed.status, .ok, renamed.bodyString)
            XCTAssertEqual(try renamed.decoded(as: Todo.self), Todo(id: todo.id, title: "Buy oat milk", done: false, createdAt: todo.createdAt))
            let finished = try client.send(.patch, "/todos/\(todo.id)", json: #"{"done":true}"#)
            XCTAssertEqual(try finished.decoded(as: Todo.self).done, true)
            let both = try client.send(.patch, "/todos/\(todo.id)", json: #"{"title":"Milk","done":false}"#)
            XCTAssertEqual(try both.decoded(as: Todo.self), Todo(id: todo.id, title: "Milk", done: false, createdAt: todo.createdAt))
            let nothing = try client.send(.patch, "/todos/\(todo.id)", json: "{}")
            XCTAssertEqual(try nothing.decoded(as: Todo.self).title, "Milk", "an empty patch changes nothing")
            XCTAssertEqual(try database.store.find(id: todo.id)?.title, "Milk", "the change is in the database")

            let deleted = try client.execute(.delete, "/todos/\(todo.id)")
            XCTAssertEqual(deleted.status, .noContent)
            XCTAssertEqual(deleted.body, [])
            XCTAssertNil(try database.store.find(id: todo.id))
        }
    }

    func testAMissingIdIsNotFoundForEveryMethod() throws {
        try inBothModes(database.store) { client, mode in
            let kept: Todo = try client.send(.post, "/todos", json: #"{"title":"kept"}"#).decoded()
            for target in ["/todos/\(kept.id + 1000)", "/todos/0", "/todos/-1", "/todos/abc", "/todos/99999999999999999999"] {
                let get = try client.get(target)
                XCTAssertEqual(get.status, .notFound, "GET \(target) (\(mode))")
                XCTAssertTrue(get.errorFields["error"]?.hasSuffix("not found") == true, get.bodyString)
                XCTAssertEqual(try client.send(.patch, target, json: #"{"done":true}"#).status, .notFound, "PATCH \(target)")
                XCTAssertEqual(try client.execute(.delete, target).status, .notFound, "DELETE \(target)")
            }
            XCTAssertEqual(try client.execute(.delete, "/todos/\(kept.id)").status, .noContent)
            XCTAssertEqual(try client.execute(.delete, "/todos/\(kept.id)").status, .notFound, "deleting twice")
        }
    }

    func testTheBodyMustBeJSONAndSmall() throws {
        try inBothModes(database.store) { client, mode in
            let noType = try client.post("/todos", body: #"{"title":"x"}"#)
            XCTAssertEqual(noType.status, .unsupportedMediaType, "\(mode)")
            let form = try client.post("/todos", headers: [.contentType: "application/x-www-form-urlencoded"], body: "title=x")
            XCTAssertEqual(form.status, .unsupportedMediaType)
            let withCharset = try client.post("/todos", headers: [.contentType: "Application/JSON; charset=utf-8"], body: #"{"title":"x"}"#)
            XCTAssertEqual(withCharset.status, .created, "media type parameters and case do not matter")
            let large = #"{"title":"x","pad":""# + String(repeating: "p", count: TodoInput.maxBodyBytes) + #""}"#
            XCTAssertEqual(try client.send(.post, "/todos", json: large).status, .contentTooLarge)
        }
        XCTAssertEqual(try database.store.count(), 2, "only the two application/json todos were stored")
    }
}
