// spindle-io-probe modes about backends and process limits (see main.swift for the list):
// the automatic backend choice serving an echo (run under spindle-seccomp-exec: the fall-back
// to epoll), and a listener that runs out of descriptors and accepts again once some are free.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleFibers
import SpindleIO
import SpindleTestSupport

// MARK: - auto-echo

/// Runs an automatically configured Runtime (whatever SPINDLE_IO says) and an echo round trip
/// over real sockets on it; prints the backend it chose and why. Under spindle-seccomp-exec
/// (io_uring denied) that is the fall-back to epoll.
func autoEcho() {
    unsetenv("SPINDLE_IO")
    let listener: TCPListener
    do { listener = try TCPListener(host: "127.0.0.1", port: 0) } catch { fail("listen: \(error)") }
    let runtime = Runtime(configuration: .init(workers: 1))
    let message = Array("ping over the fall-back backend".utf8)
    do {
        try runtime.run { worker in
            defer { worker.runtime.stop() }
            defer { listener.close() }
            let server = Fiber.spawn {
                let connection = try listener.accept(deadline: .now + .seconds(10))
                defer { connection.close() }
                while true {
                    let bytes = try connection.read(upTo: 1024, deadline: .now + .seconds(10))
                    if bytes.isEmpty { return }
                    try connection.write(bytes, deadline: .now + .seconds(10))
                }
            }
            let client = try TCPConnection.connect(to: listener.address, deadline: .now + .seconds(10))
            defer { client.close() }
            try client.write(message, deadline: .now + .seconds(10))
            var echoed: [UInt8] = []
            while echoed.count < message.count {
                let bytes = try client.read(upTo: 1024, deadline: .now + .seconds(10))
                if bytes.isEmpty { fail("end of stream after \(echoed.count) echoed bytes") }
                echoed += bytes
            }
            try client.shutdown(.write)
            try server.join()
            say(echoed == message ? "echo ok" : "echo differs: \(String(decoding: echoed, as: UTF8.self))")
        }
    } catch {
        fail("runtime: \(error)")
    }
    guard let choice = runtime.backendChoice else { fail("Runtime.backendChoice is nil after run") }
    say("backend: \(choice.kind)")
    say("reason: \(choice.reason)")
    exit(0)
}

// MARK: - accept-flood

/// Lowers RLIMIT_NOFILE so that only `headroom` more descriptors fit, then accepts `count`
/// connections (the test process opens them): holds the first ones until accepting fails with
/// EMFILE (the listener backs off), then closes them and accepts the rest as descriptors free.
func acceptFlood(count: Int, headroom: Int) {
    let listener: TCPListener
    do { listener = try TCPListener(host: "127.0.0.1", port: 0) } catch { fail("listen: \(error)") }
    let runtime = Runtime(configuration: .init(workers: 1))
    do {
        try runtime.run { worker in
            defer { worker.runtime.stop() }
            defer { listener.close() }
            var errors: [String] = []
            listener.onTransientError = { error, _ in if errors.count < 3 { errors.append("\(error)") } }
            // The lowest limit under which exactly `headroom` descriptor numbers are free
            // (new descriptors take the lowest free number, so holes count).
            let open = Set(openFileDescriptors().keys)
            var newLimit = 0, free = 0
            while free < headroom || open.contains(Int32(newLimit)) {
                if !open.contains(Int32(newLimit)) { free += 1 }
                newLimit += 1
            }
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            limit.rlim_cur = rlim_t(newLimit)
            guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { fail("setrlimit: errno \(errno)") }
            say("backend \(worker.runtime.backendChoice?.kind.description ?? "?") limit \(limit.rlim_cur)")
            say("port \(listener.address.port)")
            var held: [TCPConnection] = []
            var accepted = 0
            var releasing = false
            let acceptor = Fiber.spawn {
                while accepted < count {
                    let connection = try listener.accept(deadline: .now + .seconds(30))
                    accepted += 1
                    if releasing { connection.close() } else { held.append(connection) }
                }
            }
            let stallDeadline = Deadline.now + .seconds(30)
            while listener.transientErrors == 0 {
                if Deadline.now > stallDeadline { fail("no EMFILE within 30 s (accepted \(accepted))") }
                try Fiber.sleep(for: .milliseconds(5))
            }
            try Fiber.sleep(for: .milliseconds(100))  // a back-off or two while still out of descriptors
            say("stalled held=\(held.count) transient=\(listener.transientErrors) first=\(errors.first ?? "?")")
            releasing = true
            for connection in held { connection.close() }
            held.removeAll()
            try acceptor.join()
            say("ok accepted=\(accepted)")
        }
    } catch {
        fail("runtime: \(error)")
    }
    exit(0)
}
