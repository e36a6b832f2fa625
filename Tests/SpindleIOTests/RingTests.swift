import XCTest
import CSpindle
import SpindleIO

final class RingTests: XCTestCase {
    /// The ring itself is io_uring's alone: the epoll pass of the suite has nothing to add here
    /// (the default pass runs these).
    override func setUpWithError() throws {
        try super.setUpWithError()
        try SuiteBackend.skipOnEpoll("RingTests exercise io_uring's Ring directly; they run in the io_uring pass")
    }

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
        XCTAssertTrue(Ring.unavailable(errno: EMFILE).description.contains("ulimit -n"))
        let other = Ring.unavailable(errno: EINVAL)
        XCTAssertEqual(other.errno, EINVAL)
        XCTAssertTrue(other.description.hasPrefix("Spindle cannot use io_uring: io_uring_setup failed with EINVAL"), other.description)
    }

    /// The feature summary names every probed feature with its value (what a startup log shows).
    func testFeatureDescriptionListsEveryFeature() throws {
        let ring = try Ring(entries: 8)
        XCTAssertEqual(ring.features.description,
                       "multishot-accept=yes multishot-recv=yes buffer-rings=yes send-zc=yes linked-timeouts=yes nodrop=yes fast-poll=yes")
    }
}
