import SpindleFibers
import Synchronization

/// Answers to one question asked of every worker of a server (`ServerMetrics.ask`), gathered
/// under a lock: each worker computes its answer on its own thread and stores it here. The
/// asker looks every millisecond until all have answered: a fiber parks in between (so the
/// asker may be any fiber or a plain thread, such as the signal watcher, which sleeps).
final class WorkerAnswers<Answer: Sendable>: Sendable {
    /// How many workers were asked.
    let expected: Int
    private let gathered = Mutex<(answered: Int, answers: [Answer])>((0, []))

    init(expected: Int) { self.expected = expected }

    /// One worker's answer (nil: it had gone). Any thread.
    func receive(_ answer: Answer?) {
        gathered.withLock { state in
            state.answered += 1
            if let answer { state.answers.append(answer) }
        }
    }

    /// Workers that answered (or had gone) so far.
    var answered: Int { gathered.withLock { $0.answered } }

    /// The answers received so far.
    var answers: [Answer] { gathered.withLock { $0.answers } }

    /// Waits until every worker answered or `deadline` passed; true when all did (false too when
    /// the waiting fiber is cancelled). In a fiber it parks (1 ms between looks); elsewhere it
    /// sleeps the thread.
    func wait(until deadline: Deadline) -> Bool {
        while answered < expected {
            if Deadline.now >= deadline { return false }
            if Fiber.current != nil {
                // A cancelled fiber cannot park: give up rather than spin.
                do { try Fiber.sleep(for: .milliseconds(1)) } catch { return false }
            } else {
                var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
                nanosleep(&pause, nil)
            }
        }
        return true
    }
}

#if canImport(Glibc)
import Glibc
#endif
