// hummingbird-peer: Hummingbird 2 serving the two routes every peer of `make -C bench peers`
// serves, on ONE event-loop thread that is also Swift concurrency's global executor (so route
// handlers and the connection tasks run on that thread too, as in a one-worker server):
//
//   GET /plaintext   "Hello, World!" (text/plain)
//   GET /json        {"message":"Hello, World!"} (application/json)
//
//   hummingbird-peer --port 8080 [--host 127.0.0.1]
import Hummingbird
import NIOPosix
import NIOCore

struct Message: ResponseEncodable { let message: String }

func option(_ name: String, default value: String) -> String {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return value }
    return arguments[index + 1]
}

let host = option("--host", default: "127.0.0.1")
guard let port = Int(option("--port", default: "8080")) else { fatalError("--port takes a number") }

// One NIO event loop, installed as the global executor before any task runs.
NIOSingletons.groupLoopCountSuggestion = 1
NIOSingletons.blockingPoolThreadCountSuggestion = 1
guard NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() else {
    fatalError("could not install the NIO event loop as Swift concurrency's global executor")
}

let plaintext = ByteBuffer(string: "Hello, World!")
let router = Router()
router.get("plaintext") { _, _ in
    Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: plaintext))
}
router.get("json") { _, _ in Message(message: "Hello, World!") }

let app = Application(
    router: router,
    configuration: .init(address: .hostname(host, port: port), serverName: "Hummingbird"),
    eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton)
)
print("hummingbird-peer: serving on http://\(host):\(port) (1 event-loop thread)")
try await app.runService()
