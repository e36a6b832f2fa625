// A type that writes its own JSON (`JSONWritable`): `.json` sends it without `Encodable`'s
// dispatch. The program checks that the text is the one the type's `Encodable` conformance
// gives, and prints "same text".

import Foundation
import Spindle
import SpindleJSON

// snippet.type
struct Todo: JSONWritable {          // still Encodable: the conformance is synthesized
    let id: Int
    let title: String
    let due: Date?
    let tags: [String]

    func writeJSON(to json: inout JSONWriter) throws {
        try json.writeObject { object in
            object.write("id", id)
            object.write("title", title)
            try object.writeIfPresent("due", due.map(\.timeIntervalSinceReferenceDate))
            try object.write("tags", tags)
        }
    }
}

let todos = [1: Todo(id: 1, title: "write the guide", due: Date(timeIntervalSinceReferenceDate: 8.25e8), tags: ["docs"]),
             2: Todo(id: 2, title: "read it", due: nil, tags: [])]
let router = Router<Handler>()
router.get("/todos/:id") { _, context in
    guard let todo = todos[try context.parameters.require("id", as: Int.self)] else { throw HTTPError(.notFound, "no such todo") }
    return try .json(todo)           // Todo is JSONWritable: written by writeJSON
}
// snippet.check
func encodeAsCodable<T: Encodable>(_ value: T) throws -> [UInt8] {
    try StreamingJSONEncoder().encode(value)   // generic over Encodable: through encode(to:)
}

for todo in todos.values {
    let written = try StreamingJSONEncoder().encode(todo)   // Todo is JSONWritable: through writeJSON
    let encoded = try encodeAsCodable(todo)
    precondition(written == encoded, "writeJSON and Encodable differ")
}
print("same text")
