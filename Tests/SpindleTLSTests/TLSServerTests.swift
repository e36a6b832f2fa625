// The TLS server with real clients, all on 127.0.0.1: openssl s_client (TLS 1.2 and 1.3, ALPN,
// resumption, SNI), curl and Python's ssl module, configuration errors, and clients that break
// the handshake (garbage, a stall halfway, a close halfway) — each costs its own connection
// only. Certificates are made at test time (TLSTestSupport.swift). Runs on whichever I/O
// backend SPINDLE_IO selects (make test runs this suite on both).
#if canImport(Glibc)
import Glibc
#endif
import Configuration
import Foundation
import Spindle
import SpindleFibers
import SpindleTLS
import SpindleTestSupport
import XCTest

final class TLSServerTests: TLSTestCase {
    private let request = "GET /hello HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n"

    /// `openssl s_client` against `port` with `options`, sending one request that closes the
    /// connection; returns everything it printed.
    private func sClient(_ port: Int, _ options: String) throws -> String {
        let (_, output) = try shell("printf '\(request)' | openssl s_client -connect 127.0.0.1:\(port) -ign_eof \(options) 2>&1")
        return output
    }

    // MARK: - Configuration

    func testMissingFilesAndAMismatchedKeyAreReportedByName() throws {
        let a = try certificates.make("a.test")
        let b = try certificates.make("b.test")
        let missing = certificates.directory + "/missing.crt"
        XCTAssertThrowsError(try TLSContext(configuration: TLSConfiguration(certificateChainPath: missing, privateKeyPath: a.privateKeyPath))) { error in
            XCTAssertEqual((error as? TLSError)?.kind, .configuration)
            XCTAssertTrue("\(error)".contains(missing) && "\(error)".contains("No such file"), "\(error)")
        }
        XCTAssertThrowsError(try TLSContext(configuration: TLSConfiguration(certificateChainPath: a.chainPath, privateKeyPath: b.privateKeyPath))) { error in
            XCTAssertEqual((error as? TLSError)?.kind, .configuration)
            XCTAssertTrue("\(error)".contains("does not match") || "\(error)".contains("not the certificate's"), "\(error)")
        }
        XCTAssertThrowsError(try TLSContext(configuration: TLSConfiguration(certificateChainPath: a.privateKeyPath, privateKeyPath: a.privateKeyPath))) { error in
            XCTAssertTrue("\(error)".contains("no usable certificate chain"), "\(error)")
        }
        XCTAssertThrowsError(try TLSContext(configuration: TLSConfiguration(certificates: []))) { error in
            XCTAssertTrue("\(error)".contains("no certificate"), "\(error)")
        }
        // The server refuses to start (before binding) with the same message.
        XCTAssertThrowsError(try startServer(tls: TLSConfiguration(certificateChainPath: a.chainPath, privateKeyPath: b.privateKeyPath))) { error in
            XCTAssertTrue(error is TLSError, "\(error)")
        }
    }

    func testConfigurationKeysTurnTLSOn() throws {
        let certificate = try certificates.make("localhost")
        func configuration(_ environment: [String: String]) throws -> ServerConfiguration {
            try ServerConfiguration(config: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment)))
        }
        XCTAssertNil(try configuration([:]).tls)
        let read = try configuration(["SPINDLE_TLS_CERTIFICATE_CHAIN": certificate.chainPath, "SPINDLE_TLS_PRIVATE_KEY": certificate.privateKeyPath,
                                      "SPINDLE_TLS_HANDSHAKE_TIMEOUT": "250ms"])
        XCTAssertEqual(read.tls?.certificates.first?.chainPath, certificate.chainPath)
        XCTAssertEqual(read.tls?.certificates.first?.privateKeyPath, certificate.privateKeyPath)
        XCTAssertEqual(read.tls?.handshakeTimeout, .milliseconds(250))
        XCTAssertThrowsError(try configuration(["SPINDLE_TLS_CERTIFICATE_CHAIN": certificate.chainPath])) { error in
            XCTAssertEqual((error as? ServerConfigurationError)?.key, "spindle.tls.privateKey", "\(error)")
        }
        XCTAssertThrowsError(try configuration(["SPINDLE_TLS_PRIVATE_KEY": certificate.privateKeyPath])) { error in
            XCTAssertEqual((error as? ServerConfigurationError)?.key, "spindle.tls.certificateChain", "\(error)")
        }
        XCTAssertThrowsError(try configuration(["SPINDLE_TLS_HANDSHAKE_TIMEOUT": "1s"])) { error in
            XCTAssertEqual((error as? ServerConfigurationError)?.key, "spindle.tls.handshakeTimeout", "\(error)")
        }
        let port = try startServer(tls: try XCTUnwrap(read.tls))
        let (status, output) = try shell("curl -sS --http1.1 --cacert '\(certificate.chainPath)' https://localhost:\(port)/hello")
        XCTAssertEqual(status, 0)
        XCTAssertEqual(output, "hello over tls")
    }

    func testConfigurationKeysForSeveralCertificatesAndTheOptions() throws {
        let a = try certificates.make("a.test")
        let b = try certificates.make("b.test")
        func configuration(_ environment: [String: String]) throws -> ServerConfiguration {
            try ServerConfiguration(config: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment)))
        }
        let base = ["SPINDLE_TLS_CERTIFICATE_CHAIN": a.chainPath, "SPINDLE_TLS_PRIVATE_KEY": a.privateKeyPath]
        let read = try configuration(base.merging([
            "SPINDLE_TLS_SERVER_NAMES": "a.test, www.a.test",
            "SPINDLE_TLS_MORE_CERTIFICATES": "\(b.chainPath), \(b.privateKeyPath), b.test, *.B.test ;",
            "SPINDLE_TLS_MINIMUM_VERSION": "1.3",
            "SPINDLE_TLS_SESSION_RESUMPTION": "off",
            "SPINDLE_TLS_KERNEL_TLS": "never",
            "SPINDLE_TLS_CIPHERS": "ECDHE-ECDSA-AES128-GCM-SHA256",
        ]) { $1 })
        let tls = try XCTUnwrap(read.tls)
        XCTAssertEqual(tls.certificates.map(\.chainPath), [a.chainPath, b.chainPath])
        XCTAssertEqual(tls.certificates.map(\.serverNames), [["a.test", "www.a.test"], ["b.test", "*.b.test"]])
        XCTAssertEqual(tls.minimumVersion, .tls13)
        XCTAssertFalse(tls.sessionResumption)
        XCTAssertEqual(tls.kernelTLS, .never)
        XCTAssertEqual(tls.tls12Ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256")
        // Each malformed value is refused by its key, saying what it takes; an option without a
        // certificate too.
        for (name, value, key) in [("SPINDLE_TLS_MINIMUM_VERSION", "1.1", "spindle.tls.minimumVersion"),
                                   ("SPINDLE_TLS_KERNEL_TLS", "sometimes", "spindle.tls.kernelTLS"),
                                   ("SPINDLE_TLS_MORE_CERTIFICATES", "\(b.chainPath),\(b.privateKeyPath)", "spindle.tls.moreCertificates"),
                                   ("SPINDLE_TLS_MORE_CERTIFICATES", ",\(b.privateKeyPath),b.test", "spindle.tls.moreCertificates")] {
            XCTAssertThrowsError(try configuration(base.merging([name: value]) { $1 }), "\(name)=\(value)") { error in
                XCTAssertEqual((error as? ServerConfigurationError)?.key, key, "\(error)")
                XCTAssertFalse((error as? ServerConfigurationError)?.expected.isEmpty ?? true)
            }
        }
        XCTAssertThrowsError(try configuration(["SPINDLE_TLS_KERNEL_TLS": "never"])) { error in
            XCTAssertEqual((error as? ServerConfigurationError)?.key, "spindle.tls.kernelTLS", "\(error)")
        }
        // Served: SNI picks the second certificate by its names; TLS 1.2 is refused.
        let port = try startServer(tls: tls)
        for (name, subject) in [("b.test", "b.test"), ("x.b.test", "b.test"), ("www.a.test", "a.test"), ("other.test", "a.test")] {
            let (_, output) = try shell("printf 'GET /hello HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | openssl s_client -connect 127.0.0.1:\(port) -ign_eof -servername \(name) 2>&1")
            XCTAssertTrue(output.contains("subject=CN = \(subject)"), "\(name): \(output)")
            XCTAssertTrue(output.contains("hello over tls"), "\(name): \(output)")
        }
        let (_, old) = try shell("printf 'GET /hello HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | openssl s_client -connect 127.0.0.1:\(port) -tls1_2 2>&1")
        XCTAssertFalse(old.contains("hello over tls"), old)
    }

    // MARK: - openssl s_client

    func testOpenSSLClientSpeaksTLS12And13WithALPN() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls)
        for version in ["tls1_2", "tls1_3"] {
            let output = try sClient(port, "-\(version) -alpn http/1.1 -CAfile '\(tls.certificates[0].chainPath)' -servername localhost")
            let expected = version == "tls1_2" ? "TLSv1.2" : "TLSv1.3"
            XCTAssertTrue(output.contains("New, \(expected)"), "\(version): \(output)")
            XCTAssertTrue(output.contains("ALPN protocol: http/1.1"), "\(version): \(output)")
            XCTAssertTrue(output.contains("Verify return code: 0 (ok)"), "\(version): \(output)")
            XCTAssertTrue(output.contains("HTTP/1.1 200 OK"), "\(version): \(output)")
            XCTAssertTrue(output.contains("hello over tls"), "\(version): \(output)")
        }
        // TLS 1.1 is refused.
        let old = try sClient(port, "-tls1_1")
        XCTAssertFalse(old.contains("hello over tls"), old)
    }

    func testSessionsAreResumedWithTLS12And13() throws {
        let port = try startServer(tls: try singleCertificate())
        for version in ["tls1_2", "tls1_3"] {
            let session = certificates.directory + "/\(version).session"
            let first = try sClient(port, "-\(version) -sess_out '\(session)'")
            XCTAssertTrue(first.contains("hello over tls"), "\(version): \(first)")
            XCTAssertTrue(first.contains("New, TLS"), "\(version): \(first)")
            let second = try sClient(port, "-\(version) -sess_in '\(session)'")
            XCTAssertTrue(second.contains("Reused, TLS"), "\(version): \(second)")
            XCTAssertTrue(second.contains("hello over tls"), "\(version): \(second)")
        }
    }

    func testServerNameChoosesTheCertificate() throws {
        let a = try certificates.make("a.test")
        let b = try certificates.make("b.test")
        var wildcard = try certificates.make("wild.test")
        wildcard.serverNames = ["*.wild.test"]
        let port = try startServer(tls: TLSConfiguration(certificates: [a, b, wildcard]))
        for (name, subject) in [("a.test", "a.test"), ("b.test", "b.test"), ("x.wild.test", "wild.test"), ("B.TEST", "b.test"), ("other.test", "a.test")] {
            let output = try sClient(port, "-servername \(name)")
            XCTAssertTrue(output.contains("subject=CN = \(subject)"), "\(name): \(output)")
            XCTAssertTrue(output.contains("hello over tls"), "\(name): \(output)")
        }
        let noName = try sClient(port, "-noservername")
        XCTAssertTrue(noName.contains("subject=CN = a.test"), noName)
    }

    // MARK: - curl and Python

    func testCurlVerifiesTheCertificateAndExchangesBodies() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls)
        let ca = tls.certificates[0].chainPath
        let hello = try shell("curl -sS --http1.1 --cacert '\(ca)' https://127.0.0.1:\(port)/hello")
        XCTAssertEqual(hello.status, 0)
        XCTAssertEqual(hello.output, "hello over tls")
        // 1 MiB down, and 300 KB up and back, over several records each, on one connection.
        let upload = certificates.directory + "/upload"
        try Data(pattern(seed: 3, count: 300_000)).write(to: URL(fileURLWithPath: upload))
        let big = try shell("curl -sS --http1.1 --cacert '\(ca)' https://127.0.0.1:\(port)/big -o '\(certificates.directory)/big' "
                            + "--next --cacert '\(ca)' --data-binary @'\(upload)' https://127.0.0.1:\(port)/echo -o '\(certificates.directory)/echoed' "
                            + "-w '%{num_connects}'")
        XCTAssertEqual(big.status, 0)
        XCTAssertEqual(big.output, "0", "the second request reused the connection (curl made \(big.output) new ones for it)")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: certificates.directory + "/big")), Data(pattern(seed: 7, count: 1 << 20)))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: certificates.directory + "/echoed")), Data(pattern(seed: 3, count: 300_000)))
        // A client that does not trust the certificate refuses it.
        let untrusted = try shell("curl -sS --http1.1 https://127.0.0.1:\(port)/hello 2>&1")
        XCTAssertNotEqual(untrusted.status, 0, untrusted.output)
    }

    func testPythonSSLClientKeepsTheConnectionAlive() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls)
        let program = """
        import http.client, ssl, sys
        context = ssl.create_default_context(cafile=sys.argv[2])
        connection = http.client.HTTPSConnection("localhost", int(sys.argv[1]), context=context)
        out = []
        for i in range(5):
            connection.request("GET", "/hello")
            out.append(connection.getresponse().read().decode())
        connection.request("POST", "/echo", body=b"x" * 70000)
        out.append(str(len(connection.getresponse().read())))
        connection.request("POST", "/echo", body=iter([b"chunk-one ", b"chunk-two"]), encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
        out.append(connection.getresponse().read().decode())
        out.append(connection.sock.version())
        out.append(str(connection.sock.selected_alpn_protocol()))
        print("|".join(out))
        """
        let output = String(decoding: try runPython(program, arguments: [String(port), tls.certificates[0].chainPath]), as: UTF8.self)
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines),
                       "hello over tls|hello over tls|hello over tls|hello over tls|hello over tls|70000|chunk-one chunk-two|TLSv1.3|None")
    }

    func testRequestsInOneByteRecordsAndPipelinedRequestsAreAnswered() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls)
        // Each sendall on an SSL socket is a record of its own: a head and a chunked body one byte
        // per record, then three requests pipelined in one record, the last closing.
        let program = """
        import socket, ssl, sys
        context = ssl.create_default_context(cafile=sys.argv[2])
        sock = context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
        sock.settimeout(10)
        request = b"POST /echo HTTP/1.1\\r\\nHost: a\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n6\\r\\n world\\r\\n0\\r\\n\\r\\n"
        for i in range(len(request)):
            sock.sendall(request[i:i + 1])
        pipelined = b"GET /hello HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n" + b"POST /echo HTTP/1.1\\r\\nHost: a\\r\\nContent-Length: 3\\r\\n\\r\\nabc" + b"GET /hello HTTP/1.1\\r\\nHost: a\\r\\nConnection: close\\r\\n\\r\\n"
        sock.sendall(pipelined)
        received = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        bodies = [part.split(b"\\r\\n\\r\\n", 1)[1] for part in received.split(b"HTTP/1.1 200 OK")[1:]]
        print("|".join(body.decode() for body in bodies))
        """
        let output = String(decoding: try runPython(program, arguments: [String(port), tls.certificates[0].chainPath]), as: UTF8.self)
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines), "hello world|hello over tls|abc|hello over tls")
    }

    // MARK: - Broken handshakes

    func testGarbageInsteadOfAClientHelloCostsOneConnection() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls)
        let fd = try connectToLoopback(port: port, timeoutSeconds: 5)
        defer { Glibc.close(fd) }
        try sendAll(fd: fd, bytes("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"))
        let start = Deadline.now
        let answer = readUntilClosed(fd)
        XCTAssertFalse(String(decoding: answer, as: UTF8.self).contains("hello"), "plain HTTP was answered on the TLS port")
        XCTAssertLessThan(milliseconds(since: start), 1_500, "not closed at once")
        try assertServes(port, tls)
    }

    func testAHandshakeStalledHalfwayIsClosedByTheHandshakeTimeout() throws {
        let tls = try singleCertificate(handshakeTimeout: .milliseconds(500))
        let port = try startServer(tls: tls) { $0.adminPort = 0 }
        // A real ClientHello (Python's ssl on memory buffers), the server's answer read, then
        // nothing: the server waits for the client's Finished until its handshake timeout.
        let program = """
        import socket, ssl, sys, time
        context = ssl.create_default_context(cafile=sys.argv[2])
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        sock.sendall(outgoing.read())
        start = time.monotonic()
        answered = 0
        sock.settimeout(10)
        while True:
            data = sock.recv(65536)
            if not data:
                break
            answered += len(data)
        print(answered, int((time.monotonic() - start) * 1000))
        """
        let output = String(decoding: try runPython(program, arguments: [String(port), tls.certificates[0].chainPath]), as: UTF8.self)
        let fields = output.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        XCTAssertEqual(fields.count, 2, output)
        if fields.count == 2 {
            XCTAssertGreaterThan(fields[0], 0, "the server sent no ServerHello")
            XCTAssertGreaterThanOrEqual(fields[1], 400, "closed before the handshake timeout: \(output)")
            XCTAssertLessThan(fields[1], 3_000, "closed long after the handshake timeout: \(output)")
        }
        try assertServes(port, tls)
        // Counted: one handshake timed out (and failed), the one of assertServes completed.
        let timedOut = #"spindle_timeouts_total{kind="handshake"}"#
        let text = try scrapeMetrics(try XCTUnwrap(servers.last)) {
            self.metricValue($0, "spindle_tls_handshakes_total") >= 1 && self.metricValue($0, "spindle_connections_open") == 0
        }
        XCTAssertEqual(metricValue(text, timedOut), 1, text)
        XCTAssertEqual(metricValue(text, "spindle_tls_handshake_failures_total"), 1, text)
        XCTAssertGreaterThanOrEqual(metricValue(text, "spindle_tls_handshakes_total"), 1, text)
        XCTAssertEqual(metricValue(text, "spindle_connections_open"), 0, text)
    }

    func testClientsClosingDuringTheHandshakeCostOneConnectionEach() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls)
        // A record header and half a ClientHello, then close; and a close with nothing sent.
        for (index, prefix) in [[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03] as [UInt8], []].enumerated() {
            for _ in 0..<20 {
                let fd = try connectToLoopback(port: port, timeoutSeconds: 5)
                if !prefix.isEmpty { try sendAll(fd: fd, prefix) }
                if index == 0 { closeWithReset(fd: fd) } else { Glibc.close(fd) }
            }
        }
        // And an openssl client killed after its ClientHello went out.
        _ = try shell("( (sleep 1; echo) | timeout -s KILL 0.3 openssl s_client -connect 127.0.0.1:\(port) >/dev/null 2>&1 ) 2>/dev/null; true")
        try assertServes(port, tls)
    }

    func testAThousandConcurrentTLSConnections() throws {
        // 1,000 handshakes at once take seconds on two cores under AddressSanitizer: a handshake
        // timeout of 2 s would close some of them before they were served.
        let tls = try singleCertificate(handshakeTimeout: .seconds(30))
        let port = try startServer(tls: tls)
        let program = """
        import asyncio, ssl, sys
        context = ssl.create_default_context(cafile=sys.argv[2])
        count = int(sys.argv[3])
        async def main():
            connections = await asyncio.gather(*[asyncio.open_connection("127.0.0.1", int(sys.argv[1]), ssl=context, server_hostname="localhost") for _ in range(count)])
            async def exchange(reader, writer):
                writer.write(b"GET /sleep HTTP/1.1\\r\\nHost: a\\r\\nConnection: close\\r\\n\\r\\n")
                data = await reader.read()
                writer.close()
                return data.endswith(b"slept")
            results = await asyncio.gather(*[exchange(r, w) for r, w in connections])
            print(sum(results))
        asyncio.run(main())
        """
        let count = 1_000
        let output = String(decoding: try runPython(program, arguments: [String(port), tls.certificates[0].chainPath, String(count)], timeout: .seconds(60)), as: UTF8.self)
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines), String(count))
    }

    func testStopClosesIdleAndHandshakingConnectionsAtOnce() throws {
        let tls = try singleCertificate(handshakeTimeout: .seconds(20))
        let port = try startServer(tls: tls) { $0.idleTimeout = .seconds(20) }
        // One connection idle after a request (keep-alive), one that never sends its ClientHello.
        let program = """
        import http.client, ssl, sys
        context = ssl.create_default_context(cafile=sys.argv[2])
        connection = http.client.HTTPSConnection("localhost", int(sys.argv[1]), context=context, timeout=15)
        connection.request("GET", "/hello")
        body = connection.getresponse().read().decode()
        open(sys.argv[3], "w").close()  # answered: the connection is idle from now on
        data = connection.sock.recv(100)
        print(body, len(data))
        """
        let output = Locked<Result<[UInt8], any Error>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        let chain = tls.certificates[0].chainPath
        let answered = certificates.directory + "/idle-client-answered"
        Thread {
            output.set(Result { try runPython(program, arguments: [String(port), chain, answered]) })
            finished.signal()
        }.start()
        let silent = try connectToLoopback(port: port, timeoutSeconds: 5)
        defer { Glibc.close(silent) }
        // Stop once the client has been answered (a fixed sleep was outlasted by a python that
        // starts slowly on a busy machine).
        let answeredBy = Deadline.now + .seconds(20)
        while !FileManager.default.fileExists(atPath: answered) && Deadline.now < answeredBy { Thread.sleep(forTimeInterval: 0.005) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: answered), "the client was never answered")
        let server = servers[0]
        let start = Deadline.now
        server.stop()
        try withTimeout(.seconds(10), "Server.wait() after stop()") { server.wait() }
        XCTAssertLessThan(milliseconds(since: start), 1_500, "the stop waited for idle or handshaking TLS connections")
        XCTAssertEqual(finished.wait(timeout: .now() + 15), .success)
        let text = try output.current.map { String(decoding: try $0.get(), as: UTF8.self) } ?? ""
        XCTAssertEqual(text.trimmingCharacters(in: .whitespacesAndNewlines), "hello over tls 0")
        XCTAssertTrue(readUntilClosed(silent).isEmpty)
    }

    /// A never-ending streamed response (Server-Sent Events) reaches the client over TLS as the
    /// handler writes it: Python's `ssl` reads the head and three events, then closes; the
    /// handler's next writes fail and its connection closes (the descriptor check after the
    /// test sees none left).
    func testServerSentEventsStreamOverTLSUntilTheClientLeaves() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls)
        let output = try runPython("""
        import socket, ssl, sys
        context = ssl.create_default_context(cafile=sys.argv[2])
        with context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10), server_hostname="localhost") as s:
            s.sendall(b"GET /ticks HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n")
            data = b""
            while data.count(b"data: ") < 3 or not data.endswith(b"\\r\\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\\r\\n\\r\\n")
        print(b"content-type: text/event-stream" in head.lower(), b"transfer-encoding: chunked" in head.lower())
        print([line for line in body.decode().replace("\\r", "").split("\\n") if line.startswith("data: ")][:3])
        """, arguments: [String(port), tls.certificates[0].chainPath])
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(text, "True True\n['data: 0', 'data: 1', 'data: 2']")
    }

    /// WebSocket over TLS with Python's `websockets` (wss://, the test CA): the first frame sent
    /// right behind the upgrade request, text and binary echoed, a 200 KiB message (many
    /// records each way), the server's own fiber writing `tick N` messages meanwhile (reads and
    /// writes from two fibers share the stream), and a normal close with its code.
    func testWebSocketsWorkOverTLS() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls)
        let output = try runPython("""
        import asyncio, ssl, sys
        import websockets
        async def main():
            context = ssl.create_default_context(cafile=sys.argv[2])
            async with websockets.connect(f"wss://localhost:{sys.argv[1]}/ws", ssl=context, max_size=2**20) as ws:
                await ws.send("first")
                await ws.send(b"\\x00\\x01\\xff")
                big = "x" * (200 * 1024)
                await ws.send(big)
                echoes, ticks = [], set()
                while len(echoes) < 3 or len(ticks) < 20:
                    message = await asyncio.wait_for(ws.recv(), 10)
                    if isinstance(message, str) and message.startswith("tick "):
                        ticks.add(int(message[5:]))
                    else:
                        echoes.append(message)
                print(echoes[0], echoes[1] == b"\\x00\\x01\\xff", echoes[2] == "echo " + big, sorted(ticks) == list(range(20)))
                await ws.close(code=1000)
                print(ws.close_code)
        asyncio.run(main())
        """, arguments: [String(port), tls.certificates[0].chainPath])
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(text, "echo first True True True\n1000")
    }

    /// A request being handled when the server stops is answered, and its response says
    /// `connection: close` (as on the plain path), so the client does not send another.
    func testAResponseAnsweredDuringAStopSaysConnectionClose() throws {
        let tls = try singleCertificate()
        let port = try startServer(tls: tls) { $0.shutdownGracePeriod = .seconds(5) }
        let program = """
        import http.client, ssl, sys
        context = ssl.create_default_context(cafile=sys.argv[2])
        connection = http.client.HTTPSConnection("localhost", int(sys.argv[1]), context=context, timeout=15)
        connection.request("GET", "/mark-then-sleep?mark=" + sys.argv[3])
        response = connection.getresponse()
        print(response.read().decode(), response.getheader("connection"))
        """
        let output = Locked<Result<[UInt8], any Error>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        let chain = tls.certificates[0].chainPath
        let mark = certificates.directory + "/handler-runs"
        Thread {
            output.set(Result { try runPython(program, arguments: [String(port), chain, mark]) })
            finished.signal()
        }.start()
        // The handler marks, then sleeps 1 s: stop while it sleeps.
        let server = servers[0]
        let deadline = Deadline.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: mark) && Deadline.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: mark), "the handler never ran")
        server.stop()
        try withTimeout(.seconds(10), "Server.wait() after stop()") { server.wait() }
        XCTAssertEqual(finished.wait(timeout: .now() + 15), .success)
        let text = try output.current.map { String(decoding: try $0.get(), as: UTF8.self) } ?? ""
        XCTAssertEqual(text.trimmingCharacters(in: .whitespacesAndNewlines), "slept close")
    }

    // MARK: - Reload

    func testCertificatesAreReloadedUnderLoadWithoutAFailedRequest() throws {
        try certificates.make("a.test")
        try certificates.make("b.test")
        let directory = certificates.directory
        let live = (chain: directory + "/live.crt", key: directory + "/live.key")
        func install(chain: String, key: String) throws {
            // Each file replaced whole (a rename), as a renewal tool does.
            for (from, to) in [(certificates.certificate(chain), live.chain), (certificates.key(key), live.key)] {
                try? FileManager.default.removeItem(atPath: to + ".new")
                try FileManager.default.copyItem(atPath: from, toPath: to + ".new")
                XCTAssertEqual(rename(to + ".new", to), 0)
            }
        }
        try install(chain: "a.test", key: "a.test")
        let bundle = directory + "/both.pem"
        try (String(contentsOfFile: certificates.certificate("a.test"), encoding: .utf8)
             + String(contentsOfFile: certificates.certificate("b.test"), encoding: .utf8)).write(toFile: bundle, atomically: true, encoding: .utf8)
        let port = try startServer(tls: TLSConfiguration(certificateChainPath: live.chain, privateKeyPath: live.key))
        let server = servers[0]
        // New connections one after another (a full handshake each) and one keep-alive
        // connection opened before the reload, used throughout, until the stop file appears.
        let stopFile = directory + "/stop"
        let firstAnswered = directory + "/first-answered"
        let secondAnswered = directory + "/second-answered"
        let program = """
        import http.client, os, ssl, sys, time
        context = ssl.create_default_context(cafile=sys.argv[2])
        kept = http.client.HTTPSConnection("localhost", int(sys.argv[1]), context=context, timeout=10)
        subjects, failures, requests, kept_requests = set(), [], 0, 0
        deadline = time.monotonic() + 30
        # Until the test says stop and more than 20 requests were made (however slow the machine).
        while not (os.path.exists(sys.argv[3]) and requests > 20) and time.monotonic() < deadline:
            try:
                connection = http.client.HTTPSConnection("localhost", int(sys.argv[1]), context=context, timeout=10)
                connection.request("GET", "/hello")
                if connection.getresponse().read() != b"hello over tls":
                    failures.append("body")
                subject = dict(x[0] for x in connection.sock.getpeercert()["subject"])["commonName"]
                subjects.add(subject)
                connection.close()
                requests += 1
                if requests == 1:
                    open(sys.argv[4], "w").close()  # the test reloads only after a request with the first certificate
                if subject == "b.test" and not os.path.exists(sys.argv[5]):
                    open(sys.argv[5], "w").close()  # answered under the reloaded certificate
                kept.request("GET", "/hello")
                if kept.getresponse().read() == b"hello over tls":
                    kept_requests += 1
            except Exception as error:
                failures.append(repr(error))
        print(requests > 20, kept_requests == requests, sorted(subjects), failures)
        """
        let output = Locked<Result<[UInt8], any Error>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread {
            output.set(Result { try runPython(program, arguments: [String(port), bundle, stopFile, firstAnswered, secondAnswered], timeout: .seconds(60)) })
            finished.signal()
        }.start()
        // Reload once the client has been answered under the first certificate (a fixed sleep
        // was not enough for a python that started slowly on a busy machine), and a moment more.
        let answeredBy = Deadline.now + .seconds(20)
        while !FileManager.default.fileExists(atPath: firstAnswered) && Deadline.now < answeredBy { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: firstAnswered), "the client was never answered before the reload")
        Thread.sleep(forTimeInterval: 0.2)
        try install(chain: "b.test", key: "b.test")
        try server.reloadTLSCertificates()
        // The bad renewal comes once the client has been answered under the new certificate.
        let reloadedBy = Deadline.now + .seconds(20)
        while !FileManager.default.fileExists(atPath: secondAnswered) && Deadline.now < reloadedBy { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: secondAnswered), "the client was never answered under the reloaded certificate")
        // A bad renewal (the key of another certificate) is refused; the server keeps b.test.
        try install(chain: "a.test", key: "b.test")
        XCTAssertThrowsError(try server.reloadTLSCertificates()) { error in
            XCTAssertEqual((error as? TLSError)?.kind, .configuration, "\(error)")
        }
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertTrue(FileManager.default.createFile(atPath: stopFile, contents: nil))
        XCTAssertEqual(finished.wait(timeout: .now() + 60), .success)
        let text = try output.current.map { String(decoding: try $0.get(), as: UTF8.self) } ?? ""
        XCTAssertEqual(text.trimmingCharacters(in: .whitespacesAndNewlines), "True True ['a.test', 'b.test'] []")
        let after = try sClient(port, "-servername localhost")
        XCTAssertTrue(after.contains("subject=CN = b.test"), after)
    }

    func testReloadWithoutTLSOrBeforeStartSaysWhy() throws {
        let plain = Server(router: Router<Handler>(), configuration: ServerConfiguration(host: "127.0.0.1", port: 0))
        XCTAssertThrowsError(try plain.reloadTLSCertificates()) { XCTAssertTrue("\($0)".contains("no TLS configuration"), "\($0)") }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.tls = try singleCertificate()
        let notStarted = Server(router: Router<Handler>(), configuration: configuration)
        XCTAssertThrowsError(try notStarted.reloadTLSCertificates()) { XCTAssertTrue("\($0)".contains("has not started"), "\($0)") }
    }

    // MARK: - Helpers

    /// Asserts that a new client (curl) is answered.
    private func assertServes(_ port: Int, _ tls: TLSConfiguration, file: StaticString = #filePath, line: UInt = #line) throws {
        let (status, output) = try shell("curl -sS --http1.1 --cacert '\(tls.certificates[0].chainPath)' https://127.0.0.1:\(port)/hello")
        XCTAssertEqual(status, 0, file: file, line: line)
        XCTAssertEqual(output, "hello over tls", file: file, line: line)
    }

    /// Reads from a blocking socket until the peer closes it (or its receive timeout passes).
    private func readUntilClosed(_ fd: Int32) -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received.append(contentsOf: buffer[..<n])
        }
        return received
    }
}
