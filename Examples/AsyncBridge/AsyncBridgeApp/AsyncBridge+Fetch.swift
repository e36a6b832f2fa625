import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import Spindle

/// One upstream response as the app keeps it: the status, the fields it passes on, the body.
public struct UpstreamResponse: Sendable {
    /// The status code as the upstream sent it.
    public let status: Int
    /// The reason phrase: the upstream's, or the standard one of a standard code.
    public let reasonPhrase: String
    /// The fields `GET /fetch` passes on (`AsyncBridge.passedFields`), by lowercase name.
    public let fields: [(name: String, value: String)]
    /// The whole body, at most `AsyncBridgeConfiguration.maxBodyBytes`.
    public let body: [UInt8]
}

extension AsyncBridge {
    /// The response fields `GET /fetch` copies from the upstream's response.
    public static let passedFields = ["content-type", "cache-control", "etag", "last-modified"]

    /// Fetches `path` from the upstream and collects the body (at most `maxBodyBytes`).
    /// `async`: runs on Swift concurrency (the client's I/O on its event loop threads); a
    /// cancelled task cancels the request (AsyncHTTPClient closes its connection). Counts the
    /// outcome. Throws AsyncHTTPClient's and NIO's errors, `CancellationError` when cancelled.
    /// Cost: the request, the collected body and its copy into the array, the passed fields.
    public func fetch(_ path: UpstreamPath) async throws -> UpstreamResponse {
        do {
            var request = HTTPClientRequest(url: configuration.upstream.url(of: path))
            request.method = .GET
            let response = try await client.execute(request, timeout: configuration.requestTimeAmount)
            let body = try await response.body.collect(upTo: configuration.maxBodyBytes)
            var fields: [(name: String, value: String)] = []
            for name in Self.passedFields {
                for value in response.headers[name] { fields.append((name, value)) }
            }
            count(.succeeded)
            return UpstreamResponse(status: Int(response.status.code), reasonPhrase: response.status.reasonPhrase, fields: fields,
                                    body: Array(body.readableBytesView))
        } catch {
            count(Task.isCancelled || Self.isCancellation(error) ? .cancelled : .failed)
            throw error
        }
    }

    /// `GET /fetch?path=…`: the upstream's status, the `passedFields` it sent and its body.
    /// Parks the fiber in `Context.await` while the call runs; if the fiber is cancelled (the
    /// client reset its connection), the task is cancelled and so is the upstream request.
    /// Throws `HTTPError`: `502` when the upstream cannot be reached, answers with a status
    /// outside 200...599 or a body over the limit; `504` when it does not answer in time.
    func fetchResponse(path: UpstreamPath, context: Context) throws -> Response {
        let upstream: UpstreamResponse
        do {
            upstream = try context.await { [self] in try await fetch(path) }
        } catch {
            throw Self.httpError(for: error)
        }
        guard (200...599).contains(upstream.status) else {
            throw HTTPError(.badGateway, "Bad Gateway: the upstream answered \(upstream.status)")
        }
        var fields = HTTPFields()
        for (name, value) in upstream.fields {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        return Response(status: HTTPResponse.Status(code: upstream.status, reasonPhrase: upstream.reasonPhrase), headerFields: fields, body: .bytes(upstream.body))
    }

    /// `value` as an `application/json` response, its keys sorted and slashes unescaped (the
    /// same text for the same value). Allocates the encoder, its output and the body.
    static func json<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return .bytes(Array(try encoder.encode(value)), contentType: "application/json")
    }

    /// The answer for an upstream call's error: a cancellation as it is (the request's fiber is
    /// ending), an `HTTPError` as it is, a timeout `504`, anything else `502`, each saying why.
    static func httpError(for error: any Error) -> any Error {
        if error is CancellationError || error is HTTPError { return error }
        if let clientError = error as? HTTPClientError,
           [HTTPClientError.deadlineExceeded, .connectTimeout, .readTimeout].contains(clientError) {
            return HTTPError(.gatewayTimeout, "Gateway Timeout: \(clientError)")
        }
        if error is NIOTooManyBytesError {
            return HTTPError(.badGateway, "Bad Gateway: the upstream's body is larger than the limit")
        }
        return HTTPError(.badGateway, "Bad Gateway: \(error)")
    }

    /// True for the errors a cancelled call ends with.
    static func isCancellation(_ error: any Error) -> Bool {
        error is CancellationError || (error as? HTTPClientError) == .cancelled
    }
}
