import HTTPTypes
import Spindle
import SpindleHTTPClient

extension Gateway {
    /// Fetches `target` (path and query, after `/proxy`) from the proxy upstream and answers
    /// with its status, its header fields less the hop-by-hop ones, and its body streamed:
    /// at most `proxyBufferBytes` read from the upstream, written to the client (parking
    /// until the kernel took it), then the next, so a body of any size passes through a buffer
    /// of that size. The body keeps its length when the upstream declared one (sent with
    /// `Content-Length`), and goes out chunked otherwise. An upstream that cannot be reached is
    /// `502`; one that sends no head in time, `504`; one that fails mid-body ends the client's
    /// response early (its connection is closed: the client sees an incomplete body, never a
    /// complete-looking one). Parks the handler's fiber.
    func proxy(_ request: Request, target: String) throws -> Response {
        guard let upstream = configuration.proxyUpstream else { throw HTTPError(.notFound, "no proxy upstream configured") }
        let client = clients.forCurrentWorker()
        var fields = Self.endToEndFields(request.headerFields)
        fields[.via] = "1.1 spindle-gateway"
        let outgoing = HTTPRequest(method: .get, scheme: "http", authority: upstream.authority,
                                   path: upstream.pathPrefix + target, headerFields: fields)
        let response: HTTPClientResponse
        do {
            response = try client.execute(outgoing)
        } catch let error as HTTPClientError {
            clients.publishStatistics(of: client)
            if case .timedOut = error.kind { throw HTTPError(.gatewayTimeout, "Gateway Timeout: \(error)") }
            throw HTTPError(.badGateway, "Bad Gateway: \(error)")
        }
        let clients = self.clients
        let bufferBytes = configuration.proxyBufferBytes
        let pump = { (writer: BodyWriter) throws in
            defer { clients.publishStatistics(of: client) }
            var buffer: [UInt8] = []
            buffer.reserveCapacity(bufferBytes)
            while try response.body.read(into: &buffer, maxBytes: bufferBytes) > 0 {
                try writer.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        let body: Response.Body = response.body.declaredLength.map { .sizedStream(length: $0, pump) } ?? .stream(pump)
        return Response(status: response.status, headerFields: Self.endToEndFields(response.headerFields), body: body)
    }

    /// The fields that pass through a proxy: all but the hop-by-hop ones (RFC 9110 §7.6.1:
    /// `Connection` and the fields it names, `Keep-Alive`, `Proxy-Connection`, `TE`,
    /// `Transfer-Encoding`, `Upgrade`, `Proxy-Authenticate`, `Proxy-Authorization`, `Trailer`),
    /// `Host` (the upstream's comes from its URL) and `Content-Length` (the server writes the
    /// framing of the body it sends).
    /// Cost: allocates the new fields and a set of names.
    public static func endToEndFields(_ fields: HTTPFields) -> HTTPFields {
        var dropped: Set<String> = ["connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade",
                                    "proxy-authenticate", "proxy-authorization", "trailer", "host", "content-length"]
        for value in fields[values: .connection] {
            for name in value.split(separator: ",") { dropped.insert(name.trimmingCharacters(in: .whitespaces).lowercased()) }
        }
        var kept = HTTPFields()
        for field in fields where !dropped.contains(field.name.canonicalName) { kept.append(field) }
        return kept
    }
}
