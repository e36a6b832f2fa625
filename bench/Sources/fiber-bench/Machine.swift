#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CFiberBench
import SpindleMemory

/// A description of where the numbers were taken, printed above the table.
enum Machine {
    /// `model name` from /proc/cpuinfo.
    static var cpuModel: String {
        let info = readTextFile("/proc/cpuinfo") ?? ""
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return String(line[line.index(after: colon)...].drop { $0 == " " })
            }
        }
        return "unknown CPU"
    }

    /// Kernel release (`uname -r`).
    static var kernel: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// UTC date and time, e.g. `2026-11-25 16:02 UTC`.
    static var date: String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M UTC", &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The first three fields of /proc/loadavg.
    static var loadAverage: String {
        (readTextFile("/proc/loadavg") ?? "").split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// Multi-line summary.
    static var summary: String {
        """
        date       \(date)
        cpu        \(cpuModel), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) online, \(bench_allowed_cpus()) allowed for this process
        kernel     \(kernel)
        allocator  \(Allocator.activeName)
        load       \(loadAverage) (1/5/15 min; other busy processes skew the numbers)
        max maps   \(readTextFile("/proc/sys/vm/max_map_count").map { String($0.filter { !$0.isWhitespace }) } ?? "?") (vm.max_map_count)
        """
    }
}
