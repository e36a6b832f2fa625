import SpindleFibers
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// The fiber-less operations of the epoll backend: stream receivers read on readiness into the
/// worker's scratch buffer, asynchronous sends continue on EPOLLOUT, listeners accept on
/// readiness. All of it runs in the scheduler loop; calls from fibers only attach, detach or
/// queue work for the next turn.
extension EpollBackend {
    // MARK: - Stream receiving

    /// Attaches `receiver` to its socket and holds its delegate. A socket registered here for
    /// the first time is reported by the kernel if bytes are already waiting; one registered
    /// before (a resume after a pause) gets a read queued for the next turn when bytes may be
    /// waiting, since no new edge will announce them. Never delivers inside the call.
    package func startReceiving(_ receiver: StreamReceiver) {
        guard !isDraining else { return }  // the worker is stopping: nothing is delivered
        let entry = registrations.entry(for: receiver.fd)
        if receiver.armedDelegate == nil { receiver.armedDelegate = receiver.currentDelegate }
        entry.receiver = receiver
        if !entry.isRegistered {
            do {
                try register(entry)
            } catch {
                entry.receiver = nil
                queue(.failReceive(receiver, error.errno))
            }
            return
        }
        if entry.readable && !entry.workQueued {
            entry.workQueued = true
            queue(.read(entry, entry.generation))
        }
    }

    /// Detaches `receiver` (paused or stopped: bytes stay in the socket, which is the
    /// back-pressure) and releases its delegate on the next turn unless it receives again by
    /// then (releasing here could free the receiver inside its own call).
    package func stopReceiving(_ receiver: StreamReceiver) {
        let entry = registrations.entry(for: receiver.fd)
        if entry.receiver === receiver { entry.receiver = nil }
        if receiver.armedDelegate != nil { queue(.release(receiver)) }
    }

    /// Reads `receiver`'s socket and delivers what it gets, until the socket is empty (EAGAIN,
    /// or a short read when no hang-up was signalled: the next arrival brings an edge), the
    /// receiver leaves `.receiving` or is detached (a delegate may pause, stop or close), the
    /// stream ends or fails, or this turn's share (`readShare`) is read — then the rest is
    /// queued for the next turn. Scheduler loop only.
    func readStream(_ entry: EpollRegistration, _ receiver: StreamReceiver) {
        let generation = entry.generation
        var share = Self.readShare
        while receiver.mode == .receiving, entry.receiver === receiver, entry.generation == generation {
            if share <= 0 {
                entry.workQueued = true
                queue(.read(entry, generation))
                return
            }
            let n = Epoll.receive(entry.fd, scratch, Self.scratchSize)
            if n > 0 {
                share -= n
                let drained = n < Self.scratchSize && !entry.hungUp
                if drained { entry.readable = false }
                receiver.deliver(.bytes(UnsafeRawBufferPointer(start: scratch, count: n)))
                if drained { return }
            } else if n == -Int(EAGAIN) {
                entry.readable = false
                return
            } else {
                entry.receiver = nil
                receiver.deliver(n == 0 ? .end : .failed(Int32(-n)))
                release(receiver)
                return
            }
        }
    }

    /// Drops the delegate held for `receiver` unless it is receiving again (released last: it
    /// may own, and free, the receiver; the caller holds `receiver` itself). While `uninstall`
    /// drains, always.
    func release(_ receiver: StreamReceiver) {
        guard isDraining || receiver.mode != .receiving || receiver.currentDelegate == nil else { return }
        let delegate = receiver.armedDelegate
        receiver.armedDelegate = nil
        _ = delegate
    }

    // MARK: - Asynchronous sends

    /// Sends what fits now; waits for EPOLLOUT for the rest. The delegate hears on the next
    /// loop turn at the earliest (never inside this call).
    package func startSending(_ send: AsyncSend) {
        continueSending(send, registrations.entry(for: send.fd), inLoop: false)
    }

    /// Sends until all of `send` went out (completed), the socket buffer is full (attached to
    /// `entry` until EPOLLOUT) or the send failed (completed with its errno). Completion is
    /// reported now when `inLoop`, else queued for the next turn.
    func continueSending(_ send: AsyncSend, _ entry: EpollRegistration, inLoop: Bool) {
        var code: Int32 = 0
        sending: while send.sent < send.bytes.count {
            let n = Epoll.send(send.fd, send.bytes.baseAddress! + send.sent, send.bytes.count - send.sent)
            if n > 0 {
                send.sent += n
                continue
            }
            if n == -Int(EAGAIN) {
                entry.writable = false
                if !entry.isRegistered {
                    do { try register(entry) } catch {
                        code = error.errno
                        break sending
                    }
                }
                entry.send = send
                return
            }
            code = n == 0 ? EPIPE : Int32(-n)
            break
        }
        if entry.send === send { entry.send = nil }
        if inLoop { send.finish(errno: code) } else { queue(.finishSend(send, code)) }
    }

    /// A send waiting for EPOLLOUT is detached and hears `ECANCELED` next turn; one that
    /// already completed (its report queued) keeps its own result.
    package func cancelSending(_ send: AsyncSend) {
        let entry = registrations.entry(for: send.fd)
        guard entry.send === send else { return }
        entry.send = nil
        queue(.finishSend(send, ECANCELED))
    }

    // MARK: - Accepting

    /// Registers the listening socket (made non-blocking) afresh; the kernel then reports the
    /// connections already queued, so re-arming after an error accepts them without a new edge.
    package func startAccepting(_ acceptor: Acceptor) {
        guard !acceptor.isArmed else { return }
        let entry = adopt(acceptor.fd)
        acceptor.isArmed = true
        entry.acceptor = acceptor
        slot.acceptors[ObjectIdentifier(acceptor)] = acceptor  // held while armed
        do {
            try Epoll.setNonBlocking(acceptor.fd)
            try register(entry, listening: true)
        } catch {
            entry.acceptor = nil
            acceptor.isArmed = false
            slot.acceptors[ObjectIdentifier(acceptor)] = nil
            queue(.failAccept(acceptor, error.errno))
        }
    }

    /// Deregisters the listening socket (the caller closes it next). One system call.
    package func stopAccepting(_ acceptor: Acceptor) {
        guard acceptor.isArmed else { return }
        acceptor.isArmed = false
        let entry = registrations.entry(for: acceptor.fd)
        if entry.acceptor === acceptor {
            if entry.isRegistered { Epoll.remove(epfd, acceptor.fd) }
            entry.acceptor = nil
            entry.reset()
        }
        slot.acceptors[ObjectIdentifier(acceptor)] = nil
    }

    /// Accepts until the listener's queue is empty or this turn's share (`acceptShare`) is used
    /// (the rest is queued for the next turn). A failed accept is delivered (`-errno`) and ends
    /// accepting, as it ends a multishot accept on io_uring: `TCPListener.accept` skips an
    /// aborted connection or backs off from EMFILE and the like, then re-arms.
    func acceptConnections(_ entry: EpollRegistration, _ acceptor: Acceptor) {
        let generation = entry.generation
        var share = Self.acceptShare
        while acceptor.isArmed, entry.acceptor === acceptor, entry.generation == generation {
            if share == 0 {
                entry.workQueued = true
                queue(.accept(entry, generation))
                return
            }
            share -= 1
            let fd = Epoll.accept(entry.fd)
            if fd >= 0 {
                adopt(fd)
                acceptor.deliver(fd)
            } else if fd == -EAGAIN {
                entry.readable = false
                return
            } else {
                stopAccepting(acceptor)
                acceptor.deliver(fd)
                return
            }
        }
    }
}
