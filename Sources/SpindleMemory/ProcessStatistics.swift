// ProcessStatistics: the figures of Prometheus's process collector (descriptors, CPU time, start
// time), read from the kernel at the moment they are asked for. Memory is `ProcessMemory`.

/// What the kernel says about this process besides its memory: open descriptors and their
/// limit, CPU time used, and when it started. The names follow Prometheus's process collector
/// (`process_open_fds`, `process_max_fds`, `process_cpu_seconds_total`,
/// `process_start_time_seconds`). Each field is nil when the kernel would not say.
///
/// Cost: a directory listing of /proc/self/fd (one entry per descriptor, so proportional to
/// the open connections), two small /proc reads and two system calls; allocates. Not for hot
/// paths; any thread.
public struct ProcessStatistics: Sendable {
    /// Open descriptors (sockets, files, pipes, eventfds, rings).
    public var openDescriptors: Int?
    /// The soft descriptor limit (`RLIMIT_NOFILE`); nil also when unlimited.
    public var maximumDescriptors: Int?
    /// User plus system CPU time of all threads since the process started, in seconds.
    public var cpuSeconds: Double?
    /// When the process started, in seconds since the Unix epoch (from /proc: to 1/`CLK_TCK` s).
    public var startTimeSeconds: Double?

    /// Reads the current values.
    public static func current() -> ProcessStatistics {
        ProcessStatistics(openDescriptors: ProcessSyscalls.openDescriptorCount(),
                          maximumDescriptors: ProcessSyscalls.descriptorSoftLimit(),
                          cpuSeconds: ProcessSyscalls.cpuSeconds(),
                          startTimeSeconds: startTime())
    }

    /// Boot time (`btime` of /proc/stat) plus the process's `starttime` (field 22 of
    /// /proc/self/stat, in clock ticks after boot).
    private static func startTime() -> Double? {
        guard let stat = try? readSmallFile("/proc/self/stat"),
              let ticks = startTicks(fromStat: stat),
              let system = try? readSmallFile("/proc/stat"),
              let bootTime = bootTime(fromSystemStat: system) else { return nil }
        return Double(bootTime) + Double(ticks) / Double(ProcessSyscalls.clockTicksPerSecond)
    }

    /// Field 22 (`starttime`) of a /proc/PID/stat line. The command name (field 2) is in
    /// parentheses and may hold spaces and parentheses itself, so fields are counted after the
    /// last `)`: field 3 is the first there.
    static func startTicks(fromStat stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        let index = 22 - 3
        guard fields.count > index else { return nil }
        return UInt64(fields[index])
    }

    /// The `btime` line of /proc/stat: boot time in seconds since the epoch.
    static func bootTime(fromSystemStat text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return UInt64(String(line.dropFirst("btime ".count)).trimmingWhitespace())
        }
        return nil
    }
}
