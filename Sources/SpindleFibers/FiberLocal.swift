/// A value with a separate copy per fiber, like a thread-local for fibers. Reading a fiber
/// that never wrote it gives `defaultValue`. Values are dropped when the fiber finishes.
/// Cost: a dictionary lookup per access; the first write in a fiber allocates its table.
public final class FiberLocal<Value> {
    /// What a fiber reads before it writes its own value.
    public let defaultValue: Value

    /// Creates a fiber-local with `defaultValue`.
    public init(defaultValue: Value) { self.defaultValue = defaultValue }

    /// The running fiber's value. Must be used inside a fiber.
    public var value: Value {
        get {
            let core = Fiber.currentCore("FiberLocal.value")
            return core.pointee.locals?[ObjectIdentifier(self)] as? Value ?? defaultValue
        }
        set {
            let core = Fiber.currentCore("FiberLocal.value")
            if core.pointee.locals == nil { core.pointee.locals = [:] }
            core.pointee.locals![ObjectIdentifier(self)] = newValue
        }
    }

    /// Runs `body` with the value set to `newValue`, restoring the previous value afterwards.
    public func withValue<T>(_ newValue: Value, _ body: () throws -> T) rethrows -> T {
        let saved = value
        value = newValue
        defer { value = saved }
        return try body()
    }
}
