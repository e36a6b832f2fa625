import Spindle
import SpindleFibers

/// Three small upstream servers on 127.0.0.1 (ports chosen by the kernel, one worker each),
/// so the gateway can be tried alone: a fast one, a slow one and a failing one.
///
/// | upstream | routes |
/// |---|---|
/// | profile (fast) | `GET /profile/:user` → `{"name":…,"plan":"free"}`; `GET /hello`; `GET /bytes/:n` streams `n` bytes (at most 1 GiB) |
/// | orders (slow) | `GET /orders/:user` sleeps `slowDelay` (past the gateway's deadline), then answers |
/// | recommendations (failing) | `GET /recommendations/:user` → `500` |
public final class DemoUpstreams: Sendable {
    private let profile: Server
    private let orders: Server
    private let recommendations: Server
    /// The three as dashboard parts (`profile`, `orders`, `recommendations`).
    public let parts: [DashboardPartSource]
    /// The fast one, for the proxy.
    public let proxyUpstream: UpstreamURL

    /// Starts the three servers. Blocks until they listen; throws what `Server.start` throws.
    public init(slowDelay: Duration = .seconds(2)) throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.workers = 1

        let fast = Router<Handler>()
        fast.get("/profile/:user") { _, context in
            let user: String = try context.parameters.require("user")
            return try .json(["name": user, "plan": "free"])
        }
        fast.get("/hello") { _, _ in .text("Hello from the profile upstream\n") }
        fast.get("/bytes/:n") { _, context in
            let count = try context.parameters.require("n", as: Int.self)
            guard (0...(1 << 30)).contains(count) else { throw HTTPError(.badRequest, "n must be 0...1073741824") }
            return .stream(contentType: "application/octet-stream") { writer in
                let block = [UInt8](repeating: UInt8(ascii: "x"), count: 64 << 10)
                var left = count
                while left > 0 {
                    try writer.write(block.prefix(left))
                    left -= min(left, block.count)
                }
            }
        }
        let slow = Router<Handler>()
        slow.get("/orders/:user") { _, _ in
            try Fiber.sleep(for: slowDelay)
            return try .json(["orders": 0])
        }
        let failing = Router<Handler>()
        failing.get("/recommendations/:user") { _, _ in .text("recommendations are down\n", status: .internalServerError) }

        profile = Server(router: fast, configuration: configuration)
        orders = Server(router: slow, configuration: configuration)
        recommendations = Server(router: failing, configuration: configuration)
        let profilePort = try profile.start().port
        let ordersPort = try orders.start().port
        let recommendationsPort = try recommendations.start().port
        parts = [
            try DashboardPartSource(name: "profile", urlTemplate: "http://127.0.0.1:\(profilePort)/profile/{user}"),
            try DashboardPartSource(name: "orders", urlTemplate: "http://127.0.0.1:\(ordersPort)/orders/{user}"),
            try DashboardPartSource(name: "recommendations", urlTemplate: "http://127.0.0.1:\(recommendationsPort)/recommendations/{user}"),
        ]
        proxyUpstream = try UpstreamURL("http://127.0.0.1:\(profilePort)")
    }

    /// Stops the three servers and waits for them.
    public func stop() {
        for server in [profile, orders, recommendations] { server.stop() }
        for server in [profile, orders, recommendations] { server.wait() }
    }
}
