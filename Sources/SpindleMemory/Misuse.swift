/// Stops the process with `message` when `condition` is false: the check for API misuse.
///
/// Unlike `precondition`, whose message `-O` builds drop (the process just traps), this always
/// prints the message — misuse must say what to do instead, in release builds too.
/// Cost when the condition holds: one predictable branch.
@inline(__always)
package func misusePrecondition(_ condition: Bool, _ message: @autoclosure () -> String,
                                file: StaticString = #fileID, line: UInt = #line) {
    if _slowPath(!condition) { misuse(message(), file: file, line: line) }
}

/// Stops the process with `message` (see `misusePrecondition`).
@inline(never)
package func misuse(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError(message, file: file, line: line)
}
