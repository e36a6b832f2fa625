// Descriptor counting for leak checks: the process's open descriptors from /proc/self/fd, the
// descriptor limit, a one-time preparation that opens the descriptors process-wide facilities
// keep for the rest of the process, and a before/after comparison for one test.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import SpindleFibers

/// The process's open descriptors (number → what it points at), from /proc/self/fd.
public func openFileDescriptors() -> [Int32: String] {
    var result: [Int32: String] = [:]
    guard let dir = opendir("/proc/self/fd") else { return result }
    let own = dirfd(dir)
    let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
    while let entry = readdir(dir) {
        // `d_name` is declared as 256 bytes, but a record ends `d_reclen` bytes after its start
        // (the name's NUL and padding): read the name in place, within the record, never by
        // copying the whole array (that reads past a short record at the end of the buffer).
        let record = UnsafeRawBufferPointer(start: UnsafeRawPointer(entry), count: Int(entry.pointee.d_reclen))
        let name = String(decoding: record[nameOffset...].prefix { $0 != 0 }, as: UTF8.self)
        guard let fd = Int32(name), fd != own else { continue }
        var target = [CChar](repeating: 0, count: 512)
        let n = readlink("/proc/self/fd/\(name)", &target, 511)
        result[fd] = n > 0 ? String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    }
    closedir(dir)
    return result
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (20,000 on this machine kind); returns it.
@discardableResult
public func raiseDescriptorLimit() -> Int {
    var limit = rlimit()
    precondition(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, "getrlimit failed")
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        precondition(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, "setrlimit failed: \(errno)")
    }
    return Int(limit.rlim_cur)
}

/// Waits until the number of open descriptors has not changed for `stableFor` (checked every
/// 10 ms), or `atMost` has passed: some facilities open theirs lazily on background threads.
public func waitForStableDescriptorCount(stableFor: Duration = .milliseconds(200), atMost: Duration = .seconds(3)) {
    var last = openFileDescriptors().count
    var stableSince = Deadline.now
    let end = Deadline.now + atMost
    while Deadline.now < end && Deadline.now - stableSince < stableFor {
        usleep(10_000)
        let now = openFileDescriptors().count
        if now != last { last = now; stableSince = .now }
    }
}

/// Prepares the process for per-test descriptor counts (call it once): raises the descriptor
/// limit, starts the process-wide facilities that keep a descriptor open for the rest of the
/// process (Foundation's child-process monitor, Dispatch, a Foundation thread), then runs
/// `warmUp` (the test target's own such facilities) and waits until the count is stable.
public func prepareForDescriptorCounting(warmUp: () -> Void) {
    raiseDescriptorLimit()
    for _ in 0..<2 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        process.standardInput = Pipe()
        try? process.run()
        process.waitUntilExit()
    }
    // libdispatch opens a timerfd per clock on first use and keeps it: uptime (DispatchTime),
    // wall time (DispatchWallTime), and the monotonic clock Swift concurrency's Task.sleep uses.
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(1)) { done.signal() }
    done.wait()
    DispatchQueue.global().asyncAfter(wallDeadline: .now() + .milliseconds(1)) { done.signal() }
    done.wait()
    Task {
        try? await Task.sleep(for: .milliseconds(1))
        done.signal()
    }
    done.wait()
    let thread = Thread { done.signal() }
    thread.start()
    done.wait()
    warmUp()
    waitForStableDescriptorCount()
}

/// The descriptors open at one moment (e.g. a test's start), to compare with those open later.
public struct DescriptorSnapshot {
    /// Number → what it points at.
    public let descriptors: [Int32: String]

    /// The descriptors open now, or the given ones.
    public init(_ descriptors: [Int32: String] = openFileDescriptors()) { self.descriptors = descriptors }

    /// Compares with the descriptors open now. When the counts differ, first waits at most
    /// `grace` for them to match (descriptors closed by threads that are finishing).
    public func compareWithNow(grace: Duration) -> DescriptorComparison {
        var after = openFileDescriptors()
        if after.count != descriptors.count {
            _ = waitUntil(timeout: grace) { openFileDescriptors().count == descriptors.count }
            after = openFileDescriptors()
        }
        let leaked = after.filter { descriptors[$0.key] != $0.value }.sorted { $0.key < $1.key }
        let lost = descriptors.filter { after[$0.key] == nil }.sorted { $0.key < $1.key }
        let message = "descriptor leak: \(descriptors.count) open before the test, \(after.count) after; new: \(leaked.prefix(20).map { "\($0.key)→\($0.value)" }), gone: \(lost.prefix(20).map { "\($0.key)→\($0.value)" })"
        return DescriptorComparison(before: descriptors.count, after: after.count, message: message)
    }
}

/// How many descriptors were open before and after, and a message naming the ones that differ.
public struct DescriptorComparison {
    /// The count in the snapshot.
    public let before: Int
    /// The count at the comparison.
    public let after: Int
    /// The counts and up to 20 new and 20 gone descriptors, for an assertion's message.
    public let message: String
}
