import SpindleFibers

/// A dump of every fiber of a server, per worker (`GET /_spindle/fibers` on the admin
/// listener, and SIGQUIT): what each fiber serves, its state, what it waits for, its age and
/// its stack high-water. Collected by each worker on its own thread (`ServerWorker.fiberDump`),
/// formatted off the workers as JSON or text. See Docs/observability.md.
struct FiberDump: Sendable {
    /// One worker's fibers.
    struct Worker: Sendable {
        let index: Int
        let fibers: [Entry]
    }

    /// One fiber, with what it serves.
    struct Entry: Sendable {
        let snapshot: FiberSnapshot
        /// `GET /path` for a request fiber (the request it serves now), else nil.
        let serving: String?

        /// What the fiber is: its request, else its name, else `fiber`.
        var role: String { serving.map { "request \($0)" } ?? snapshot.name ?? "fiber" }
    }

    /// The workers, by index.
    let workers: [Worker]
    /// When the dump was taken (monotonic).
    let takenAt: Deadline

    /// The dump as JSON: `{"workers":[{"worker":0,"fibers":[{"id":…,"role":…,"state":…,
    /// "waiting":…,"timerInMs":…,"ageMs":…,"stackHighWaterBytes":…,"stackBytes":…}]}]}`.
    var json: String {
        var out = "{\"workers\":["
        for (w, worker) in workers.enumerated() {
            if w > 0 { out += "," }
            out += "{\"worker\":\(worker.index),\"fibers\":["
            for (f, fiber) in worker.fibers.enumerated() {
                if f > 0 { out += "," }
                let s = fiber.snapshot
                out += "{\"id\":\(s.id),\"role\":\(Self.quoted(fiber.role)),\"state\":\"\(s.state.rawValue)\""
                if let serving = fiber.serving { out += ",\"serving\":\(Self.quoted(serving))" }
                if let name = s.name { out += ",\"name\":\(Self.quoted(name))" }
                if let reason = s.waitReason { out += ",\"waiting\":\"\(reason.name)\"" }
                if let timer = s.timer { out += ",\"timerInMs\":\(milliseconds(timer - takenAt))" }
                out += ",\"ageMs\":\(milliseconds(takenAt - s.spawnedAt))"
                out += ",\"stackHighWaterBytes\":\(s.stackHighWaterBytes),\"stackBytes\":\(s.stackSize)}"
            }
            out += "]}"
        }
        return out + "]}\n"
    }

    /// The dump as text, one line per fiber under a line per worker, as SIGQUIT prints it:
    /// `  fiber 4294967299 request GET /slow: parked (sleep, timer in 950 ms), age 50 ms, stack 2.1 KiB of 256 KiB`.
    var text: String {
        var out = "Spindle fiber dump: \(workers.count) worker(s)\n"
        for worker in workers {
            out += "worker \(worker.index): \(worker.fibers.count) fiber(s)\n"
            for fiber in worker.fibers {
                let s = fiber.snapshot
                out += "  fiber \(s.id) \(Self.printable(fiber.role)): \(s.state.rawValue)"
                if let reason = s.waitReason {
                    out += " (\(reason.name)"
                    if let timer = s.timer { out += ", timer in \(milliseconds(timer - takenAt)) ms" }
                    out += ")"
                }
                out += ", age \(milliseconds(takenAt - s.spawnedAt)) ms"
                out += ", stack \(Self.kibibytes(s.stackHighWaterBytes)) of \(Self.kibibytes(s.stackSize))\n"
            }
        }
        return out
    }

    /// Whole milliseconds of `duration` (negative durations included).
    private func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds &* 1000 &+ attoseconds / 1_000_000_000_000_000
    }

    /// `2.1 KiB`.
    static func kibibytes(_ bytes: Int) -> String {
        let tenths = bytes * 10 / 1024
        return "\(tenths / 10).\(tenths % 10) KiB"
    }

    /// `text` as a JSON string literal (quotes, backslashes and control characters escaped).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `text` with control characters replaced by `?` (a request target is the client's).
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
    }
}

extension ServerWorker {
    /// This worker's fibers, with the request each serving fiber serves (method and target,
    /// read from its connection's current request, at most 200 bytes of target). Worker thread
    /// only; allocates (the strings are built here, never on the request path).
    func fiberDump() -> FiberDump.Worker {
        var serving: [UInt64: String] = [:]
        for connection in connections.values {
            guard case .serving(let fiber, _) = connection.state, connection.hasExchange, let box = connection.parserBox else { continue }
            // The lifetime rule: while its fiber serves, the request's head views are valid.
            let head = box.exchange.head
            let method = String(decoding: head.methodBytes, as: UTF8.self)
            let target = String(decoding: head.targetBytes.prefix(200), as: UTF8.self)
            serving[fiber.id] = "\(method) \(target)"
        }
        let fibers = Scheduler.current?.fiberSnapshots() ?? []
        return FiberDump.Worker(index: index, fibers: fibers.map { FiberDump.Entry(snapshot: $0, serving: serving[$0.id]) })
    }
}

extension ServerMetrics {
    /// A fiber dump of every worker (see `ask`): nil when a worker did not answer in time.
    func fiberDump() -> FiberDump? {
        guard let workers = ask({ $0.fiberDump() }) else { return nil }
        return FiberDump(workers: workers.sorted { $0.index < $1.index }, takenAt: .now)
    }
}
