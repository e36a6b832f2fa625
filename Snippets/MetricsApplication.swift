// Application metrics through swift-metrics, exported with Spindle's at /metrics
// (Docs/observability.md).

// snippet.hide
import Spindle

let router = Router<Handler>()
// snippet.show
// snippet.application
import CoreMetrics
Server.bootstrapMetrics()                       // once, at startup, instead of MetricsSystem.bootstrap
router.post("/orders") { request, _ in
    Counter(label: "orders_placed_total").increment()
    return .text("ok")
}
// snippet.end
// snippet.hide
try Server(router: router).run()
