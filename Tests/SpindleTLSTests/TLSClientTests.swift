// SpindleHTTPClient over https against Spindle's own TLS server on 127.0.0.1, with certificates
// made at test time: the server's certificate verified against a CA file and the host, bodies
// both ways over several records, keep-alive reuse counted, and the refusals (a certificate the
// client does not trust, one made for another name, a CA file that cannot be read), each a
// clear error and no connection left open.
import Foundation
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleHTTPClient
import SpindleIO
import SpindleTLS
import SpindleTestSupport
import XCTest

final class TLSClientTests: TLSTestCase {
    func testTheClientVerifiesTheServerExchangesBodiesAndReusesTheConnection() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls)
        let ca = tls.certificates[0].chainPath
        let upload = pattern(seed: 3, count: 300_000)
        let (hello, big, echoed, statistics, open) = try onWorker { () -> (String, [UInt8], [UInt8], HTTPClient.Statistics, Int) in
            let client = HTTPClient(configuration: HTTPClient.Configuration(tls: TLSClientConfiguration(caCertificatesPath: ca)))
            let hello = String(decoding: try client.get("https://127.0.0.1:\(port)/hello").body.collect(), as: UTF8.self)
            let big = try client.get("https://127.0.0.1:\(port)/big").body.collect()
            let post = HTTPRequest(method: .post, scheme: "https", authority: "127.0.0.1:\(port)", path: "/echo")
            let echoed = try client.execute(post, body: .bytes(upload)).body.collect()
            return (hello, big, echoed, client.statistics, client.openConnections(host: "127.0.0.1", port: port, secure: true))
        }
        XCTAssertEqual(hello, "hello over tls")
        XCTAssertEqual(big, pattern(seed: 7, count: 1 << 20))
        XCTAssertEqual(echoed, upload)
        XCTAssertEqual(statistics.connectionsOpened, 1, "one TLS connection carried the three exchanges")
        XCTAssertEqual(statistics.connectionsReused, 2)
        XCTAssertEqual(open, 1)
    }

    func testTheClientRefusesAnUntrustedCertificateAndOneForAnotherName() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls)
        // A certificate for elsewhere.test only, served by a second server, trusted by the client.
        let elsewhere = certificates.directory + "/elsewhere"
        let made = try shell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                             + "-subj '/CN=elsewhere.test' -addext 'subjectAltName=DNS:elsewhere.test' "
                             + "-keyout '\(elsewhere).key' -out '\(elsewhere).crt' 2>&1")
        XCTAssertEqual(made.status, 0, made.output)
        let otherPort = try startServer(tls: TLSConfiguration(certificateChainPath: elsewhere + ".crt", privateKeyPath: elsewhere + ".key"))
        let ca = tls.certificates[0].chainPath
        let missing = certificates.directory + "/no-such-ca.pem"
        let outcomes = try onWorker { () -> [String] in
            var outcomes: [String] = []
            func attempt(_ configuration: TLSClientConfiguration, _ url: String) {
                let client = HTTPClient(configuration: HTTPClient.Configuration(tls: configuration))
                do {
                    _ = try client.get(url)
                    outcomes.append("answered")
                } catch let error as HTTPClientError {
                    if case .tls = error.kind { outcomes.append("tls: \(error)") } else { outcomes.append("other: \(error)") }
                } catch {
                    outcomes.append("other: \(error)")
                }
                outcomes.append("open \(client.openConnections(host: "127.0.0.1", port: port, secure: true) + client.openConnections(host: "127.0.0.1", port: otherPort, secure: true))")
            }
            attempt(TLSClientConfiguration(), "https://127.0.0.1:\(port)/hello")  // the system's store: not this CA
            attempt(TLSClientConfiguration(caCertificatesPath: elsewhere + ".crt"), "https://127.0.0.1:\(otherPort)/hello")
            attempt(TLSClientConfiguration(caCertificatesPath: missing), "https://127.0.0.1:\(port)/hello")
            attempt(TLSClientConfiguration(caCertificatesPath: ca), "https://127.0.0.1:\(port)/hello")
            return outcomes
        }
        XCTAssertEqual(outcomes.count, 8, "\(outcomes)")
        guard outcomes.count == 8 else { return }
        XCTAssertTrue(outcomes[0].hasPrefix("tls: ") && outcomes[0].contains("certificate was refused"), outcomes[0])
        XCTAssertTrue(outcomes[2].hasPrefix("tls: ") && outcomes[2].contains("certificate was refused"), outcomes[2])
        XCTAssertTrue(outcomes[2].contains("mismatch"), "the reason names the name mismatch: \(outcomes[2])")
        XCTAssertTrue(outcomes[4].hasPrefix("tls: ") && outcomes[4].contains(missing) && outcomes[4].contains("cannot be read"), outcomes[4])
        XCTAssertEqual(outcomes[6], "answered", "the same server, trusted")
        XCTAssertEqual([outcomes[1], outcomes[3], outcomes[5]], ["open 0", "open 0", "open 0"], "a refused handshake leaves no connection")
    }

    /// Requests answered over TLS are counted like plain ones: by method and status, timed,
    /// and by route. 5 GETs of /hello, 2 of a missing path and 3 POSTs to /echo, through the
    /// client on one connection; the admin listener's `/metrics` read with curl before and after.
    func testRequestsOverTLSAreCountedInTheMetrics() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls) { $0.adminPort = 0 }
        let server = try XCTUnwrap(servers.last)
        let adminPort = try XCTUnwrap(server.adminAddress?.port)
        func counter(_ exposition: String, _ series: String) -> Double {
            for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
                return Double(line.dropFirst(series.count + 1)) ?? -1
            }
            return 0
        }
        func scrape() throws -> String {
            let (status, output) = try shell("curl -sS http://127.0.0.1:\(adminPort)/metrics")
            XCTAssertEqual(status, 0, output)
            return output
        }
        let before = try scrape()
        let ca = tls.certificates[0].chainPath
        try onWorker {
            let client = HTTPClient(configuration: HTTPClient.Configuration(tls: TLSClientConfiguration(caCertificatesPath: ca)))
            for _ in 0..<5 { _ = try client.get("https://127.0.0.1:\(port)/hello") }
            for _ in 0..<2 { _ = try client.get("https://127.0.0.1:\(port)/missing") }
            let post = HTTPRequest(method: .post, scheme: "https", authority: "127.0.0.1:\(port)", path: "/echo")
            for _ in 0..<3 { _ = try client.execute(post, body: .text("x")).body.collect() }
        }
        let after = try scrape()
        let ok = #"http_requests_total{method="GET",status="200"}"#
        let missing = #"http_requests_total{method="GET",status="404"}"#
        let posted = #"http_requests_total{method="POST",status="200"}"#
        XCTAssertEqual(counter(after, ok) - counter(before, ok), 5, after)
        XCTAssertEqual(counter(after, missing) - counter(before, missing), 2)
        XCTAssertEqual(counter(after, posted) - counter(before, posted), 3)
        XCTAssertEqual(counter(after, "http_request_duration_seconds_count") - counter(before, "http_request_duration_seconds_count"), 10)
    }

    /// An https URL whose server does not speak TLS (plain HTTP answers the ClientHello with
    /// a 400) fails the handshake with a `.tls` error at once: no hang, no connection left.
    func testAServerThatDoesNotSpeakTLSFailsTheHandshake() throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 1
        let router = Router<Handler>()
        installRoutes(router)
        let plain = Server(router: router, configuration: configuration)
        let port = try plain.start().port
        defer {
            plain.stop()
            try? withTimeout(.seconds(30), "Server.wait() after stop()") { plain.wait() }
        }
        let outcome = try onWorker { () -> String in
            let client = HTTPClient(configuration: HTTPClient.Configuration(connectTimeout: .seconds(5)))
            let started = Deadline.now
            do {
                _ = try client.get("https://127.0.0.1:\(port)/hello")
                return "answered"
            } catch let error as HTTPClientError {
                guard case .tls = error.kind else { return "other: \(error)" }
                let open = client.openConnections(host: "127.0.0.1", port: port, secure: true)
                return "tls, \(open) open, \(Deadline.now.nanoseconds - started.nanoseconds < 2_000_000_000 ? "fast" : "slow")"
            }
        }
        XCTAssertEqual(outcome, "tls, 0 open, fast")
    }

    func testPlainAndTLSConnectionsToOnePortArePooledApart() throws {
        // The pool key includes the scheme: an https request never reuses a plain connection.
        let tls = try singleCertificate()
        let port = try startServer(tls: tls)
        let ca = tls.certificates[0].chainPath
        let (plainError, secureBody) = try onWorker { () -> (String, String) in
            let client = HTTPClient(configuration: HTTPClient.Configuration(tls: TLSClientConfiguration(caCertificatesPath: ca)))
            var plainError = "answered"
            do { _ = try client.get("http://127.0.0.1:\(port)/hello") } catch { plainError = "\(error)" }
            let secure = String(decoding: try client.get("https://127.0.0.1:\(port)/hello").body.collect(), as: UTF8.self)
            return (plainError, secure)
        }
        XCTAssertNotEqual(plainError, "answered", "plain HTTP to a TLS port is not answered")
        XCTAssertEqual(secureBody, "hello over tls")
    }
}
