import Logging
import Spindle

/// A real `Server` on 127.0.0.1:0 and one keep-alive TCP connection to it (reopened when the
/// server closes it).
final class LiveTransport: TestTransport {
    private let server: Server
    let port: Int?
    private var socket: BlockingSocket? = nil
    private var reader = ResponseReader()

    init(router: Router<Handler>, configuration: ServerConfiguration, logger: Logger) throws {
        server = Server(router: router, configuration: configuration, logger: logger)
        port = try server.start().port
    }

    func exchange(_ request: [UInt8], heads: [Bool]) throws -> [TestResponse] {
        if socket == nil || reader.ended {
            socket = try BlockingSocket(connectingToLoopbackPort: port!)
            reader = ResponseReader()
        }
        let socket = self.socket!
        try socket.send(request)
        var responses: [TestResponse] = []
        for isHEAD in heads {
            while true {
                if let response = try reader.next(requestWasHEAD: isHEAD) {
                    responses.append(response)
                    break
                }
                guard !reader.ended else {
                    throw TestClientError("the server closed the connection after \(responses.count) of \(heads.count) responses")
                }
                let received = try socket.receive()
                if received.isEmpty { reader.end() } else { reader.append(received) }
            }
        }
        if let last = responses.last, last.headerFields[.connection]?.lowercased().contains("close") == true {
            self.socket = nil  // the server closes it: the next request opens another
        }
        return responses
    }

    func shutdown() {
        socket = nil
        server.stop()
        server.wait()
    }
}
