import Synchronization

/// How many connection-level I/O objects exist in the process right now: every
/// `TCPConnection`, `StreamReceiver` and `AsyncSend` counts itself in its initializer and
/// out in its `deinit`. The tests read them after a server or runtime has stopped, when they
/// must be back where they started: an object the backend still held (an armed receive whose
/// last completion was never reaped, say) shows up here, where the descriptor checks cannot
/// see it because its socket was closed. Cost: one relaxed atomic add per object created and
/// one per object freed (per connection, not per request); any thread.
package enum LiveIOObjects {
    static let connections = Atomic<Int>(0)
    static let receivers = Atomic<Int>(0)
    static let sends = Atomic<Int>(0)

    /// The three counts, for a leak check's message.
    package struct Counts: Equatable, CustomStringConvertible {
        /// Live `TCPConnection`s.
        package var connections: Int
        /// Live `StreamReceiver`s.
        package var receivers: Int
        /// Live `AsyncSend`s (those kept as a worker's spares included).
        package var sends: Int

        package var description: String {
            "\(connections) TCPConnection, \(receivers) StreamReceiver, \(sends) AsyncSend"
        }
    }

    /// The counts now. Relaxed loads: exact once the threads that freed objects have been
    /// joined (a stopped runtime's workers).
    package static var now: Counts {
        Counts(connections: connections.load(ordering: .relaxed),
               receivers: receivers.load(ordering: .relaxed),
               sends: sends.load(ordering: .relaxed))
    }

    @inline(__always)
    static func count(_ counter: borrowing Atomic<Int>, _ delta: Int) {
        counter.add(delta, ordering: .relaxed)
    }
}
