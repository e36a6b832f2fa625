import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

// Accepting on io_uring, two ways:
//
// - A listener of this process alone: one multishot accept, armed on the first `accept()`.
//   The kernel accepts each connection as it arrives and posts it.
// - A listener whose accept queue other processes take from too (`Acceptor.sharesQueue`: the
//   pre-fork supervisor's worker processes): a multishot poll for readability, and on each of
//   its completions a multishot accept that does not wait (`IORING_ACCEPT_DONTWAIT`, Linux
//   6.10), which takes every queued connection and ends with `-EAGAIN`. Why not the multishot
//   accept: io_uring's accept waits on the socket exclusively, so a new connection wakes one
//   waiting ring only, and when that ring cannot take it — its process has just died or is
//   cancelling the accept — the wake-up is spent and the connection waits on the queue until the
//   next one arrives, however long that is. Poll waits are not exclusive: every ring waiting on
//   the socket is woken. Where the kernel refuses `IORING_ACCEPT_DONTWAIT` (`-EINVAL`), shared
//   listeners fall back to the multishot accept.
//
// Stopping (`Acceptor.stop`, for `TCPListener.stopAccepting`): the poll and the multishot
// accept are cancelled; once their last CQEs are in, the queue is swept with single accepts that
// do not wait, until `-EAGAIN` (at most `acceptSweepLimit`), for the stopping worker to serve —
// a connection whose wake-up the cancelled multishot accept spent would wait otherwise. The
// acceptor stays armed (`isArmed`) until every one of its operations has ended, and the slot
// holds it until then.

/// io_uring's accepting state of one listener (its `Acceptor.backendState`). Worker thread only.
final class UringAcceptState {
    /// What the accept in flight is.
    enum AcceptKind {
        /// The multishot accept of a listener of this process alone.
        case multishot
        /// A multishot accept that does not wait, after a poll completion (shared listener).
        case drain
        /// One accept that does not wait, while stopping.
        case sweep
    }

    /// Waits with a poll and drains (shared listener) rather than with a multishot accept.
    var waitsWithPoll = false
    var pollArmed = false
    /// The accept in flight (at most one), or nil.
    var accepting: AcceptKind? = nil
    /// A poll completion came while a drain was in flight: drain again after it.
    var drainAgain = false
    /// An accept or the poll failed: no new drain; accepting ends when all is in.
    var failed = false
    /// The sweep has ended (`-EAGAIN` or an error).
    var sweepEnded = false
    var swept = 0
}

extension UringBackend {
    /// The most connections a stopping listener's sweep accepts.
    static let acceptSweepLimit = 256

    private func acceptState(_ acceptor: Acceptor) -> UringAcceptState {
        if let state = acceptor.backendState as? UringAcceptState { return state }
        let state = UringAcceptState()
        acceptor.backendState = state
        return state
    }

    package func startAccepting(_ acceptor: Acceptor) {
        guard !acceptor.isArmed else { return }
        let state = acceptState(acceptor)
        state.waitsWithPoll = acceptor.sharesQueue && acceptsWithoutWaiting
        state.drainAgain = false
        state.failed = false
        if state.waitsWithPoll {
            armAcceptPoll(acceptor, state)
            submitAccept(acceptor, state, .drain)  // what is queued already
        } else {
            submitAccept(acceptor, state, .multishot)
        }
        acceptor.isArmed = true
        slot.acceptors[ObjectIdentifier(acceptor)] = acceptor  // keeps it alive until its last CQE
    }

    package func stopAccepting(_ acceptor: Acceptor) {
        guard acceptor.isArmed else { return }
        let state = acceptState(acceptor)
        if state.pollArmed { cancel(userData: Self.userData(acceptor, .acceptorPoll)) }
        if state.accepting == .multishot { cancel(userData: Self.userData(acceptor, .acceptor)) }
        ring.submit()  // before the caller closes the descriptor
    }

    private func armAcceptPoll(_ acceptor: Acceptor, _ state: UringAcceptState) {
        let sqe = ring.nextSQE()
        sqe.preparePollMultishot(acceptor.fd, events: UInt32(POLLIN))
        sqe.setUserData(Self.userData(acceptor, .acceptorPoll))
        inFlight += 1
        state.pollArmed = true
    }

    private func submitAccept(_ acceptor: Acceptor, _ state: UringAcceptState, _ kind: UringAcceptState.AcceptKind) {
        let sqe = ring.nextSQE()
        switch kind {
        case .multishot: sqe.prepareMultishotAccept(acceptor.fd)
        case .drain: sqe.prepareMultishotAcceptWithoutWaiting(acceptor.fd)
        case .sweep:
            sqe.prepareAcceptWithoutWaiting(acceptor.fd)
            state.swept += 1
        }
        sqe.setUserData(Self.userData(acceptor, .acceptor))
        inFlight += 1
        state.accepting = kind
    }

    /// A CQE of the listener's poll (shared listeners): connections are queued, drain them.
    func acceptPollCompleted(_ acceptor: Acceptor, result: Int32, ended: Bool) {
        let state = acceptState(acceptor)
        if ended { state.pollArmed = false }
        let active = !acceptor.isStopping && !acceptor.isClosed && !state.failed && !isDraining
        if result > 0 && active {
            if state.accepting == nil { submitAccept(acceptor, state, .drain) } else { state.drainAgain = true }
            if ended && state.waitsWithPoll { armAcceptPoll(acceptor, state) }  // ended without an error
        } else if result < 0 && result != -Int32(ECANCELED) && active {
            fail(acceptor, state, result)
        }
        finishIfDone(acceptor, state)
    }

    /// A CQE of the listener's accept in flight (multishot, drain or sweep).
    func acceptCompleted(_ acceptor: Acceptor, result: Int32, ended: Bool) {
        let state = acceptState(acceptor)
        let active = !acceptor.isStopping && !acceptor.isClosed && !isDraining
        let kind = state.accepting
        if result >= 0 {
            acceptor.deliver(result)
        } else if kind == .sweep {
            state.sweepEnded = true
        } else if kind == .drain && result == -Int32(EINVAL) {
            acceptsWithoutWaiting = false  // the kernel predates IORING_ACCEPT_DONTWAIT
            state.waitsWithPoll = false
            if state.pollArmed { cancel(userData: Self.userData(acceptor, .acceptorPoll)) }
        } else if kind == .drain && result == -Int32(EAGAIN) {
            // drained
        } else if result != -Int32(ECANCELED) && active {
            fail(acceptor, state, result)
        }
        guard ended else { return }
        state.accepting = nil
        if active && !state.failed && kind == .drain {
            if !state.waitsWithPoll {
                submitAccept(acceptor, state, .multishot)  // the fall-back
            } else if state.pollArmed && (state.drainAgain || result >= 0) {
                state.drainAgain = false
                submitAccept(acceptor, state, .drain)  // more came meanwhile, or the kernel paused
            }
        }
        finishIfDone(acceptor, state)
    }

    /// A failed accept or poll ends accepting (`TCPListener.accept` skips the error or backs
    /// off, then arms again): delivered, and the poll cancelled.
    private func fail(_ acceptor: Acceptor, _ state: UringAcceptState, _ result: Int32) {
        state.failed = true
        acceptor.deliver(result)
        if state.pollArmed { cancel(userData: Self.userData(acceptor, .acceptorPoll)) }
    }

    /// Once nothing of the listener is in flight: the sweep when stopping, else disarmed (and a
    /// fiber waiting in `accept` woken, to arm again).
    private func finishIfDone(_ acceptor: Acceptor, _ state: UringAcceptState) {
        guard !state.pollArmed, state.accepting == nil else { return }
        if acceptor.isStopping && !acceptor.isClosed && !state.sweepEnded && !isDraining && state.swept < Self.acceptSweepLimit {
            submitAccept(acceptor, state, .sweep)
            return
        }
        acceptor.isArmed = false
        if !acceptor.isStopping && !acceptor.isClosed { acceptor.waiters.wakeAll(.ready) }
        slot.acceptors[ObjectIdentifier(acceptor)] = nil  // may free it: last
    }
}
