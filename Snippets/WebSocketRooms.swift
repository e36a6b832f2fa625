// A WebSocket endpoint: the session runs in the request's fiber for as long as the socket is
// open, receiving in blocking style and echoing each text message with its room's name.

import Spindle

// snippet.session
let router = Router<Handler>()
router.webSocket("/rooms/:room/ws") { socket, context in
    let room = context.parameters["room"] ?? "lobby"
    while let message = try socket.receive() {
        if case .text(let text) = message { try socket.send("[\(room)] \(text)") }
    }
}
// snippet.end
// snippet.hide
try Server(router: router).run()
