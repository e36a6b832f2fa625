/// Stops the fuzzer with `message` when `condition` is false: libFuzzer reports the trap as a
/// crash and saves the input. Active in every build configuration (unlike `assert`).
/// Cost: the condition; the message is built only on failure.
@inlinable
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("invariant broken: \(message())", file: file, line: line) }
}

/// A split point in `0...count` read from the first two bytes of `data` (0 when shorter), so
/// libFuzzer's mutations move it. Cost: none.
public func splitPoint(of data: UnsafeRawBufferPointer) -> Int {
    guard data.count >= 2 else { return 0 }
    let chosen = Int(data[0]) | Int(data[1]) << 8
    return chosen % (data.count + 1)
}
