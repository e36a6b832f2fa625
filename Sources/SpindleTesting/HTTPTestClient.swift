import Dispatch
import HTTPTypes
import Logging
import Spindle

/// How `Router.test` serves the requests of a test.
public enum TestMode: Sendable {
    /// Without sockets: each request's bytes go through the real parser, the router (middleware,
    /// routes, error responses) and the real response writer, on an I/O worker of the test's
    /// own (one `Runtime` worker: handlers may read files, as `StaticFiles` does); the response
    /// bytes are read back. Fast, deterministic, no ports.
    case inMemory
    /// A real `Server` on 127.0.0.1 with port 0 (one worker unless the configuration says
    /// otherwise), and a blocking client on a keep-alive TCP connection to it.
    case live
}

extension Router where Handler == Responder {
    /// Runs `body` with a client of this router served in `mode`, then stops what it started.
    /// Freezes the router (as a server does). `configuration` supplies the limits (both modes)
    /// and everything else (live). Blocks the calling thread; call it from a test, not a fiber.
    ///
    ///     let router = Router<Handler>()
    ///     router.get("/hello") { _, _ in .text("Hello!") }
    ///     try router.test(.inMemory) { client in
    ///         let response = try client.get("/hello")
    ///         XCTAssertEqual(response.bodyString, "Hello!")
    ///     }
    public func test<T>(_ mode: TestMode, configuration: ServerConfiguration = ServerConfiguration(host: "127.0.0.1", port: 0),
                        logger: Logger = Logger(label: "spindle-test"),
                        _ body: (HTTPTestClient) throws -> T) throws -> T {
        let client: HTTPTestClient
        switch mode {
        case .inMemory:
            client = HTTPTestClient(transport: try InMemoryTransport(router: self, limits: configuration.limits, logger: logger))
        case .live:
            var configuration = configuration
            if configuration.workers == nil { configuration.workers = 1 }
            client = HTTPTestClient(transport: try LiveTransport(router: self, configuration: configuration, logger: logger))
        }
        defer { client.transport.shutdown() }
        return try body(client)
    }
}

/// What carries a test client's request bytes to the router and the response bytes back.
protocol TestTransport: AnyObject {
    /// Sends `request` (whole requests, possibly several) and returns the responses to them
    /// (`expected` of them, `heads` telling which were `HEAD`).
    func exchange(_ request: [UInt8], heads: [Bool]) throws -> [TestResponse]
    /// The address of the live server (nil in memory).
    var port: Int? { get }
    func shutdown()
}

/// A blocking HTTP/1.1 client of a router under test (`Router.test`). Each call sends one
/// request and waits for its response (at most `timeout`). Not thread-safe: one test thread.
public final class HTTPTestClient {
    let transport: any TestTransport

    init(transport: any TestTransport) { self.transport = transport }

    /// The port of the live server (nil in the in-memory mode).
    public var port: Int? { transport.port }

    /// Sends a request and returns its response. `Host` is added when `headers` has none, and
    /// `Content-Length` when there is a body and no framing field. Throws `TestClientError` when
    /// no valid response comes.
    public func execute(_ method: HTTPRequest.Method, _ target: String, headers: HTTPFields = [:], body: [UInt8] = []) throws -> TestResponse {
        let bytes = Self.serialize(method: method, target: target, headers: headers, body: body)
        return try transport.exchange(bytes, heads: [method == .head])[0]
    }

    /// Sends a swift-http-types request (its path as the target) with `body`.
    public func execute(_ request: HTTPRequest, body: [UInt8] = []) throws -> TestResponse {
        var headers = request.headerFields
        if headers[Self.hostField] == nil, let authority = request.authority { headers[Self.hostField] = authority }
        return try execute(request.method, request.path ?? "/", headers: headers, body: body)
    }

    /// Sends raw bytes holding `responses` requests (pipelined, or malformed on purpose) and
    /// returns what the server answered. `heads` marks which of them are `HEAD` (default none).
    public func executeRaw(_ bytes: [UInt8], responses: Int = 1, heads: [Bool]? = nil) throws -> [TestResponse] {
        try transport.exchange(bytes, heads: heads ?? Array(repeating: false, count: responses))
    }

    /// `GET target`.
    public func get(_ target: String, headers: HTTPFields = [:]) throws -> TestResponse {
        try execute(.get, target, headers: headers)
    }

    /// `POST target` with `body`.
    public func post(_ target: String, headers: HTTPFields = [:], body: [UInt8]) throws -> TestResponse {
        try execute(.post, target, headers: headers, body: body)
    }

    /// `POST target` with a UTF-8 body.
    public func post(_ target: String, headers: HTTPFields = [:], body: String) throws -> TestResponse {
        try execute(.post, target, headers: headers, body: Array(body.utf8))
    }

    /// `Host` (swift-http-types keeps it out of `HTTPFields`' named fields: it is the authority).
    static let hostField = HTTPField.Name("Host")!

    static func serialize(method: HTTPRequest.Method, target: String, headers: HTTPFields, body: [UInt8]) -> [UInt8] {
        var text = "\(method.rawValue) \(target) HTTP/1.1\r\n"
        if headers[Self.hostField] == nil { text += "Host: localhost\r\n" }
        for field in headers { text += "\(field.name.rawName): \(field.value)\r\n" }
        if !body.isEmpty && headers[.contentLength] == nil && headers[.transferEncoding] == nil {
            text += "Content-Length: \(body.count)\r\n"
        }
        text += "\r\n"
        return Array(text.utf8) + body
    }
}
