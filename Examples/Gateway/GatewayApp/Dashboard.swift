import Foundation
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleHTTPClient

/// What `GET /dashboard/:user` answers: each part as it arrived, or why it did not.
///
///     {"elapsedMilliseconds":252,"parts":{
///        "profile":{"data":{"name":"alice"},"elapsedMilliseconds":1,"status":"ok","upstreamStatus":200},
///        "orders":{"elapsedMilliseconds":250,"status":"timeout"},
///        "recommendations":{"elapsedMilliseconds":2,"status":"error: upstream answered 500","upstreamStatus":500}},
///      "user":"alice"}
public struct Dashboard: Codable, Equatable, Sendable {
    /// The user asked for.
    public let user: String
    /// The parts by name.
    public let parts: [String: DashboardPart]
    /// How long the whole dashboard took.
    public let elapsedMilliseconds: Int
}

/// One part of a `Dashboard`.
public struct DashboardPart: Codable, Equatable, Sendable {
    /// `"ok"`; `"timeout"` when the part's deadline passed first; `"error: …"` saying what
    /// failed (the upstream's status when not 2xx, a refused connection, a closed one, …).
    public let status: String
    /// The upstream's HTTP status, when a response head arrived.
    public let upstreamStatus: Int?
    /// The upstream's body when the part is ok: its JSON, or its text when it is not JSON.
    public let data: JSONValue?
    /// How long the call took.
    public let elapsedMilliseconds: Int
}

extension Gateway {
    /// Calls every part's upstream at once, each in a fiber of this worker with the same
    /// deadline (`partDeadline` from now), and waits for them all: the answer comes within
    /// about `partDeadline` whatever the upstreams do. `200` when a part is ok, `502` when none
    /// is. Parks the handler's fiber; allocates the parts and the JSON.
    func dashboard(user: String) throws -> Response {
        let client = clients.forCurrentWorker()
        defer { clients.publishStatistics(of: client) }
        let start = Deadline.now
        let deadline = start + configuration.partDeadline
        let sources = configuration.parts
        var results = [DashboardPart?](repeating: nil, count: sources.count)
        let group = WaitGroup()
        for (index, source) in sources.enumerated() {
            group.add()
            Fiber.spawn {  // same worker as the handler: `results` needs no lock
                defer { group.done() }
                results[index] = self.fetchPart(source.url(for: user), client: client, deadline: deadline)
            }
        }
        try group.wait()
        var parts: [String: DashboardPart] = [:]
        for (source, result) in zip(sources, results) { parts[source.name] = result }
        let dashboard = Dashboard(user: user, parts: parts, elapsedMilliseconds: Self.milliseconds(since: start))
        let anyOK = parts.values.contains { $0.status == "ok" }
        return Self.json(dashboard, status: anyOK || parts.isEmpty ? .ok : .badGateway)
    }

    /// One part: `GET url` with its body collected, by `deadline`. Never throws: what went
    /// wrong is the part's status.
    private func fetchPart(_ url: String, client: HTTPClient, deadline: Deadline) -> DashboardPart {
        let start = Deadline.now
        do {
            let response = try client.get(url, maxBodyBytes: configuration.maxPartBytes, deadline: deadline)
            let body = try response.body.collect()
            let code = response.status.code
            guard (200..<300).contains(code) else {
                return DashboardPart(status: "error: upstream answered \(code)", upstreamStatus: code, data: nil,
                                     elapsedMilliseconds: Self.milliseconds(since: start))
            }
            let data = (try? JSONDecoder().decode(JSONValue.self, from: Data(body))) ?? .string(String(decoding: body, as: UTF8.self))
            return DashboardPart(status: "ok", upstreamStatus: code, data: data, elapsedMilliseconds: Self.milliseconds(since: start))
        } catch let error as HTTPClientError {
            if case .timedOut = error.kind {
                return DashboardPart(status: "timeout", upstreamStatus: nil, data: nil, elapsedMilliseconds: Self.milliseconds(since: start))
            }
            return DashboardPart(status: "error: \(error)", upstreamStatus: nil, data: nil, elapsedMilliseconds: Self.milliseconds(since: start))
        } catch is CancellationError {
            return DashboardPart(status: "error: cancelled", upstreamStatus: nil, data: nil, elapsedMilliseconds: Self.milliseconds(since: start))
        } catch {
            return DashboardPart(status: "error: \(error)", upstreamStatus: nil, data: nil, elapsedMilliseconds: Self.milliseconds(since: start))
        }
    }

    static func milliseconds(since start: Deadline) -> Int {
        let elapsed = Deadline.now - start
        return Int(elapsed.components.seconds) * 1000 + Int(elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    /// An `application/json` response with keys sorted.
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let data = try? encoder.encode(value) else {
            return .text("Internal Server Error: response not encodable\n", status: .internalServerError)
        }
        return Response(status: status, headerFields: [.contentType: "application/json"], body: .bytes(Array(data)))
    }
}
