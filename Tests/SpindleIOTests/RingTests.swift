import XCTest
import CSpindle
import SpindleIO

final class RingTests: XCTestCase {
    /// The kernel here has every feature Spindle uses; nothing may be skipped on this machine kind.
    func testRingSetsUpWithBestFlagsAndFeatures() throws {
        let ring = try Ring(entries: 64)
        XCTAssertTrue(ring.features.noDrop, "\(ring.features)")
        XCTAssertTrue(ring.features.linkedTimeouts, "\(ring.features)")
        XCTAssertTrue(ring.features.multishotAccept, "\(ring.features)")
        XCTAssertTrue(ring.features.providedBufferRings, "\(ring.features)")
        XCTAssertTrue(ring.features.multishotRecv, "\(ring.features)")
        XCTAssertNotEqual(ring.setupFlags & IORING_SETUP_DEFER_TASKRUN, 0, "expected DEFER_TASKRUN on kernel \(Ring.kernelRelease())")
    }

    func testUnavailableErrorsNameTheCause() {
        XCTAssertTrue(Ring.unavailable(errno: ENOSYS).description.contains("kernel has no io_uring"))
        XCTAssertTrue(Ring.unavailable(errno: EPERM).description.contains("seccomp"))
        XCTAssertTrue(Ring.unavailable(errno: ENOMEM).description.contains("RLIMIT_MEMLOCK"))
    }
}
