import SpindleFibers

/// The deadlines of one exchange: each phase's own timeout from when the phase starts, capped by
/// the exchange's total deadline. A `TimeoutError` from below becomes an `HTTPClientError`
/// naming the phase and which of the two deadlines passed.
struct ExchangeDeadlines {
    let configuration: HTTPClient.Configuration
    /// The whole exchange's deadline (redirects included), if any.
    let total: Deadline?

    /// The deadline of a phase that starts now and may last `timeout`. Cost: a clock read.
    func phase(_ timeout: Duration) -> Deadline {
        let own = Deadline.now + timeout
        guard let total else { return own }
        return min(own, total)
    }

    /// The error for a deadline `deadline` of `phase` that passed.
    func timedOut(_ phase: HTTPClientError.Phase, _ deadline: Deadline?) -> HTTPClientError {
        HTTPClientError(.timedOut(phase, totalDeadline: deadline != nil && deadline == total))
    }

    /// Runs `body` with `deadline`, turning a `TimeoutError` into the phase's client error.
    func run<T>(_ phase: HTTPClientError.Phase, _ deadline: Deadline?, _ body: (Deadline?) throws -> T) throws -> T {
        do { return try body(deadline) } catch is TimeoutError { throw timedOut(phase, deadline) }
    }
}
