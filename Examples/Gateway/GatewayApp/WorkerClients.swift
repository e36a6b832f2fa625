import Foundation
import SpindleFibers
import SpindleHTTPClient

/// One `HTTPClient` per worker thread, made on first use from that worker (a client belongs
/// to the worker that first uses it: its pooled connections are that worker's sockets), and
/// the statistics each last published, which any thread may read.
public final class WorkerClients: @unchecked Sendable {
    // @unchecked Sendable: the tables are behind the lock; each client is only handed to the
    // worker (scheduler) it was made for, and its statistics are copied out by that worker.
    private let lock = NSLock()
    private var clients: [UInt64: HTTPClient] = [:]
    private var published: [UInt64: HTTPClient.Statistics] = [:]
    private let configuration: HTTPClient.Configuration

    /// Clients made with `configuration`. Allocates nothing until a worker asks.
    public init(configuration: HTTPClient.Configuration) {
        self.configuration = configuration
    }

    /// The calling worker's client (made now on its first call). Call from a fiber of a
    /// worker. Cost: a lock and a dictionary lookup.
    public func forCurrentWorker() -> HTTPClient {
        guard let scheduler = Scheduler.current else {
            preconditionFailure("WorkerClients.forCurrentWorker: call it from a fiber of a worker (a handler), not from another thread")
        }
        lock.lock()
        defer { lock.unlock() }
        if let client = clients[scheduler.number] { return client }
        let client = HTTPClient(configuration: configuration)
        clients[scheduler.number] = client
        return client
    }

    /// Records the calling worker's client statistics for `statistics`. Call on the worker,
    /// after using its client. Cost: a lock.
    public func publishStatistics(of client: HTTPClient) {
        guard let scheduler = Scheduler.current else { return }
        let statistics = client.statistics
        lock.lock()
        published[scheduler.number] = statistics
        lock.unlock()
    }

    /// The published statistics of every worker's client, added up (as of each worker's last
    /// `publishStatistics`). Any thread. Cost: a lock.
    public var statistics: UpstreamStatistics {
        lock.lock()
        defer { lock.unlock() }
        return published.values.reduce(into: UpstreamStatistics()) { sum, one in
            sum.connectionsOpened += one.connectionsOpened
            sum.connectionsReused += one.connectionsReused
            sum.requestsSent += one.requestsSent
            sum.retries += one.retries
        }
    }
}

/// What the workers' clients counted, added up (`WorkerClients.statistics`, `GET /stats`).
public struct UpstreamStatistics: Codable, Equatable, Sendable {
    /// Connections opened to upstreams.
    public var connectionsOpened = 0
    /// Requests that reused a pooled keep-alive connection.
    public var connectionsReused = 0
    /// Requests sent to upstreams (retries count again).
    public var requestsSent = 0
    /// Requests sent again because a reused connection turned out closed.
    public var retries = 0

    /// All zero.
    public init() {}
}
