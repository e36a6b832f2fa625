import Foundation
import HTTPTypes
import Spindle

/// The chat's routes:
///
/// | route | answer |
/// |---|---|
/// | `GET /rooms/:room/ws?from=NAME` | a WebSocket member: its text messages are published to the room, the room's messages come back as JSON text messages |
/// | `GET /rooms/:room/events` | an event stream (Server-Sent Events) member: `joined`, then one `message` event per message (`id:` its sequence number) |
/// | `POST /rooms/:room/messages` | publishes the body (`{"text":…,"from":…}` as `application/json`, or the text itself, sender in `?from=`): `202` with `{"room","seq","members"}` |
/// | `GET /rooms/:room` | `{"members":N,"room":…,"workers":W}`: members on every worker, and how many workers they are on |
///
/// A room name is 1 to 64 letters, digits, `-`, `_` or `.` (`400` otherwise); an empty text is
/// `400`, a text over `ChatConfiguration.maxMessageBytes` `413`.
public enum ChatRoutes {
    /// A router with the chat's routes over `hub` and no middleware.
    public static func router(hub: ChatHub) -> Router<Handler> {
        let router = Router<Handler>()
        add(to: router, hub: hub)
        return router
    }

    /// Adds the chat's routes to `router` (before it serves).
    public static func add(to router: Router<Handler>, hub: ChatHub) {
        let webSocketConfiguration = WebSocketConfiguration(maxMessageBytes: hub.configuration.maxMessageBytes)
        router.get("/rooms/:room/ws") { request, context in
            let room = try ChatNames.room(context.parameters["room"] ?? "")
            let from = try ChatNames.sender(request.queryParameter("from"))
            // The request is not valid inside the session: room and sender are copied above.
            return try Response.webSocket(for: request, configuration: webSocketConfiguration) { socket in
                ChatSessions.runWebSocketMember(socket, room: room, from: from, hub: hub)
            }
        }
        router.get("/rooms/:room/events") { request, context in
            let room = try ChatNames.room(context.parameters["room"] ?? "")
            // No heartbeat fiber per stream: the worker's one (WorkerRooms) queues keep-alives.
            return .serverSentEvents(for: request, heartbeat: nil) { stream in
                try ChatSessions.runEventStreamMember(stream, room: room, hub: hub)
            }
        }
        router.post("/rooms/:room/messages") { request, context in
            let room = try ChatNames.room(context.parameters["room"] ?? "")
            let (from, text) = try postedMessage(request, maxTextBytes: hub.configuration.maxMessageBytes)
            return try json(hub.publish(room: room, from: from, text: text), status: .accepted)
        }
        router.get("/rooms/:room") { _, context in
            let room = try ChatNames.room(context.parameters["room"] ?? "")
            return try json(RoomSummary(room: room, members: hub.memberCount(in: room), workers: hub.workerCount(in: room)))
        }
    }

    /// `GET /rooms/:room`'s answer.
    public struct RoomSummary: Codable, Equatable, Sendable {
        /// The room.
        public var room: String
        /// Its members now, on every worker.
        public var members: Int
        /// The workers its members are on.
        public var workers: Int

        /// A summary with these values.
        public init(room: String, members: Int, workers: Int) {
            self.room = room
            self.members = members
            self.workers = workers
        }
    }

    /// `value` as JSON with sorted keys (as the members' events are), `application/json`.
    private static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: status, headerFields: [.contentType: "application/json"], body: .bytes(Array(try encoder.encode(value))))
    }

    private struct PostedMessage: Decodable {
        let text: String
        let from: String?
    }

    /// The sender and text of a `POST`: a JSON object when the body is `application/json`,
    /// else the body as UTF-8 text with the sender in `?from=`.
    private static func postedMessage(_ request: Request, maxTextBytes: Int) throws -> (from: String, text: String) {
        // A JSON body may escape each byte of the text in up to 6 (`\u00XX`); a plain body is the text.
        let (jsonLimit, overflow) = maxTextBytes.multipliedReportingOverflow(by: 6)
        let isJSON = request.header("content-type")?.lowercased().hasPrefix("application/json") == true
        let body = try request.body.readAll(maxBytes: isJSON ? (overflow ? Int.max : jsonLimit.addingReportingOverflow(1024).partialValue) : maxTextBytes)
        let from: String
        let text: String
        if isJSON {
            guard let posted = try? JSONDecoder().decode(PostedMessage.self, from: Data(body)) else {
                throw HTTPError(.badRequest, "expected a JSON object {\"text\":…, \"from\":…}")
            }
            from = try ChatNames.sender(posted.from ?? request.queryParameter("from"))
            text = posted.text
        } else {
            guard let decoded = String(validating: body, as: UTF8.self) else { throw HTTPError(.badRequest, "the text is not UTF-8") }
            from = try ChatNames.sender(request.queryParameter("from"))
            text = decoded
        }
        guard !text.isEmpty else { throw HTTPError(.badRequest, "the message text is empty") }
        guard text.utf8.count <= maxTextBytes else { throw HTTPError(.contentTooLarge, "the message text is over \(maxTextBytes) bytes") }
        return (from, text)
    }
}
