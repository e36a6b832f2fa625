// Object-leak checks for tests: the connection-level I/O objects alive before a test against
// those alive after it (`LiveIOObjects`), for the objects whose sockets are closed, so the
// descriptor checks cannot see them.
import SpindleIO

/// The connection-level I/O objects alive at one moment (e.g. a test's start).
package struct LiveObjectSnapshot {
    /// The counts then.
    package let counts: LiveIOObjects.Counts

    /// The counts now.
    package init() { counts = LiveIOObjects.now }

    /// Compares with the counts now, first waiting at most `grace` for them to match (objects
    /// freed by threads that are finishing). Returns nil when they match, else a message.
    package func leakNow(grace: Duration) -> String? {
        if waitUntil(timeout: grace, { LiveIOObjects.now == counts }) { return nil }
        return "I/O object leak: \(counts) alive before the test, \(LiveIOObjects.now) after"
    }
}
