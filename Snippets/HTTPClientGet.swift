// The HTTP client in three lines (README): a GET, its body collected. Compiled, not run: a
// client is called from a fiber (a handler, a Runtime body).

import SpindleHTTPClient

let client = HTTPClient()   // one per worker; call it from a fiber (a handler, a Runtime body)
let response = try client.get("http://127.0.0.1:9000/users/7")
print(response.status, String(decoding: try response.body.collect(), as: UTF8.self))
