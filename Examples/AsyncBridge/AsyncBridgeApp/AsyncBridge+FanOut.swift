import Spindle

/// The answer of `GET /fan-out`: each path's result in the order asked, and how long the whole
/// took (about the slowest call, the calls being concurrent).
public struct FanOutAnswer: Sendable, Codable, Equatable {
    /// One result per path, in the order of the query.
    public var results: [FanOutResult]
    /// Milliseconds from the first call's start to the last one's end.
    public var milliseconds: Double
}

/// One path's outcome in a fan-out: its status and body, or the error.
public struct FanOutResult: Sendable, Codable, Equatable {
    /// The path fetched.
    public var path: String
    /// The upstream's status, nil when the call failed.
    public var status: Int?
    /// The body as UTF-8 text (invalid sequences replaced), nil when the call failed.
    public var body: String?
    /// Why the call failed, nil when it did not.
    public var error: String?
    /// How long this call took, in milliseconds.
    public var milliseconds: Double
}

extension AsyncBridge {
    /// Fetches every path concurrently in one task group and returns their results in order;
    /// a failed call is a result with its error (the others go on). `async`: the pattern for
    /// several awaits behind one `Context.await` (one fiber park, however many calls).
    /// Throws only `CancellationError`: cancelling the task cancels every call.
    /// Cost: a child task per path, besides each call's own (`fetch`).
    public func fanOut(_ paths: [UpstreamPath]) async throws -> FanOutAnswer {
        let clock = ContinuousClock()
        let start = clock.now
        let results = try await withThrowingTaskGroup(of: (Int, FanOutResult).self) { group in
            for (index, path) in paths.enumerated() {
                group.addTask { [self] in
                    let callStart = clock.now
                    do {
                        let response = try await fetch(path)
                        return (index, FanOutResult(path: path.value, status: response.status,
                                                    body: String(decoding: response.body, as: UTF8.self),
                                                    milliseconds: Self.milliseconds(clock.now - callStart)))
                    } catch let error where !Self.isCancellation(error) {
                        return (index, FanOutResult(path: path.value, error: "\(Self.httpError(for: error))",
                                                    milliseconds: Self.milliseconds(clock.now - callStart)))
                    }
                }
            }
            var ordered = [FanOutResult?](repeating: nil, count: paths.count)
            for try await (index, result) in group { ordered[index] = result }
            return ordered.compactMap { $0 }
        }
        return FanOutAnswer(results: results, milliseconds: Self.milliseconds(clock.now - start))
    }

    /// `GET /fan-out`: `fanOut` behind one `Context.await` (the fiber parks once).
    func fanOut(paths: [UpstreamPath], context: Context) throws -> FanOutAnswer {
        try context.await { [self] in try await fanOut(paths) }
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
