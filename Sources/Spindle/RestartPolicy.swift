import SpindleFibers

/// What the supervisor does when a worker process dies: restart it now or after a back-off, or
/// give up because workers die before they are ready (a crash loop at start). Pure bookkeeping
/// over the deaths' times, so its decisions can be tested without processes.
package struct RestartPolicy {
    /// What to do about one death.
    package enum Decision: Equatable, Sendable {
        /// Start a new worker in the slot after this delay (zero: now).
        case restart(after: Duration)
        /// Too many workers died before they were ready within the window: stop everything.
        case giveUp(startupDeaths: Int)
    }

    /// The delay after a worker's second death within the window; it doubles with each one after.
    package static let firstBackOff: Duration = .milliseconds(100)

    private let configuration: SupervisorConfiguration
    /// Deaths of workers that had not become ready, within the window.
    private var startupDeaths: [Deadline] = []
    /// Per slot, its deaths within the window.
    private var deathsBySlot: [[Deadline]]

    /// A policy for `slots` worker processes.
    package init(slots: Int, configuration: SupervisorConfiguration) {
        self.configuration = configuration
        deathsBySlot = Array(repeating: [], count: max(0, slots))
    }

    /// Records that the worker in `slot` died at `time` (`wasReady`: it had said it was ready)
    /// and decides. Deaths older than `crashLoopWindow` are forgotten.
    package mutating func workerDied(slot: Int, at time: Deadline, wasReady: Bool) -> Decision {
        let windowStart = time + (.zero - configuration.crashLoopWindow)
        if !wasReady {
            startupDeaths.removeAll { $0 <= windowStart }
            startupDeaths.append(time)
            if startupDeaths.count >= max(1, configuration.crashLoopLimit) {
                return .giveUp(startupDeaths: startupDeaths.count)
            }
        }
        guard deathsBySlot.indices.contains(slot) else { return .restart(after: .zero) }
        deathsBySlot[slot].removeAll { $0 <= windowStart }
        deathsBySlot[slot].append(time)
        return .restart(after: delay(afterDeaths: deathsBySlot[slot].count))
    }

    /// The restart delay after `deaths` deaths of one worker within the window: none for the
    /// first, then `firstBackOff` doubling, at most `maximumRestartDelay`.
    package func delay(afterDeaths deaths: Int) -> Duration {
        guard deaths > 1 else { return .zero }
        let doublings = min(deaths - 2, 30)
        return min(Self.firstBackOff * (1 << doublings), max(.zero, configuration.maximumRestartDelay))
    }
}
