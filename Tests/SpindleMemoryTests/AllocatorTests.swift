// Which allocator serves malloc (mimalloc in the default build, via the Mimalloc trait) and the
// process memory snapshot.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleMemory
import XCTest

/// True under AddressSanitizer (`make test-asan`), whose own allocator then serves malloc. Found
/// at run time by its runtime's entry point: Swift has no compile-time condition for sanitizers.
let addressSanitizerIsActive = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil

final class AllocatorTests: XCTestCase {
    func testMimallocServesMallocInTheDefaultBuild() throws {
        try XCTSkipIf(addressSanitizerIsActive, "under AddressSanitizer, ASan's allocator serves malloc, not mimalloc")
        XCTAssertTrue(Allocator.mimallocLinked, "the default Mimalloc trait links mimalloc")
        XCTAssertTrue(Allocator.mallocIsMimalloc, "malloc must be served by mimalloc (checked on a live allocation)")
        let name = Allocator.activeName
        XCTAssertTrue(name.hasPrefix("mimalloc"), "activeName is \(name.debugDescription)")
        // "mimalloc X.Y.Z"
        let version = name.dropFirst("mimalloc ".count).split(separator: ".")
        XCTAssertEqual(version.count, 3, name)
        XCTAssertTrue(version.allSatisfy { Int($0) != nil }, name)
        print("allocator: \(name)")
    }

    func testProcessMemorySnapshot() {
        let m = ProcessMemory.current()
        XCTAssertGreaterThan(m.residentBytes, 1 << 20)
        XCTAssertGreaterThanOrEqual(m.virtualBytes, m.residentBytes)
        XCTAssertGreaterThanOrEqual(m.peakResidentBytes, m.residentBytes)
        XCTAssertGreaterThan(m.pageTableBytes, 0)
        XCTAssertGreaterThan(m.mappings, 10)
        XCTAssertEqual(m.residentBytes % 1024, 0)
        XCTAssertTrue(m.description.hasPrefix("rss="), m.description)
        XCTAssertTrue(m.description.contains(" maps=\(m.mappings)"), m.description)
    }

    /// The process-wide figures move with a 64 MiB mapping: virtual size when mapped, resident
    /// size when touched and again when unmapped. Other threads of the test process (ASan's,
    /// earlier tests' exiting workers) map and unmap too, and can hide a step of one reading, so
    /// the measurement is taken up to five times and the first clean one is checked.
    func testProcessMemorySeesAllocations() {
        let size = 64 << 20
        struct Reading { var before, mapped, touched, after: ProcessMemory }
        func measure() -> Reading {
            let before = ProcessMemory.current()
            let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
            XCTAssertNotEqual(p, MAP_FAILED)
            let mapped = ProcessMemory.current()
            memset(p, 1, size)
            let touched = ProcessMemory.current()
            munmap(p, size)
            return Reading(before: before, mapped: mapped, touched: touched, after: ProcessMemory.current())
        }
        func holds(_ r: Reading) -> Bool {
            r.mapped.virtualBytes - r.before.virtualBytes >= size
                && r.mapped.residentBytes - r.before.residentBytes < size / 4
                && r.touched.residentBytes - r.before.residentBytes >= size * 9 / 10
                && r.touched.residentBytes - r.after.residentBytes >= size * 9 / 10
        }
        var r = measure()
        for _ in 1..<5 where !holds(r) { r = measure() }
        XCTAssertGreaterThanOrEqual(r.mapped.virtualBytes - r.before.virtualBytes, size)
        XCTAssertLessThan(r.mapped.residentBytes - r.before.residentBytes, size / 4, "untouched memory is not resident")
        XCTAssertGreaterThanOrEqual(r.touched.residentBytes - r.before.residentBytes, size * 9 / 10)
        XCTAssertGreaterThanOrEqual(r.touched.residentBytes - r.after.residentBytes, size * 9 / 10)
        XCTAssertGreaterThanOrEqual(r.touched.peakResidentBytes, r.touched.residentBytes)
    }

    func testFormatBytes() {
        XCTAssertEqual(formatBytes(0), "0 B")
        XCTAssertEqual(formatBytes(100), "100 B")
        XCTAssertEqual(formatBytes(1023), "1023 B")
        XCTAssertEqual(formatBytes(1024), "1.0 KiB")
        XCTAssertEqual(formatBytes(1536), "1.5 KiB")
        XCTAssertEqual(formatBytes(4198), "4.1 KiB")
        XCTAssertEqual(formatBytes(3 << 20), "3.0 MiB")
        XCTAssertEqual(formatBytes(5 << 30), "5.0 GiB")
    }

    func testSystemCallErrorNamesCallAndErrno() {
        XCTAssertEqual(SystemCallError("mmap", errno: ENOMEM).description, "mmap failed: ENOMEM (Cannot allocate memory)")
        XCTAssertEqual(SystemCallError("open(/x)", errno: ENOENT).description, "open(/x) failed: ENOENT (No such file or directory)")
        XCTAssertEqual(Errno.name(EAGAIN), "EAGAIN")
        XCTAssertEqual(Errno.name(ECANCELED), "ECANCELED")
        XCTAssertEqual(Errno.name(9999), "errno 9999")
        XCTAssertNotEqual(SystemCallError("mmap", errno: ENOMEM), SystemCallError("mmap", errno: EINVAL))
    }
}
