// Hosts to listen on: numeric IPv4/IPv6 addresses parse without a lookup, `localhost` resolves
// through /etc/hosts, a listener binds the first resolved address, and a host that resolves to
// nothing fails with an error naming it. No test here sends a DNS query: the names are
// /etc/hosts entries or longer than DNS allows (the resolver refuses them before sending).
#if canImport(Glibc)
import Glibc
#endif
import SpindleIO
import XCTest

final class HostResolutionTests: XCTestCase {
    func testNumericHostsResolveToThemselves() throws {
        let cases: [(host: String, port: Int, expected: String)] = [
            ("127.0.0.1", 80, "127.0.0.1:80"),
            ("0.0.0.0", 8080, "0.0.0.0:8080"),
            ("::1", 443, "[::1]:443"),
            ("[::1]", 443, "[::1]:443"),
            ("::", 0, "[::]:0"),
            ("fe80::1", 1, "[fe80::1]:1"),
        ]
        for (host, port, expected) in cases {
            XCTAssertEqual(try SocketAddress.resolve(host: host, port: port).map(\.description), [expected], host)
        }
    }

    func testLocalhostResolvesToLoopbackAddresses() throws {
        let addresses = try SocketAddress.resolve(host: "localhost", port: 8080)
        XCTAssertFalse(addresses.isEmpty)
        for address in addresses {
            XCTAssertTrue(address.description.hasPrefix("127.") || address.description == "[::1]:8080", "localhost → \(address)")
            XCTAssertEqual(address.port, 8080)
        }
        XCTAssertEqual(Set(addresses.map(\.description)).count, addresses.count, "duplicates in \(addresses)")
    }

    func testHostsThatResolveToNothingThrowNamingTheHost() {
        let tooLong = String(repeating: "a", count: 1100) + ".invalid"
        let cases: [(host: String, reason: String?)] = [
            ("", "the host is empty"),
            ("[]", "the host is empty"),
            ("a\u{0}b", "the host contains a NUL byte"),
            (tooLong, nil),  // the resolver's own text
        ]
        for (host, reason) in cases {
            XCTAssertThrowsError(try SocketAddress.resolve(host: host, port: 80), host.prefix(20).debugDescription) { error in
                guard let error = error as? HostResolutionError else { return XCTFail("\(type(of: error)): \(error)") }
                XCTAssertEqual(error.host, host)
                if let reason { XCTAssertEqual(error.reason, reason) } else { XCTAssertFalse(error.reason.isEmpty) }
                XCTAssertTrue(error.description.hasPrefix("cannot listen on host \"\(host)\": \(error.reason)"), error.description)
            }
        }
    }

    /// A listener on `localhost` binds a loopback address with a real port; on `::1` it binds
    /// the IPv6 loopback; a taken port gives the bind error, not a resolution error.
    func testListenersBindHostNamesAndIPv6() throws {
        let byName = try TCPListener(host: "localhost", port: 0)
        defer { byName.close() }
        XCTAssertNotEqual(byName.address.port, 0)
        XCTAssertTrue(byName.address.description.hasPrefix("127.") || byName.address.description.hasPrefix("[::1]:"), "\(byName.address)")

        let ipv6 = try TCPListener(host: "::1", port: 0)
        defer { ipv6.close() }
        XCTAssertEqual(ipv6.address.family, AF_INET6)
        XCTAssertEqual(ipv6.address.description, "[::1]:\(ipv6.address.port)")

        let taken = try TCPListener(host: "127.0.0.1", port: 0, reusePort: false)
        defer { taken.close() }
        XCTAssertThrowsError(try TCPListener(host: "127.0.0.1", port: taken.address.port, reusePort: false)) { error in
            XCTAssertEqual((error as? IOError)?.errno, EADDRINUSE, "\(error)")
        }
    }
}
