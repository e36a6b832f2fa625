// The HTTP client over https, trusting a private CA instead of the system's store
// (Docs/http-client.md). Compiled, not run: a client is called from a fiber.

import SpindleHTTPClient
import SpindleTLS

let client = HTTPClient(configuration: .init(tls: TLSClientConfiguration(caCertificatesPath: "/etc/myapp/ca.pem")))
let status = try client.get("https://127.0.0.1:8443/plaintext").status
print(status)
