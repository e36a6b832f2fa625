// The kTLS probe against what the kernel itself lists: after the probe (which makes the kernel
// load a `tls` module if it has one), `tcp_available_ulp` names `tls` exactly when the probe
// found it. On the kernels Spindle was built on it does not (the server still logs which case
// it is in); on one with the module, the same assertions hold the other way round.
import Foundation
import SpindleTLS
import XCTest

final class KernelTLSTests: XCTestCase {
    func testTheProbeAgreesWithTheKernelsListOfUpperLayerProtocols() throws {
        let availability = KernelTLS.availability
        let listed = try String(contentsOfFile: "/proc/sys/net/ipv4/tcp_available_ulp", encoding: .utf8)
            .split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("tls")
        switch availability {
        case .available:
            XCTAssertTrue(listed, "the probe found kTLS, but tcp_available_ulp does not list tls")
        case .unavailable(let reason):
            XCTAssertFalse(listed, "tcp_available_ulp lists tls, but the probe says: \(reason)")
            XCTAssertTrue(reason.contains("ENOENT"), "on a kernel without the module the probe sees ENOENT: \(reason)")
        }
        XCTAssertEqual(KernelTLS.availability, availability, "probed once")
    }
}
