import CoreMetrics
import Prometheus
import SpindleIO
import Synchronization

// The public face of the metrics: the handler to mount on a router, the admin listener's
// address, and the registry swift-metrics writes into. See Docs/observability.md.
extension Server {
    /// A handler answering with this server's metrics in the Prometheus text format, for a
    /// route of your own: `router.get("/metrics", server.metricsHandler())` serves them on the
    /// main port (by default only the admin listener does, and the main port answers 404).
    /// With `token`, requests must carry `Authorization: Bearer <token>` (401 otherwise).
    ///
    /// Each request scrapes: it posts a copy request to every worker (`Scheduler.submit`), parks
    /// its fiber until all have answered (503 past 2 s), reads /proc for the process figures and
    /// writes the text; it allocates. A scrape on the main port is itself counted as a request.
    public func metricsHandler(token: String? = nil) -> Handler {
        MetricsEndpoint.handler(metrics: metrics, backend: { [weak self] in self?.backendChoice }, token: token)
    }

    /// The address the admin listener is bound to while the server runs (nil without
    /// `ServerConfiguration.adminPort`, or before `start()`/`run()`).
    public var adminAddress: SocketAddress? { admin.address }

    /// The registry of the application's own metrics, emitted at the end of every `/metrics`
    /// answer (of every server in the process). swift-metrics writes into it after
    /// `bootstrapMetrics()`; you may also make series in it directly with swift-prometheus.
    /// Thread-safe (swift-prometheus's locks and atomics).
    public static let applicationMetrics = PrometheusCollectorRegistry()

    /// Bootstraps swift-metrics' `MetricsSystem` with swift-prometheus's factory writing into
    /// `applicationMetrics`, so `Counter(label:)`, `Gauge`, `Timer` and `Recorder` from
    /// swift-metrics show up at `/metrics`. Call it once, before making metrics, instead of
    /// `MetricsSystem.bootstrap` (which may run only once per process: a second bootstrap of
    /// any kind stops the process). Returns false, doing nothing, when Spindle has already
    /// bootstrapped it. Any thread.
    @discardableResult
    public static func bootstrapMetrics() -> Bool {
        let first = metricsBootstrapped.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if first { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: applicationMetrics)) }
        return first
    }
}

/// Whether `Server.bootstrapMetrics()` has run.
private let metricsBootstrapped = Mutex(false)
