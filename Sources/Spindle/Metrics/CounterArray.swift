// The hot counters of a worker, in place: the fenced raw memory behind `WorkerMetrics`.
//
// Invariant: a `CounterArray` is written by one thread at a time. A worker's own arrays are
// written only on its thread; a scrape takes `WorkerMetrics.copied()` there (new arrays) and
// only those copies cross threads, where they are read and summed, never the worker's own.

/// A fixed number of counters in one allocation, incremented in place. Where a Swift array
/// checked its buffer's uniqueness on every increment (two calls, about an eighth of what
/// counting a request cost), this is a bounds check and an add. A reference: copies of a
/// `WorkerMetrics` share it until `copy()` makes a new one, as `WorkerMetrics.copied()` does.
/// Allocates once, at creation.
final class CounterArray<Element: FixedWidthInteger>: RandomAccessCollection, @unchecked Sendable {
    private let base: UnsafeMutablePointer<Element>
    /// The number of counters.
    let count: Int

    /// `count` counters at zero. Allocates.
    init(count: Int) {
        self.count = Swift.max(0, count)
        base = .allocate(capacity: self.count)
        base.initialize(repeating: 0, count: self.count)
    }

    deinit { base.deallocate() }

    /// A new array with these counts. Allocates.
    func copy() -> CounterArray {
        let copy = CounterArray(count: count)
        copy.base.update(from: base, count: count)
        return copy
    }

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    /// Counter `index`; traps outside `0..<count` (callers clamp what they index with).
    subscript(index: Int) -> Element {
        precondition(UInt(bitPattern: index) < UInt(bitPattern: count), "CounterArray index out of range")
        return base[index]
    }

    /// Adds `value` to counter `index`, wrapping. Traps outside `0..<count`.
    @inline(__always)
    func add(_ value: Element, at index: Int) {
        precondition(UInt(bitPattern: index) < UInt(bitPattern: count), "CounterArray index out of range")
        base[index] &+= value
    }

    /// Adds `other`'s counts to these, counter by counter (the shorter length).
    func add(_ other: CounterArray) {
        for index in 0..<Swift.min(count, other.count) { base[index] &+= other.base[index] }
    }
}
