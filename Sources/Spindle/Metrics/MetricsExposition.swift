import Prometheus
import SpindleHTTP
import SpindleIO
import SpindleMemory

/// Writes a scrape in the Prometheus text format: counters and gauges through swift-prometheus's
/// `PrometheusCollectorRegistry` (set to the summed values, then emitted by its text emitter),
/// and the two histograms after it in the same format, written here: the workers keep them as
/// bucket counts, and swift-prometheus's `Histogram` can only record single observations.
/// Every metric is described in Docs/observability.md.
///
/// Cost: a registry lookup per series and the text, at scrape time; allocates.
struct MetricsExposition {
    let registry: PrometheusCollectorRegistry

    /// The text of one scrape (the registry's series are left set to these values).
    func export(report: WorkerReport, workers: Int, memory: ProcessMemory, resources: ProcessStatistics,
                allocator: AllocatorStatistics, offload: OffloadPool.Statistics, backend: IOBackendChoice?,
                hogs: Int) -> [UInt8] {
        let counters = report.counters
        // HTTP.
        for method in MethodClass.allCases {
            for slot in 0..<WorkerMetrics.statusSlots {
                let count = counters.requests[method.rawValue * WorkerMetrics.statusSlots + slot]
                guard count > 0 else { continue }
                let status = slot == WorkerMetrics.statusSlots - 1 ? "other" : String(slot + 100)
                counter("http_requests_total", "Requests answered, by method and response status.",
                        ["method": method.label, "status": status], count)
            }
        }
        counter("spindle_requests_cancelled_total",
                "Requests whose connection closed under their handler (no response written).", counters.requestsCancelled)
        for (slot, count) in counters.parseErrors.enumerated() where count > 0 {
            let reasons = HTTPParseError.Reason.allCases
            let reason = slot < reasons.count ? String(describing: reasons[slot]) : "bodyFramingTooLarge"
            counter("spindle_http_parse_errors_total", "Malformed requests (heads and bodies) answered with a 4xx/5xx, by reason.",
                    ["reason": reason], count)
        }
        for cause in TimeoutCause.allCases {
            counter("spindle_timeouts_total", "Connection and request timeouts, by kind.", ["kind": cause.label],
                    counters.timeouts[cause.rawValue])
        }
        // Connections and requests in flight.
        counter("spindle_connections_accepted_total", "Connections accepted.", counters.connectionsAccepted)
        counter("spindle_connections_refused_total", "Connections refused over the connection cap (503 and close).",
                counters.connectionsRefused)
        counter("spindle_tls_handshakes_total", "TLS handshakes completed.", counters.tlsHandshakes)
        counter("spindle_tls_handshake_failures_total",
                "TLS handshakes that failed (timed out, malformed, refused, or the client closed halfway).",
                counters.tlsHandshakeFailures)
        counter("spindle_tls_kernel_transmit_total",
                "TLS connections whose records the kernel builds after the handshake (kTLS).", counters.tlsKernelTransmits)
        counter("spindle_memory_trims_total", "Periodic trims that gave memory a spike left behind back (pooled objects, recycled fibers, warm stacks).",
                counters.memoryTrims)
        gauge("spindle_connections_open", "Open connections.", report.openConnections)
        gauge("spindle_connections_idle", "Open connections idle between requests.", report.idleConnections)
        gauge("spindle_requests_active", "Requests being handled now.", report.activeRequests)
        gauge("spindle_responses_sending", "Responses being sent after their handler returned.", report.pendingSends)
        // Pools and arenas.
        for name in WorkerReport.PoolName.allCases {
            let pool = report.pools[name.rawValue]
            let labels = ["pool": name.label]
            gauge("spindle_pool_in_use", "Pooled objects in use now, by pool.", labels, pool.inUse)
            gauge("spindle_pool_available", "Free pooled objects kept for reuse, by pool.", labels, pool.available)
            gauge("spindle_pool_peak_in_use", "The most pooled objects in use at once (each worker's peak, summed), by pool.",
                  labels, pool.peakInUse)
            counter("spindle_pool_misses_total", "Objects made because their pool was empty, by pool.", labels, pool.misses)
        }
        counter("spindle_arena_first_block_requests_total",
                "Requests whose arena use fit in the arena's first block.", counters.requestsInFirstBlock)
        counter("spindle_arena_overflow_blocks_total", "Arena blocks chained beyond the first, over all requests.",
                counters.arenaOverflowBlocks)
        counter("spindle_arena_large_allocations_total", "Arena allocations larger than a quarter block (malloc'd).",
                counters.arenaLargeAllocations)
        // Fibers, offload, I/O.
        gauge("spindle_fibers_live", "Unfinished fibers.", report.liveFibers)
        gauge("spindle_fibers_recycled", "Finished fibers kept with their stacks for the next spawns (their stacks count as in use).", report.recycledFibers)
        counter("spindle_fibers_spawned_total", "Fibers spawned.", Int(clamping: report.spawnedFibers))
        counter("spindle_fiber_stack_warnings_total", "Fiber stacks that passed 75% of their size (each warned once).",
                counters.deepStacks)
        counter("spindle_fiber_hogs_total", "Fibers that ran longer than the watchdog's threshold without parking (once per incident).",
                hogs)
        gauge("spindle_fiber_stacks_in_use", "Fiber stacks in use.", report.stacksInUse)
        gauge("spindle_fiber_stacks_peak", "The most fiber stacks in use at once (each worker's peak, summed).", report.stacksPeak)
        gauge("spindle_fiber_stacks_mapped", "Fiber stacks mapped (in use and free).", report.stacksMapped)
        gauge("spindle_offload_queued", "Closures waiting for an offload thread.", offload.queued)
        gauge("spindle_offload_running", "Closures running on the offload threads.", offload.running)
        counter("spindle_offload_completed_total", "Offloaded closures run to their end.", offload.completed)
        counter("spindle_offload_rejected_total", "Offloads refused because the queue was full.", offload.rejected)
        secondsCounter("spindle_offload_queue_wait_seconds_total", "Time offloaded closures spent queued, waiting for a thread.",
                       offload.queueWaitNanoseconds)
        secondsCounter("spindle_offload_run_seconds_total", "Time offloaded closures spent running.", offload.runNanoseconds)
        gauge("spindle_workers", "Worker threads that answered this scrape.", workers)
        if let backend {
            gauge("spindle_io_backend_info", "The I/O backend the workers run on (value 1).", ["backend": backend.kind.rawValue], 1)
        }
        // Process and allocator.
        gauge("process_resident_memory_bytes", "Resident memory size in bytes.", memory.residentBytes)
        gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", memory.virtualBytes)
        if let open = resources.openDescriptors { gauge("process_open_fds", "Number of open file descriptors.", open) }
        if let max = resources.maximumDescriptors { gauge("process_max_fds", "Maximum number of open file descriptors.", max) }
        if let cpu = resources.cpuSeconds {
            let series = registry.makeCounter(descriptor: Self.descriptor("process_cpu_seconds_total",
                                                                          "Total user and system CPU time spent in seconds."))
            series.reset()
            series.increment(by: cpu)
        }
        if let start = resources.startTimeSeconds {
            registry.makeGauge(descriptor: Self.descriptor("process_start_time_seconds",
                                                           "Start time of the process since unix epoch in seconds.")).set(to: start)
        }
        gauge("spindle_allocator_info", "The allocator serving malloc (value 1).",
              ["allocator": allocator.kind.rawValue, "version": allocator.version ?? ""], 1)
        if let inUse = allocator.bytesInUse {
            gauge("spindle_allocator_bytes_in_use", "Bytes allocated and not freed, as the allocator counts them.", inUse)
        }
        if let committed = allocator.committedBytes {
            gauge("spindle_allocator_committed_bytes", "Bytes the allocator has committed from the operating system.", committed)
        }
        if let ratio = allocator.fragmentationRatio(residentBytes: memory.residentBytes) {
            registry.makeGauge(descriptor: Self.descriptor("spindle_allocator_fragmentation_ratio",
                                                           "Resident memory divided by the allocator's bytes in use.")).set(to: ratio)
        }

        var text: [UInt8] = []
        registry.emit(into: &text)
        Self.appendHistogram(named: "http_request_duration_seconds",
                             help: "Time from dispatching a request to its response written, in seconds.",
                             buckets: .requestNanoseconds, counts: Array(counters.durations), boundDivisor: 1e9,
                             sum: Double(counters.durationNanoseconds) / 1e9, into: &text)
        Self.appendHistogram(named: "spindle_arena_request_bytes",
                             help: "Arena bytes each request used (its peak), in bytes.",
                             buckets: .arenaBytes, counts: Array(counters.arenaBytes), boundDivisor: 1,
                             sum: Double(counters.arenaBytesSum), into: &text)
        Self.appendHistogram(named: "spindle_fiber_stack_high_water_bytes",
                             help: "Mapped fiber stacks by the deepest use measured on each, in bytes (a snapshot).",
                             buckets: .stackBytes, counts: report.stackHighWater, boundDivisor: 1,
                             sum: Double(report.stackHighWaterSum), into: &text)
        return text
    }

    // MARK: - Registry series

    /// A name without unit suffix splitting (`MetricNameDescriptor` joins non-empty parts).
    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Sets counter `name{labels}` to `value` (the workers' sum, which only grows).
    private func counter(_ name: String, _ help: String, _ value: Int) { counter(name, help, [:], value) }

    /// Sets counter `name{labels}` to `value`.
    private func counter(_ name: String, _ help: String, _ labels: [String: String], _ value: Int) {
        let series = registry.makeCounter(descriptor: Self.descriptor(name, help), labels: Self.sorted(labels))
        series.reset()
        series.increment(by: Int64(clamping: value))
    }

    /// Sets counter `name` to `nanoseconds`, in seconds.
    private func secondsCounter(_ name: String, _ help: String, _ nanoseconds: UInt64) {
        let series = registry.makeCounter(descriptor: Self.descriptor(name, help))
        series.reset()
        series.increment(by: Double(nanoseconds) / 1e9)
    }

    /// Sets gauge `name{labels}` to `value`.
    private func gauge(_ name: String, _ help: String, _ value: Int) { gauge(name, help, [:], value) }

    /// Sets gauge `name{labels}` to `value`.
    private func gauge(_ name: String, _ help: String, _ labels: [String: String], _ value: Int) {
        registry.makeGauge(descriptor: Self.descriptor(name, help), labels: Self.sorted(labels)).set(to: Double(value))
    }

    /// Labels in name order (the registry tells series apart by their label list).
    private static func sorted(_ labels: [String: String]) -> [(String, String)] {
        labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    // MARK: - Histograms

    /// Appends a histogram family from non-cumulative bucket `counts` (the last is `+Inf`):
    /// cumulative `_bucket` lines with `le` = each bound ÷ `boundDivisor`, `_sum` and `_count`.
    static func appendHistogram(named name: String, help: String, buckets: PowerOfTwoBuckets, counts: [Int],
                                boundDivisor: Double, sum: Double, into text: inout [UInt8]) {
        func line(_ string: String) { text.append(contentsOf: string.utf8); text.append(UInt8(ascii: "\n")) }
        line("# HELP \(name) \(help)")
        line("# TYPE \(name) histogram")
        var cumulative = 0
        for index in 0..<buckets.finiteCount {
            cumulative &+= index < counts.count ? counts[index] : 0
            line("\(name)_bucket{le=\"\(Double(buckets.upperBound(index)) / boundDivisor)\"} \(cumulative)")
        }
        cumulative &+= buckets.finiteCount < counts.count ? counts[buckets.finiteCount] : 0
        line("\(name)_bucket{le=\"+Inf\"} \(cumulative)")
        line("\(name)_sum \(sum)")
        line("\(name)_count \(cumulative)")
    }
}
