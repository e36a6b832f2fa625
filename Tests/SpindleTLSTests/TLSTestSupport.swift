// Helpers of the TLS tests: certificates made at test time with the `openssl` command line in a
// temporary directory, a TLS server on 127.0.0.1:0 stopped with a bounded wait, shell commands
// (openssl s_client, curl) with a timeout, and the per-test descriptor-leak check.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Spindle
import SpindleFibers
import SpindleTLS
import SpindleTestSupport
import XCTest

/// A temporary directory of certificates: an ECDSA P-256 self-signed pair per name, each valid
/// for `localhost`, 127.0.0.1 and its own name. Removed by `remove()`.
final class Certificates {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "spindle-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func certificate(_ name: String) -> String { "\(directory)/\(name).crt" }
    func key(_ name: String) -> String { "\(directory)/\(name).key" }

    /// Makes `name.crt` and `name.key` (ECDSA P-256, CN=`name`) with the openssl command line.
    @discardableResult
    func make(_ name: String) throws -> TLSConfiguration.Certificate {
        let command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
            + "-subj '/CN=\(name)' -addext 'subjectAltName=DNS:\(name),DNS:localhost,IP:127.0.0.1' "
            + "-keyout '\(key(name))' -out '\(certificate(name))' 2>&1"
        let (status, output) = try shell(command)
        guard status == 0 else { throw TestFailure("openssl req failed (\(status)): \(output)") }
        return TLSConfiguration.Certificate(chainPath: certificate(name), privateKeyPath: key(name), serverNames: [name])
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// Runs `command` under `/bin/sh -c` with a timeout (status 124 when killed); standard error is
/// the test's unless the command redirects it.
func shell(_ command: String, timeoutSeconds: Int = 30) throws -> (status: Int32, output: String) {
    try ReadmeCommands.run(command, timeoutSeconds: timeoutSeconds)
}

/// The routes every TLS test serves.
func installRoutes(_ router: Router<Handler>) {
    router.on(.get, "/hello") { _, _ in .text("hello over tls") }
    router.on(.get, "/big") { _, _ in .bytes(pattern(seed: 7, count: 1 << 20)) }
    router.on(.post, "/echo") { request, _ in
        var body: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try request.body.read(into: $0) }
            if n == 0 { break }
            body.append(contentsOf: chunk[..<n])
        }
        return .bytes(body)
    }
    router.on(.get, "/sleep") { _, _ in
        try Fiber.sleep(for: .milliseconds(100))
        return .text("slept")
    }
    // A never-ending event stream: one event every 20 ms until the client is gone.
    router.on(.get, "/ticks") { request, _ in
        .serverSentEvents(for: request, heartbeat: nil) { stream in
            var n = 0
            while stream.isConnected {
                try stream.send(event: "tick", id: String(n), data: String(n))
                n += 1
                try Fiber.sleep(for: .milliseconds(20))
            }
        }
    }
    // WebSocket echo with a second fiber writing beside it: `tick N` every 5 ms (20 of them)
    // while the session reads, so a read parked in the stream and writes from another fiber
    // share it (what a chat member's reader and writer do).
    router.webSocket("/ws") { socket, _ in
        let ticker = Fiber.spawn(name: "ticker") {
            for n in 0..<20 {
                try socket.send("tick \(n)")
                try Fiber.sleep(for: .milliseconds(5))
            }
        }
        defer { ticker.cancel() }
        while let message = try socket.receive() {
            switch message {
            case .text(let text): try socket.send("echo " + text)
            case .binary(let bytes): try socket.send(bytes)
            }
        }
    }
    // Creates the file named by `?mark=` (the test's sign that the handler runs), then sleeps 1 s.
    router.on(.get, "/mark-then-sleep") { request, _ in
        if let path = request.queryParameter("mark") { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        try Fiber.sleep(for: .seconds(1))
        return .text("slept")
    }
}

/// Base class of the TLS tests: prepares the process once, makes a certificate directory,
/// stops every server a test started (bounded), and checks that exactly the descriptors open
/// before the test are open after it.
class TLSTestCase: XCTestCase {
    private static let prepared: Void = prepareForDescriptorCounting {
        // A first TLS server, asked once by python3's ssl and stopped as tearDown stops them:
        // what a first server, a first TLS exchange and a first bounded wait open once for the
        // rest of the process is open before the first test counts.
        guard let certificates = try? Certificates(), let certificate = try? certificates.make("localhost") else { return }
        defer { certificates.remove() }
        let router = Router<Handler>()
        installRoutes(router)
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 2
        configuration.tls = TLSConfiguration(certificateChainPath: certificate.chainPath, privateKeyPath: certificate.privateKeyPath)
        let server = Server(router: router, configuration: configuration)
        guard let address = try? server.start() else { return }
        _ = try? runPython("""
        import socket, ssl, sys
        context = ssl.create_default_context(cafile=sys.argv[2])
        with context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost") as s:
            s.sendall(b"GET /hello HTTP/1.1\\r\\nHost: a\\r\\nConnection: close\\r\\n\\r\\n")
            while s.recv(4096):
                pass
        """, arguments: [String(address.port), certificate.chainPath])
        server.stop()
        _ = try? withTimeout(.seconds(30), "Server.wait() after stop()") { server.wait() }
    }

    private var descriptorsBefore = DescriptorSnapshot([:])
    private var objectsBefore = LiveObjectSnapshot()
    private(set) var servers: [Server] = []
    private(set) var certificates: Certificates! = nil

    override func setUpWithError() throws {
        try super.setUpWithError()
        Self.prepared
        descriptorsBefore = DescriptorSnapshot()
        objectsBefore = LiveObjectSnapshot()
        certificates = try Certificates()
    }

    /// Starts a TLS server (two workers, short timeouts) of `installRoutes` with `tls`; returns its port.
    func startServer(tls: TLSConfiguration, logger: Logger = Logger(label: "spindle"),
                     configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> Int {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 2
        configuration.idleTimeout = .seconds(5)
        configuration.shutdownGracePeriod = .seconds(2)
        configuration.tls = tls
        configure(&configuration)
        let router = Router<Handler>()
        installRoutes(router)
        let server = Server(router: router, configuration: configuration, logger: logger)
        let port = try server.start().port
        servers.append(server)
        return port
    }

    /// `server`'s metrics (its admin listener: start it with `adminPort = 0`), scraped with curl
    /// until `condition` holds (at most 2 s; then the last scrape).
    func scrapeMetrics(_ server: Server, until condition: (String) -> Bool = { _ in true }) throws -> String {
        guard let adminPort = server.adminAddress?.port else { throw TestFailure("the server has no admin listener (adminPort)") }
        var text = ""
        for _ in 0..<100 {
            let scrape = try shell("curl -sS http://127.0.0.1:\(adminPort)/metrics")
            guard scrape.status == 0 else { throw TestFailure("scrape: \(scrape.output)") }
            text = scrape.output
            if condition(text) { break }
            usleep(20_000)
        }
        return text
    }

    /// The value of the sample `series` (its name and labels as printed) in an exposition, -1
    /// when it is missing.
    func metricValue(_ text: String, _ series: String) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? -1
        }
        return -1
    }

    /// A one-certificate configuration (`name`, made now) with a short handshake timeout.
    func singleCertificate(_ name: String = "localhost", handshakeTimeout: Duration = .seconds(2)) throws -> TLSConfiguration {
        let certificate = try certificates.make(name)
        var tls = TLSConfiguration(certificateChainPath: certificate.chainPath, privateKeyPath: certificate.privateKeyPath)
        tls.handshakeTimeout = handshakeTimeout
        return tls
    }

    override func tearDown() {
        for server in servers {
            server.stop()
            do { try withTimeout(.seconds(30), "Server.wait() after stop()") { server.wait() } } catch { XCTFail("\(error)") }
        }
        servers.removeAll()
        certificates?.remove()
        let comparison = descriptorsBefore.compareWithNow(grace: .seconds(2))
        XCTAssertEqual(comparison.after, comparison.before, comparison.message)
        if let leak = objectsBefore.leakNow(grace: .seconds(2)) { XCTFail(leak) }
        super.tearDown()
    }
}
