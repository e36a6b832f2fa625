// Helpers of the todo tests: a store in a fresh temporary file, JSON requests and responses,
// and a plain blocking client for the concurrent writers.
import Foundation
import HTTPTypes
import Spindle
import SpindleTestSupport
import SpindleTesting
import TodoApp
import XCTest

/// A `TodoStore` on a new file in the temporary directory, removed (with its WAL files) by
/// `remove()`.
final class TemporaryDatabase {
    let path: String
    let store: TodoStore

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("todo-test-\(getpid())-\(UUID().uuidString).sqlite").path
        store = try TodoStore(path: path)
    }

    func remove() {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}

extension HTTPTestClient {
    /// `method target` with `json` as an `application/json` body.
    func send(_ method: HTTPRequest.Method, _ target: String, json: String) throws -> TestResponse {
        try execute(method, target, headers: [.contentType: "application/json"], body: Array(json.utf8))
    }
}

extension TestResponse {
    /// The body decoded as the API encodes it (ISO-8601 dates).
    func decoded<T: Decodable>(as type: T.Type = T.self, file: StaticString = #filePath, line: UInt = #line) throws -> T {
        do {
            return try TodoJSON.decoder().decode(T.self, from: Data(body))
        } catch {
            XCTFail("\(status.code) body is not a \(T.self): \(bodyString)", file: file, line: line)
            throw error
        }
    }

    /// The body as a JSON object of strings (the error bodies).
    var errorFields: [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(body))) ?? [:]
    }
}

/// The todo router over `store` served in both modes, one after the other.
func inBothModes(_ store: TodoStore, _ body: (HTTPTestClient, TestMode) throws -> Void) throws {
    for mode in [TestMode.inMemory, .live] {
        try TodoRoutes.router(store: store).test(mode) { client in try body(client, mode) }
    }
}

/// One request on a new connection to 127.0.0.1:`port` (`Connection: close`), on the calling
/// thread with plain blocking sockets: the status code and the body.
func exchangeOnNewConnection(port: Int, _ request: String) throws -> (status: Int, body: String) {
    let handle = FileHandle(fileDescriptor: try connectToLoopback(port: port, timeoutSeconds: 30), closeOnDealloc: true)
    try sendAll(fd: handle.fileDescriptor, Array(request.utf8))
    let received = try handle.readToEnd() ?? Data()  // the server closes after the response
    let text = String(decoding: received, as: UTF8.self)
    guard let headEnd = text.range(of: "\r\n\r\n"), text.hasPrefix("HTTP/1.1 "),
          let status = Int(text.dropFirst(9).prefix(3)) else {
        throw TestFailure("no response: \(text.prefix(200))")
    }
    return (status, String(text[headEnd.upperBound...]))
}
