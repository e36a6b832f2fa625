// 200 clients on 200 threads, each on its own connection, POST a todo at once to a live server
// with two workers: every one is answered 201 with its own id, and the table has 200 rows.
import Dispatch
import Foundation
import Spindle
import SpindleTestSupport
import TodoApp
import XCTest

final class TodoConcurrentWritersTests: XCTestCase {
    func testTwoHundredConcurrentWritersLoseNothing() throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 2
        let server = Server(router: TodoRoutes.router(store: database.store), configuration: configuration)
        let port = try server.start().port
        defer {
            server.stop()
            server.wait()
        }

        let writers = 200
        let results = Locked<[Int: Result<(status: Int, body: String), any Error>]>([:])
        let ready = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        let finished = DispatchGroup()
        for n in 0..<writers {
            ready.enter()
            finished.enter()
            let thread = Thread {
                let json = #"{"title":"writer \#(n)"}"#
                let request = "POST /todos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n\(json)"
                ready.leave()
                start.wait()  // all threads exist before any sends
                let result = Result { try exchangeOnNewConnection(port: port, request) }
                results.withLock { $0[n] = result }
                finished.leave()
            }
            thread.stackSize = 256 << 10
            thread.start()
        }
        XCTAssertEqual(ready.wait(timeout: .now() + 30), .success)
        for _ in 0..<writers { start.signal() }
        XCTAssertEqual(finished.wait(timeout: .now() + 60), .success, "every writer got an answer within 60 s")

        var ids = Set<Int64>()
        for (n, result) in results.current.sorted(by: { $0.key < $1.key }) {
            switch result {
            case .success(let (status, body)):
                XCTAssertEqual(status, 201, "writer \(n): \(body)")
                if let todo = try? TodoJSON.decoder().decode(Todo.self, from: Data(body.utf8)) {
                    XCTAssertEqual(todo.title, "writer \(n)")
                    ids.insert(todo.id)
                }
            case .failure(let error):
                XCTFail("writer \(n): \(error)")
            }
        }
        XCTAssertEqual(results.current.count, writers)
        XCTAssertEqual(ids.count, writers, "each writer got its own id")
        XCTAssertEqual(try database.store.count(), writers, "no row lost")
        XCTAssertEqual(Set(try database.store.list(done: nil, limit: 100, offset: 0).todos.map(\.title)).count, 100)
    }
}
