import Foundation

/// A new todo as `POST /todos` sends it, validated: `{"title":"Buy milk"}`, optionally with
/// `"done": true`.
public struct NewTodo: Equatable, Sendable {
    /// The title, trimmed.
    public let title: String
    /// Whether it starts done (false unless sent).
    public let done: Bool
}

/// What `PATCH /todos/:id` changes: the fields sent (an empty object changes nothing).
public struct TodoChanges: Equatable, Sendable {
    /// The new title, trimmed, or nil to keep it.
    public var title: String?
    /// The new state, or nil to keep it.
    public var done: Bool?

    /// Changes of `title` and/or `done`.
    public init(title: String? = nil, done: Bool? = nil) {
        self.title = title
        self.done = done
    }
}

/// Reading and validating the API's request bodies. A body must be a JSON object (else
/// `400`); each of its fields is checked in a fixed order (unknown fields by name, then
/// `title`, then `done`) and the first one refused is answered `422` naming it:
///
/// | field | accepted |
/// |---|---|
/// | `title` | a string, 1…`maxTitleLength` characters once trimmed of whitespace; required by `POST` |
/// | `done` | `true` or `false` |
/// | anything else | nothing (`id` and `createdAt` are the server's) |
///
/// Cost: Foundation's `JSONDecoder` over the body (allocates the parsed values).
public enum TodoInput {
    /// The longest title accepted, in characters (grapheme clusters) after trimming.
    public static let maxTitleLength = 200
    /// The largest request body the API reads; a larger one is answered `413`.
    public static let maxBodyBytes = 16 << 10

    /// The new todo in `body`, or the `APIError` to answer.
    public static func newTodo(from body: [UInt8]) throws(APIError) -> NewTodo {
        let fields = try object(body)
        guard let title = fields["title"] else { throw .invalidField("title", "required") }
        return NewTodo(title: try validTitle(title), done: try fields["done"].map(validDone) ?? false)
    }

    /// The changes in `body`, or the `APIError` to answer.
    public static func changes(from body: [UInt8]) throws(APIError) -> TodoChanges {
        let fields = try object(body)
        return TodoChanges(title: try fields["title"].map(validTitle), done: try fields["done"].map(validDone))
    }

    /// The body's fields, having refused a body that is not a JSON object and unknown fields.
    private static func object(_ body: [UInt8]) throws(APIError) -> [String: JSONValue] {
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(body))
        } catch {
            throw .badRequest("the body is not valid JSON")
        }
        guard case .object(let fields) = value else { throw .badRequest("the body must be a JSON object") }
        if let unknown = fields.keys.filter({ $0 != "title" && $0 != "done" }).min() {
            let reason = unknown == "id" || unknown == "createdAt" ? "is set by the server" : "is not a field of a todo (title, done)"
            throw .invalidField(unknown, reason)
        }
        return fields
    }

    private static func validTitle(_ value: JSONValue) throws(APIError) -> String {
        guard case .string(let raw) = value else { throw .invalidField("title", "must be a string, not \(value.kind)") }
        let title = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty else { throw .invalidField("title", "must not be empty") }
        guard title.count <= maxTitleLength else {
            throw .invalidField("title", "must be at most \(maxTitleLength) characters")
        }
        return title
    }

    private static func validDone(_ value: JSONValue) throws(APIError) -> Bool {
        guard case .bool(let done) = value else { throw .invalidField("done", "must be true or false, not \(value.kind)") }
        return done
    }
}

/// Any JSON value, as the decoder found it: what lets validation say "a number" where a
/// string was expected instead of failing the whole document.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// The value's kind, for messages: "null", "a boolean", "a number", …
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
