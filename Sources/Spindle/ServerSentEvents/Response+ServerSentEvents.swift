import HTTPTypes

extension Response {
    /// A Server-Sent Events response (`text/event-stream`, `Cache-Control: no-store`), whose
    /// events `produce` sends through a `ServerSentEventStream` for as long as it runs; the
    /// response ends when it returns.
    ///
    ///     router.get("/ticks") { request, _ in
    ///         .serverSentEvents(for: request) { stream in
    ///             var n = 0
    ///             while stream.isConnected {
    ///                 try stream.send(event: "tick", id: String(n), data: "\(n)")
    ///                 n += 1
    ///                 try Fiber.sleep(for: .seconds(1))
    ///             }
    ///         }
    ///     }
    ///
    /// Built on the streamed body: each event goes out as one chunk (the connection's output
    /// is sent before `produce` starts, so the client has the head at once), and each send
    /// parks the fiber until the kernel took it. While nothing has been sent for `heartbeat`
    /// (default 15 s; nil: never), a fiber of the stream's own sends a `: keep-alive` comment,
    /// so proxies and clients see the stream alive. A client that is gone is detected by a
    /// write that fails (heartbeat or event) and, with `request` given, by the connection
    /// having seen the client close: the heartbeat fiber checks at every beat. Then
    /// `isConnected` turns false, sends throw, and the fiber running `produce` is cancelled,
    /// so a wait it is parked in (a sleep, a channel) throws `CancellationError`: a producer
    /// hears of a disconnect within one heartbeat, whatever it waits for.
    ///
    /// `produce` runs in the request's fiber after the handler returned (`request` is still
    /// valid there). Errors it throws abort the body (no last chunk) and close the connection.
    /// Cost: the stream object and, with a heartbeat, one fiber (a pooled stack) per response.
    public static func serverSentEvents(for request: Request? = nil, heartbeat: Duration? = .seconds(15),
                                        status: HTTPResponse.Status = .ok,
                                        _ produce: @escaping (ServerSentEventStream) throws -> Void) -> Response {
        Response(status: status, headerFields: ServerSentEventStream.headerFields, body: .stream { writer in
            let stream = ServerSentEventStream(writer: writer, request: request)
            try stream.run(heartbeat: heartbeat, produce)
        })
    }
}
