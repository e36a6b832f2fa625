// AddressSanitizer (`make test-asan`), seen from a test: whether it is active, and where a
// local really lives. Detected at run time by its runtime's exported entry points: Swift has no
// compile-time condition for sanitizers, and C headers imported into Swift are not compiled
// with `-fsanitize=address` even when the build is (so `__has_feature` cannot tell either).
#if canImport(Glibc)
import Glibc
#endif

/// AddressSanitizer's run-time interface, when this process runs under it.
public enum AddressSanitizer {
    private typealias CurrentFakeStack = @convention(c) () -> UnsafeMutableRawPointer?
    private typealias AddressIsInFakeStack = @convention(c) (
        UnsafeMutableRawPointer?, UnsafeMutableRawPointer?,
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    ) -> UnsafeMutableRawPointer?

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name)  // RTLD_DEFAULT
    }

    /// True when the process was built with `--sanitize=address`.
    public static let isActive = symbol("__asan_init") != nil

    // Looked up once (a lookup takes kilobytes of stack, which a deep fiber may not have left).
    private static let currentFakeStack = symbol("__asan_get_current_fake_stack").map { unsafeBitCast($0, to: CurrentFakeStack.self) }
    private static let addressIsInFakeStack = symbol("__asan_addr_is_in_fake_stack").map { unsafeBitCast($0, to: AddressIsInFakeStack.self) }

    /// The address on the real stack of the frame that holds `local`. Under ASan with
    /// `detect_stack_use_after_return` (its default), locals whose address is taken live in a
    /// "fake stack" on the heap, so their addresses say nothing about stack depth; this maps
    /// them back to their frame on the running (fiber's) stack. Anything else is returned as is.
    public static func stackAddress(of local: UnsafeMutableRawPointer) -> UInt {
        if let currentFakeStack, let addressIsInFakeStack,
           let real = addressIsInFakeStack(currentFakeStack(), local, nil, nil) {
            return UInt(bitPattern: real)
        }
        return UInt(bitPattern: local)
    }
}
