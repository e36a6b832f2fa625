// The server as a swift-service-lifecycle Service, its configuration read through
// swift-configuration from command-line arguments and SPINDLE_* environment variables.

// snippet.reading
import Configuration
import ServiceLifecycle
import Spindle

let config = ConfigReader(providers: [
    CommandLineArgumentsProvider(),   // --spindle-port 9000 (first: wins)
    EnvironmentVariablesProvider(),   // SPINDLE_PORT=9000
])
let configuration = try ServerConfiguration(config: config)
// snippet.end
// snippet.hide
import Logging

let router = Router<Handler>()
router.get("/") { _, _ in .text("Hello from a service\n") }
let logger = Logger(label: "app")
// snippet.show
// snippet.service
let server = Server(router: router, configuration: configuration, logger: logger)
let group = ServiceGroup(configuration: .init(
    services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
try await group.run()
// snippet.end
