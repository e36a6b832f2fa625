import HTTPTypes
import Spindle

/// The todo API's routes:
///
/// | route | answer |
/// |---|---|
/// | `POST /todos` `{"title":…}` | `201` with the stored `Todo` and its `Location` |
/// | `GET /todos?done=&limit=&offset=` | `200` with a `TodoPage` (`400` for a bad parameter) |
/// | `GET /todos/:id` | `200` with the `Todo` |
/// | `PATCH /todos/:id` `{"title":…,"done":…}` | `200` with the `Todo` as changed |
/// | `DELETE /todos/:id` | `204` |
///
/// A missing id is `404`, a body that fails validation `422` naming the field, a body that is
/// not JSON `400`, another media type than `application/json` `415` (`APIError`, as JSON). Each
/// handler reads its body, then runs its database call on the offload pool
/// (`context.offload`), parking its fiber, never the worker thread.
public enum TodoRoutes {
    /// A router with the API's routes and no middleware.
    public static func router(store: TodoStore) -> Router<Handler> {
        let router = Router<Handler>()
        add(to: router, store: store)
        return router
    }

    /// Adds the API's routes to `router` (before it serves: routes are added at startup).
    public static func add(to router: Router<Handler>, store: TodoStore) {
        router.post("/todos") { request, context in
            try answeringAPIErrors {
                let new = try TodoInput.newTodo(from: try jsonBody(of: request))
                let todo = try context.offload { try store.create(title: new.title, done: new.done) }
                var response = TodoJSON.response(todo, status: .created)
                response.headerFields[.location] = "/todos/\(todo.id)"
                return response
            }
        }
        router.get("/todos") { request, context in
            try answeringAPIErrors {
                let query = try TodoListQuery(try request.queryParameters)
                let (todos, total) = try context.offload { try store.list(done: query.done, limit: query.limit, offset: query.offset) }
                return TodoJSON.response(TodoPage(todos: todos, total: total, limit: query.limit, offset: query.offset))
            }
        }
        router.get("/todos/:id") { _, context in
            try answeringAPIErrors {
                let id = try todoID(context)
                guard let todo = try context.offload({ try store.find(id: id) }) else { throw APIError.notFound(id: String(id)) }
                return TodoJSON.response(todo)
            }
        }
        router.patch("/todos/:id") { request, context in
            try answeringAPIErrors {
                let id = try todoID(context)
                let changes = try TodoInput.changes(from: try jsonBody(of: request))
                guard let todo = try context.offload({ try store.update(id: id, with: changes) }) else {
                    throw APIError.notFound(id: String(id))
                }
                return TodoJSON.response(todo)
            }
        }
        router.delete("/todos/:id") { _, context in
            try answeringAPIErrors {
                let id = try todoID(context)
                guard try context.offload({ try store.delete(id: id) }) else { throw APIError.notFound(id: String(id)) }
                return Response(status: .noContent)
            }
        }
    }

    /// `body()`'s response, or the JSON response of the `APIError` it threw. Other errors go
    /// on to Spindle's `ErrorResponses`.
    static func answeringAPIErrors(_ body: () throws -> Response) throws -> Response {
        do { return try body() } catch let error as APIError { return error.response }
    }

    /// The `:id` parameter as a row id; `404` when it cannot be one (not a positive integer).
    static func todoID(_ context: Context) throws(APIError) -> Int64 {
        let raw = context.parameters["id"] ?? ""
        guard let id = Int64(raw), id > 0 else { throw .notFound(id: raw) }
        return id
    }

    /// The request body, after checking it is declared `application/json` (`415` otherwise).
    /// Parks while it arrives; at most `TodoInput.maxBodyBytes` (`413` beyond).
    static func jsonBody(of request: Request) throws -> [UInt8] {
        guard let contentType = request.header("content-type"), isJSON(contentType) else { throw APIError.unsupportedMediaType }
        return try request.body.readAll(maxBytes: TodoInput.maxBodyBytes)
    }

    /// Whether a `Content-Type` value's media type (before any `;`) is `application/json`, in any case.
    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces)
        return mediaType.lowercased() == "application/json"
    }
}

/// One page of `GET /todos`: the todos, and how many match the filter in all.
public struct TodoPage: Codable, Equatable, Sendable {
    /// The todos of this page, in id order.
    public let todos: [Todo]
    /// How many todos match the filter, across all pages.
    public let total: Int
    /// The page size asked for.
    public let limit: Int
    /// How many were skipped.
    public let offset: Int

    /// A page of `todos` out of `total`, as asked for with `limit` and `offset`.
    public init(todos: [Todo], total: Int, limit: Int, offset: Int) {
        self.todos = todos
        self.total = total
        self.limit = limit
        self.offset = offset
    }
}
