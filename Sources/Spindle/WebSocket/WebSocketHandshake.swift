import Foundation
import HTTPTypes
internal import COpenSSL

// The opening handshake (RFC 6455 §4.2): which requests may upgrade, and the answer that
// accepts them. The only file that calls OpenSSL: one EVP SHA-1 digest of a 60-byte string
// into a 20-byte stack buffer (EVP_Digest writes at most EVP_MAX_MD_SIZE bytes; the buffer
// has that size).

extension Response {
    /// Accepts a WebSocket upgrade of `request` and runs `session` on the connection once the
    /// `101 Switching Protocols` is sent: in this request's fiber, for as long as the session
    /// lasts; the connection closes when it returns. Throws `HTTPError` when the request is not
    /// a valid upgrade: `400` (not GET, missing or malformed `Sec-WebSocket-Key`, no
    /// `Connection: upgrade`/`Upgrade: websocket`) or `426 Upgrade Required` with
    /// `Sec-WebSocket-Version: 13` for another version. The `Request` is not valid inside the
    /// session: copy what it needs before. Middleware see the `101` (and may refuse it by
    /// returning another response). Needs a live connection: SpindleTesting's in-memory mode
    /// writes the `101` and does not run the session.
    public static func webSocket(for request: Request, configuration: WebSocketConfiguration = WebSocketConfiguration(),
                                 session: @escaping (WebSocket) throws -> Void) throws -> Response {
        let key = try WebSocketHandshake.validate(request)
        var response = Response(status: .switchingProtocols)
        response.headerFields[.upgrade] = "websocket"
        response.headerFields[.secWebSocketAccept] = WebSocketHandshake.acceptValue(for: key)
        response.upgrade = Upgrade { connection in
            let socket = WebSocket(connection: connection, configuration: configuration)
            socket.run(session)
        }
        return response
    }
}

extension Router where Handler == Responder {
    /// Registers a WebSocket endpoint: `GET pattern` upgrades (see `Response.webSocket`) and
    /// runs `session` with the request's context (route parameters included).
    @discardableResult
    public func webSocket(_ pattern: String, configuration: WebSocketConfiguration = WebSocketConfiguration(),
                          _ session: @escaping @Sendable (WebSocket, Context) throws -> Void) -> Router {
        on(.get, pattern) { request, context in
            try Response.webSocket(for: request, configuration: configuration) { socket in try session(socket, context) }
        }
        return self
    }
}

enum WebSocketHandshake {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// The client's key, when `request` is a valid version-13 upgrade.
    static func validate(_ request: Request) throws -> String {
        guard request.method == .get else { throw HTTPError(.badRequest, "a WebSocket upgrade must be a GET") }
        guard request.header("upgrade")?.lowercased().split(separator: ",").contains(where: { $0.trimmingSpaces == "websocket" }) == true,
              request.header("connection")?.lowercased().split(separator: ",").contains(where: { $0.trimmingSpaces == "upgrade" }) == true
        else { throw HTTPError(.badRequest, "not a WebSocket upgrade (Connection: Upgrade and Upgrade: websocket are required)") }
        guard request.header("sec-websocket-version") == "13" else {
            var error = HTTPError(.upgradeRequired, "WebSocket version 13 is required")
            error.headerFields[.secWebSocketVersion] = "13"
            throw error
        }
        guard let key = request.header("sec-websocket-key"), let decoded = Data(base64Encoded: key), decoded.count == 16 else {
            throw HTTPError(.badRequest, "Sec-WebSocket-Key must be 16 bytes in base64")
        }
        return key
    }

    /// `Sec-WebSocket-Accept`: base64(SHA-1(key + GUID)).
    static func acceptValue(for key: String) -> String {
        let input = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = input.withUnsafeBytes { bytes in
            digest.withUnsafeMutableBytes { out in
                EVP_Digest(bytes.baseAddress, bytes.count, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length, EVP_sha1(), nil)
            }
        }
        precondition(ok == 1 && length == 20, "OpenSSL's SHA-1 failed")
        return Data(digest[0..<20]).base64EncodedString()
    }
}
