// spindle-io-probe: the client side and the process-level experiments of SpindleIOTests, in a
// process of its own (10,000 client sockets need their own descriptors; a seccomp filter or a
// crash must not touch the test process).
//
//   spindle-io-probe echo-clients <port> <count> <messageBytes> [--wait-go]
//       Opens <count> connections to 127.0.0.1:<port> at once (one fiber each, on a one-worker
//       Runtime), waits until all are connected (with --wait-go it then prints
//       "connected <count>" and waits for a line "go" on stdin), then every connection sends
//       one message of <messageBytes> bytes unique to it and checks that the echo is identical.
//       Prints "ok <count>" and exits 0; on any failure prints "FAIL: <reason>" to stderr and
//       exits 1.
//   spindle-io-probe uring-blocked
//       Installs a seccomp filter that makes io_uring_setup fail with EPERM, then runs a
//       Runtime configured for io_uring explicitly (automatic selection would fall back to
//       epoll); prints "error: <the thrown error>" and exits 0 when run threw, exits 1 otherwise.
//   spindle-io-probe uring-syscalls
//       Reports what this process may do with io_uring, for runs under spindle-seccomp-exec
//       and without it: "seccomp <mode> filters <count>" (from /proc/self/status), then for
//       `Ring(entries:)` on the main thread and on a new thread "setup <thread>: ok flags=0x…"
//       or "setup <thread>: errno <NAME>" and "error <thread>: <the thrown error>", then
//       "enter: errno <NAME>" and "register: errno <NAME>" for io_uring_enter and
//       io_uring_register on a descriptor that is not open (EBADF when allowed, EPERM when
//       filtered). Exits 0.
//   spindle-io-probe auto-echo
//       Runs an automatically configured Runtime (SPINDLE_IO is ignored) and an echo round trip
//       over 127.0.0.1 on it; prints "echo ok", then "backend: <kind>" and "reason: <why>" from
//       Runtime.backendChoice, and exits 0. Under spindle-seccomp-exec: the fall-back to epoll.
//   spindle-io-probe accept-flood <count> <headroom>
//       Listens on 127.0.0.1:0, lowers RLIMIT_NOFILE to leave <headroom> descriptors, prints
//       "port <port>", and accepts <count> connections (the test opens them): holds them until
//       accepting fails with EMFILE ("stalled held=<n> transient=<n> ..."), then closes them
//       and accepts the rest; prints "ok accepted=<count>" and exits 0.
//   spindle-io-probe listener-outlives-runtime
//       A TCPListener that accepted on a worker is closed after Runtime.run returned (the
//       pattern of Examples/Echo, where listeners are created outside run). Prints "ok" and
//       exits 0 when that is safe.
//   spindle-io-probe stop-race <seconds> [workers]
//       For <seconds>, starts Runtimes (default one worker) and calls stop() while they start up;
//       each run must return within 5 s. Prints "ok <iterations>" or "FAIL: ..." (exit 1).
#if canImport(Glibc)
import Glibc
#endif
import CSpindle
import Foundation
import SpindleFibers
import SpindleIO
import SpindleMemory
import SpindleTestSupport
import Synchronization

/// The message connection `index` sends: `bytes` bytes that differ from every other connection's.
func message(index: Int, bytes: Int) -> [UInt8] {
    var out = pattern(seed: index, count: bytes)
    // The index in the first bytes, so two connections' messages can never be equal.
    for i in 0..<min(8, bytes) { out[i] = UInt8(truncatingIfNeeded: index >> (8 * i)) }
    return out
}

// MARK: - echo-clients

func echoClients(port: Int, count: Int, messageBytes: Int, waitForGo: Bool) {
    let limit = raiseDescriptorLimit()
    if count + 64 > limit { fail("\(count) connections need more descriptors than RLIMIT_NOFILE \(limit)") }
    let runtime = Runtime(configuration: .init(workers: 1))
    let succeeded = Atomic<Int>(0)
    do {
        try runtime.run { worker in
            defer { worker.runtime.stop() }
            let allConnected = Event()
            let go = Event()
            let group = WaitGroup()
            var connected = 0
            for index in 0..<count {
                group.add()
                Fiber.spawn {
                    defer { group.done() }
                    let connection: TCPConnection
                    do {
                        connection = try TCPConnection.connect(host: "127.0.0.1", port: port, deadline: .now + .seconds(60))
                    } catch {
                        fail("connect #\(index) (after \(connected) connected): \(error)")
                    }
                    defer { connection.close() }
                    connected += 1
                    if connected == count { allConnected.set() }
                    do {
                        try go.wait(deadline: .now + .seconds(180))
                        let sent = message(index: index, bytes: messageBytes)
                        try connection.write(sent, deadline: .now + .seconds(60))
                        var received: [UInt8] = []
                        received.reserveCapacity(messageBytes)
                        while received.count < messageBytes {
                            let chunk = try connection.read(upTo: messageBytes - received.count, deadline: .now + .seconds(60))
                            if chunk.isEmpty { fail("connection #\(index): end of stream after \(received.count) of \(messageBytes) echoed bytes") }
                            received += chunk
                        }
                        guard received == sent else {
                            let at = zip(received, sent).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1
                            fail("connection #\(index): echo differs from the message at byte \(at)")
                        }
                        succeeded.add(1, ordering: .relaxed)
                    } catch {
                        fail("connection #\(index): \(error)")
                    }
                }
            }
            do {
                try allConnected.wait(deadline: .now + .seconds(120))
            } catch {
                fail("only \(connected) of \(count) connected within 120 s")
            }
            if waitForGo {
                say("connected \(count)")
                let line = try Fiber.offload { readLine() }
                guard line == "go" else { fail("expected \"go\" on stdin, got \(line.map { "\"\($0)\"" } ?? "end of input")") }
            }
            go.set()
            try group.wait()
        }
    } catch {
        fail("runtime: \(error)")
    }
    let ok = succeeded.load(ordering: .relaxed)
    guard ok == count else { fail("\(ok) of \(count) connections echoed correctly") }
    say("ok \(ok)")
    exit(0)
}

// MARK: - uring-blocked

/// `struct sock_filter` of <linux/filter.h> (Glibc does not import it).
struct SockFilter {
    var code: UInt16
    var jt: UInt8
    var jf: UInt8
    var k: UInt32
}

/// `struct sock_fprog` of <linux/filter.h>.
struct SockFprog {
    var len: UInt16
    var filter: UnsafeMutablePointer<SockFilter>?
}

/// `prctl(2)`: variadic in <sys/prctl.h>, so Swift does not import it; called through dlsym with
/// the five-argument form (integer arguments pass alike in registers on x86_64).
typealias PrctlFunction = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32

func prctlFunction() -> PrctlFunction {
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "prctl") else { fail("dlsym(prctl) failed") }
    return unsafeBitCast(symbol, to: PrctlFunction.self)
}

/// Makes io_uring_setup (syscall 425 on x86_64) fail with EPERM in this process, as a container
/// runtime's seccomp profile does.
func blockIOUringSetup() {
    #if arch(x86_64)
    let PR_SET_NO_NEW_PRIVS: Int32 = 38
    let PR_SET_SECCOMP: Int32 = 22
    let SECCOMP_MODE_FILTER: UInt = 2
    let BPF_LD_W_ABS: UInt16 = 0x00 | 0x00 | 0x20     // BPF_LD | BPF_W | BPF_ABS
    let BPF_JMP_JEQ_K: UInt16 = 0x05 | 0x10 | 0x00    // BPF_JMP | BPF_JEQ | BPF_K
    let BPF_RET_K: UInt16 = 0x06 | 0x00               // BPF_RET | BPF_K
    let SECCOMP_RET_ERRNO: UInt32 = 0x0005_0000
    let SECCOMP_RET_ALLOW: UInt32 = 0x7fff_0000
    let AUDIT_ARCH_X86_64: UInt32 = 0xC000_003E
    let offsetOfNr: UInt32 = 0                        // struct seccomp_data { int nr; __u32 arch; ... }
    let offsetOfArch: UInt32 = 4
    let ioUringSetup: UInt32 = 425                    // __NR_io_uring_setup on x86_64
    var program: [SockFilter] = [
        SockFilter(code: BPF_LD_W_ABS, jt: 0, jf: 0, k: offsetOfArch),
        SockFilter(code: BPF_JMP_JEQ_K, jt: 0, jf: 3, k: AUDIT_ARCH_X86_64),  // other arch: allow
        SockFilter(code: BPF_LD_W_ABS, jt: 0, jf: 0, k: offsetOfNr),
        SockFilter(code: BPF_JMP_JEQ_K, jt: 0, jf: 1, k: ioUringSetup),
        SockFilter(code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ERRNO | UInt32(EPERM)),
        SockFilter(code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW),
    ]
    let prctl = prctlFunction()
    guard prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 else { fail("prctl(PR_SET_NO_NEW_PRIVS): errno \(errno)") }
    let rc = program.withUnsafeMutableBufferPointer { filters -> Int32 in
        var fprog = SockFprog(len: UInt16(filters.count), filter: filters.baseAddress)
        return withUnsafeMutablePointer(to: &fprog) { prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, UInt(bitPattern: $0), 0, 0) }
    }
    guard rc == 0 else { fail("prctl(PR_SET_SECCOMP): errno \(errno)") }
    #else
    fail("uring-blocked knows only the x86_64 system call number of io_uring_setup")
    #endif
}

func uringBlocked() {
    blockIOUringSetup()
    say("seccomp filter installed")
    let runtime = Runtime(configuration: .init(workers: 1, backend: .uring))
    do {
        try runtime.run { _ in }
    } catch {
        say("error: \(error)")
        say("type: \(type(of: error))")
        exit(0)
    }
    fail("Runtime.run returned normally although io_uring_setup is blocked")
}

// MARK: - uring-syscalls

/// "<mode> filters <count>" from the Seccomp lines of /proc/self/status ("? filters ?" when absent).
func seccompStatus() -> String {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    func field(_ key: String) -> String {
        status.split(separator: "\n").first { $0.hasPrefix(key + ":") }
            .map { $0.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces) } ?? "?"
    }
    return "\(field("Seccomp")) filters \(field("Seccomp_filters"))"
}

/// Sets up a ring on the calling thread and says how that went, labelled `label`.
func reportRingSetup(_ label: String) {
    do throws(IOUringUnavailableError) {
        let ring = try Ring(entries: 8)
        say("setup \(label): ok flags=0x\(String(ring.setupFlags, radix: 16))")
    } catch {
        say("setup \(label): errno \(Errno.name(error.errno))")
        say("error \(label): \(error)")
    }
}

/// The errno of a liburing system call wrapper's result (-errno on failure; errno itself is not
/// set, and -1 is EPERM), or nil when it succeeded.
func errnoOf(_ rc: Int32) -> Int32? {
    rc < 0 ? -rc : nil
}

func uringSyscalls() {
    say("seccomp \(seccompStatus())")
    reportRingSetup("main")
    // The filter must hold on every thread, not only the one that exec'd: workers set up rings.
    let finished = DispatchSemaphore(value: 0)
    let thread = Thread {
        reportRingSetup("thread")
        finished.signal()
    }
    thread.start()
    finished.wait()
    // A descriptor that is never open (above any RLIMIT_NOFILE): the kernel answers EBADF unless
    // a filter refuses the call first. Not -1, which io_uring_register takes as "no ring" (6.14+).
    let badDescriptor = UInt32(Int32.max)
    let enter = errnoOf(io_uring_enter(badDescriptor, 0, 0, 0, nil))
    say("enter: \(enter.map { "errno \(Errno.name($0))" } ?? "ok")")
    let register = errnoOf(io_uring_register(badDescriptor, UInt32(IORING_REGISTER_BUFFERS), nil, 0))
    say("register: \(register.map { "errno \(Errno.name($0))" } ?? "ok")")
    exit(0)
}

// MARK: - listener-outlives-runtime

func listenerOutlivesRuntime() {
    let listener: TCPListener
    do { listener = try TCPListener(host: "127.0.0.1", port: 0) } catch { fail("listen: \(error)") }
    let runtime = Runtime(configuration: .init(workers: 1))
    let accepting = Atomic<Bool>(false)
    let thread = Thread {
        while !accepting.load(ordering: .acquiring) { usleep(1000) }
        usleep(50_000)  // the worker is parked in accept with its multishot accept armed
        runtime.stop()
    }
    thread.start()
    do {
        try runtime.run { _ in
            accepting.store(true, ordering: .releasing)
            _ = try listener.accept()
        }
    } catch {
        fail("runtime: \(error)")
    }
    say("runtime ended; closing the listener")
    listener.close()
    say("ok")
    exit(0)
}

// MARK: - stop-race

/// Carries a worker's scheduler out of the runtime, only to read its counters once the worker
/// is stuck (racy by design: a diagnostic of a hang).
final class SchedulerSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var schedulers: [Int: Scheduler] = [:]
    func set(_ index: Int, _ scheduler: Scheduler?) { lock.lock(); schedulers[index] = scheduler; lock.unlock() }
    var all: [Int: Scheduler] { lock.lock(); defer { lock.unlock() }; return schedulers }
}

func stopRace(seconds: Int, workers: Int) {
    // When does a worker register itself with the runtime after `run` begins? Just before its
    // body starts. The body start times of recent runs (all workers) are kept, and stop() is
    // aimed just before one of them: that is when the registration races stop().
    var recent: [UInt64] = []
    var generator = SystemRandomNumberGenerator()
    let end = Deadline.now + .seconds(seconds)
    var iteration = 0
    while Deadline.now < end {
        iteration += 1
        let runtime = Runtime(configuration: .init(workers: workers))
        let finished = DispatchSemaphore(value: 0)
        let slot = SchedulerSlot()
        let starts = Locked<[UInt64]>([])
        let delay: UInt64
        if recent.count < 32 {
            delay = 10_000_000  // calibration: stop well after start-up
        } else {
            let aim = recent.randomElement(using: &generator)!
            delay = aim - min(aim, UInt64.random(in: 0...15_000, using: &generator))
        }
        let begin = Deadline.now.nanoseconds
        let thread = Thread {
            do {
                try runtime.run { worker in
                    let now = Deadline.now.nanoseconds
                    starts.withLock { $0.append(now - begin) }
                    slot.set(worker.index, Scheduler.current)
                    try Fiber.sleep(for: .seconds(30))
                }
            } catch { fail("runtime: \(error)") }
            finished.signal()
        }
        thread.start()
        while Deadline.now.nanoseconds - begin < delay {}
        runtime.stop()
        if finished.wait(timeout: .now() + 5) == .timedOut {
            let state = (0..<workers).map { index in
                "worker \(index): " + (slot.all[index].map { "liveFibers=\($0.liveFibers) keepAliveCount=\($0.keepAliveCount)" } ?? "body never ran")
            }.joined(separator: ", ")
            fail("iteration \(iteration): Runtime.run did not return within 5 s after stop() (called \(delay) ns after run began); \(state)")
        }
        recent += starts.withLock { $0 }
        if recent.count > 256 { recent.removeFirst(recent.count - 256) }
    }
    say("ok \(iteration)")
    exit(0)
}

/// A value shared between threads, behind a lock.
final class Locked<Value>: @unchecked Sendable {
    // @unchecked Sendable: every access holds `lock`.
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

// MARK: - main

let arguments = CommandLine.arguments
let mode = arguments.count > 1 ? arguments[1] : "help"
switch mode {
case "echo-clients":
    guard arguments.count >= 5, let port = Int(arguments[2]), let count = Int(arguments[3]), let bytes = Int(arguments[4]),
          count > 0, bytes > 0 else {
        fail("usage: spindle-io-probe echo-clients <port> <count> <messageBytes> [--wait-go]")
    }
    echoClients(port: port, count: count, messageBytes: bytes, waitForGo: arguments.dropFirst(5).contains("--wait-go"))
case "uring-blocked":
    uringBlocked()
case "uring-syscalls":
    uringSyscalls()
case "auto-echo":
    autoEcho()
case "accept-flood":
    guard arguments.count >= 4, let count = Int(arguments[2]), let headroom = Int(arguments[3]), count > 0, headroom > 0 else {
        fail("usage: spindle-io-probe accept-flood <count> <headroom>")
    }
    acceptFlood(count: count, headroom: headroom)
case "listener-outlives-runtime":
    listenerOutlivesRuntime()
case "stop-race":
    stopRace(seconds: arguments.count > 2 ? Int(arguments[2]) ?? 10 : 10, workers: arguments.count > 3 ? Int(arguments[3]) ?? 1 : 1)
default:
    fail("unknown mode \(mode); modes: echo-clients, uring-blocked, uring-syscalls, auto-echo, accept-flood, listener-outlives-runtime, stop-race")
}
