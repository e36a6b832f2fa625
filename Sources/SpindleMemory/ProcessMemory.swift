#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A snapshot of this process's memory use, from `/proc/self/status` (the seed's key metrics:
/// RSS and VSZ) plus page-table size. Cost: one small file read (a few µs); not for hot paths.
public struct ProcessMemory: Sendable, CustomStringConvertible {
    /// Resident set size in bytes (`VmRSS`).
    public var residentBytes: Int
    /// Virtual size in bytes (`VmSize`).
    public var virtualBytes: Int
    /// Page tables in bytes (`VmPTE`): not part of RSS, but real memory.
    public var pageTableBytes: Int
    /// Peak resident set size in bytes (`VmHWM`).
    public var peakResidentBytes: Int
    /// Number of memory mappings (lines of `/proc/self/maps`), to compare with `vm.max_map_count`.
    public var mappings: Int

    /// Reads the current values.
    public static func current() -> ProcessMemory {
        var m = ProcessMemory(residentBytes: 0, virtualBytes: 0, pageTableBytes: 0, peakResidentBytes: 0, mappings: 0)
        if let status = try? readSmallFile("/proc/self/status") {
            for line in status.split(separator: "\n") {
                func kib() -> Int { Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "0").map { $0 * 1024 } ?? 0 }
                if line.hasPrefix("VmRSS:") { m.residentBytes = kib() }
                else if line.hasPrefix("VmSize:") { m.virtualBytes = kib() }
                else if line.hasPrefix("VmPTE:") { m.pageTableBytes = kib() }
                else if line.hasPrefix("VmHWM:") { m.peakResidentBytes = kib() }
            }
        }
        if let maps = try? readSmallFile("/proc/self/maps") {
            m.mappings = maps.utf8.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
        }
        return m
    }

    /// `rss=12.3 MiB vsz=1.2 GiB pte=40 KiB maps=120`.
    public var description: String {
        "rss=\(formatBytes(residentBytes)) vsz=\(formatBytes(virtualBytes)) pte=\(formatBytes(pageTableBytes)) maps=\(mappings)"
    }
}

/// Human-readable bytes with binary units, e.g. `4.1 KiB`.
public func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while abs(value) >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    if unit == 0 { return "\(bytes) B" }
    let rounded = (value * 10).rounded() / 10
    return "\(rounded) \(units[unit])"
}

/// Which allocator serves `malloc` in this process.
public enum Allocator {
    /// True when mimalloc was linked in (the default `Mimalloc` package trait).
    public static var mimallocLinked: Bool { MimallocIntrospection.linked }

    /// True when memory from `malloc` really comes from mimalloc (checked on a live allocation,
    /// not inferred from build flags). Cost: one malloc/free.
    public static var mallocIsMimalloc: Bool {
        guard let p = malloc(64) else { return false }
        defer { free(p) }
        return MimallocIntrospection.owns(p)
    }

    /// `"mimalloc 2.0.9"` when mimalloc serves malloc, else `"system malloc"` (glibc, or whatever
    /// LD_PRELOAD put in front of it).
    public static var activeName: String {
        if mallocIsMimalloc {
            let v = MimallocIntrospection.version
            return "mimalloc \(v / 100).\(v / 10 % 10).\(v % 10)"
        }
        return "system malloc"
    }
}
