import HTTPTypes
import Spindle
import SpindleHTTPClient

/// The API gateway: `GET /dashboard/:user` fans out to the configured parts in parallel with a
/// deadline (`Dashboard`), `GET /proxy/*` streams an upstream's response through, and
/// `GET /stats` reports the upstream connections opened and reused. Each worker calls the
/// upstreams with its own `HTTPClient` (`WorkerClients`), whose keep-alive connections are
/// reused from request to request.
public final class Gateway: Sendable {
    /// What the gateway calls.
    public let configuration: GatewayConfiguration
    /// Each worker's client, and their statistics.
    public let clients: WorkerClients

    /// A gateway for `configuration`. Nothing is connected until a request needs it.
    public init(configuration: GatewayConfiguration) {
        self.configuration = configuration
        clients = WorkerClients(configuration: configuration.client)
    }

    /// A router with the gateway's routes and no middleware.
    public func router() -> Router<Handler> {
        let router = Router<Handler>()
        addRoutes(to: router)
        return router
    }

    /// Adds the gateway's routes to `router` (before it serves).
    public func addRoutes(to router: Router<Handler>) {
        router.get("/dashboard/:user") { [self] _, context in
            try dashboard(user: try context.parameters.require("user", as: String.self))
        }
        router.get("/proxy/*") { [self] request, _ in
            // The raw target (percent-encoding and query as sent), less the "/proxy" prefix.
            let target = request.target
            guard target.hasPrefix("/proxy/") else { throw HTTPError(.badRequest, "Bad Request: expected an origin-form target") }
            return try proxy(request, target: String(target.dropFirst("/proxy".count)))
        }
        router.get("/stats") { [self] _, _ in
            Self.json(clients.statistics)
        }
    }
}

