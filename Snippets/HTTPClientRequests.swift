// HTTPClient: a GET with its body collected, and any request with its body streamed
// (Docs/http-client.md). Compiled, not run: a client is called from a fiber.

import HTTPTypes
import SpindleHTTPClient

// snippet.hide
func consume(_ chunk: [UInt8]) {}
// snippet.show
let client = HTTPClient()                                   // one per worker (see below)

// GET with the body collected (at most maxCollectedBodyBytes, 8 MiB by default):
let page = try client.get("http://127.0.0.1:8080/plaintext")
print(page.status.code, String(decoding: try page.body.collect(), as: UTF8.self))

// Any request, the body streamed as it arrives:
let request = HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1:8080", path: "/upload",
                          headerFields: [.contentType: "application/json"])
let response = try client.execute(request, body: .text(#"{"name":"spindle"}"#))
while let chunk = try response.body.next() { consume(chunk) }   // parks while bytes are in flight
