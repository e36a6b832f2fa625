// The kTLS handoff with real clients (curl over TLS 1.2 and 1.3, Python's ssl module with
// keep-alive, openssl s_client's close_notify), counted in the server's metrics. Which test runs
// depends on the kernel: where it offers the `tls` upper-layer protocol, the kernel must build
// the records of every connection (plaintext on the socket, bodies intact); where it does not,
// a server told to try on every connection (`.always`) must go on in user space, each
// connection's handshake having gone through the kTLS filter. One of the two is skipped, saying why.
import Foundation
import Logging
import Spindle
import SpindleTLS
import SpindleTestSupport
import XCTest

final class KernelTLSHandoffTests: TLSTestCase {
    func testTheKernelBuildsTheRecordsSentWhereItOffersKTLS() throws {
        guard KernelTLS.availability == .available else {
            throw XCTSkip("\(KernelTLS.availability): the handoff runs only where the kernel has the tls module; "
                          + "testConnectionsGoOnInUserSpaceWhereTheKernelRefuses covers this kernel")
        }
        let exposition = try exchangeWithEveryClient(policy: .whenAvailable)
        XCTAssertGreaterThanOrEqual(exposition.handshakes, 4)
        XCTAssertEqual(exposition.kernelTransmits, exposition.handshakes,
                       "every connection (AES-GCM or ChaCha20-Poly1305) hands its records to the kernel")
    }

    func testConnectionsGoOnInUserSpaceWhereTheKernelRefuses() throws {
        guard case .unavailable = KernelTLS.availability else {
            throw XCTSkip("the kernel offers kTLS: testTheKernelBuildsTheRecordsSentWhereItOffersKTLS covers it")
        }
        let lines = Locked<[String]>([])
        var logger = Logger(label: "spindle") { _ in LineCollector(lines: lines) }
        logger.logLevel = .debug
        let exposition = try exchangeWithEveryClient(policy: .always, logger: logger)
        XCTAssertGreaterThanOrEqual(exposition.handshakes, 4)
        XCTAssertEqual(exposition.kernelTransmits, 0)
        XCTAssertEqual(exposition.failures, 0)
        // OpenSSL offered each connection's keys to the filter, which asked the kernel and was
        // refused by it (not by an OpenSSL that never tried), in TLS 1.2 and 1.3 alike.
        let connections = lines.current.filter { $0.hasPrefix("TLS connection (") }
        XCTAssertGreaterThanOrEqual(connections.count, 4, "\(lines.current)")
        for version in ["TLSv1.2", "TLSv1.3"] {
            XCTAssertTrue(connections.contains { $0.contains(version) }, "\(connections)")
        }
        for line in connections {
            XCTAssertTrue(line.contains("the kernel refused the keys: ENOENT"), line)
        }
    }

    /// Serves with `policy`: curl (TLS 1.3, then 1.2; 1 MiB down, 300 KB up and back on one
    /// connection), Python (keep-alive, a chunked upload), openssl s_client (which ends with
    /// close_notify); checks every body, then returns the TLS counters of the server's metrics.
    private func exchangeWithEveryClient(policy: KernelTLSPolicy, logger: Logger = Logger(label: "spindle")) throws -> (handshakes: Double, failures: Double, kernelTransmits: Double) {
        var tls = try singleCertificate()
        tls.kernelTLS = policy
        let port = try startServer(tls: tls, logger: logger) { $0.adminPort = 0 }
        let server = try XCTUnwrap(servers.last)
        let ca = tls.certificates[0].chainPath
        let upload = certificates.directory + "/upload"
        try Data(pattern(seed: 3, count: 300_000)).write(to: URL(fileURLWithPath: upload))
        for version in ["--tlsv1.3", "--tlsv1.2 --tls-max 1.2"] {
            let run = try shell("curl -sS --http1.1 \(version) --cacert '\(ca)' https://127.0.0.1:\(port)/big -o '\(certificates.directory)/big' "
                                + "--next \(version) --cacert '\(ca)' --data-binary @'\(upload)' https://127.0.0.1:\(port)/echo -o '\(certificates.directory)/echoed'")
            XCTAssertEqual(run.status, 0, "\(version): \(run.output)")
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: certificates.directory + "/big")), Data(pattern(seed: 7, count: 1 << 20)), version)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: certificates.directory + "/echoed")), Data(pattern(seed: 3, count: 300_000)), version)
        }
        let program = """
        import http.client, ssl, sys
        context = ssl.create_default_context(cafile=sys.argv[2])
        connection = http.client.HTTPSConnection("localhost", int(sys.argv[1]), context=context)
        out = []
        for i in range(3):
            connection.request("GET", "/hello")
            out.append(connection.getresponse().read().decode())
        connection.request("POST", "/echo", body=iter([b"chunk-one ", b"chunk-two"]), encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
        out.append(connection.getresponse().read().decode())
        print("|".join(out))
        """
        let python = String(decoding: try runPython(program, arguments: [String(port), ca]), as: UTF8.self)
        XCTAssertEqual(python.trimmingCharacters(in: .whitespacesAndNewlines), "hello over tls|hello over tls|hello over tls|chunk-one chunk-two")
        let request = "GET /hello HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n"
        let sClient = try shell("printf '\(request)' | openssl s_client -connect 127.0.0.1:\(port) -ign_eof -CAfile '\(ca)' -servername localhost 2>&1")
        XCTAssertTrue(sClient.output.contains("hello over tls"), sClient.output)
        XCTAssertTrue(sClient.output.contains("Verify return code: 0 (ok)"), sClient.output)

        // The last connection's counters are added when its handshake ends, which the client
        // saw first: scrape until the four connections (at least) are counted.
        let text = try scrapeMetrics(server) { self.metricValue($0, "spindle_tls_handshakes_total") >= 4 }
        return (metricValue(text, "spindle_tls_handshakes_total"), metricValue(text, "spindle_tls_handshake_failures_total"),
                metricValue(text, "spindle_tls_kernel_transmit_total"))
    }
}

/// A swift-log handler that keeps the messages it is given.
private struct LineCollector: LogHandler {
    let lines: Locked<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { lines.withLock { $0.append(event.message.description) } }
}
