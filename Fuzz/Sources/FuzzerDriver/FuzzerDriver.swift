/// The C signature of a libFuzzer test function (`LLVMFuzzerTestOneInput`).
public typealias FuzzTestFunction = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

// `@_silgen_name`: libFuzzer's entry for programs with their own `main` has no Swift module to
// import; this declares the C function `int LLVMFuzzerRunDriver(int *, char ***, int (*)(const
// uint8_t *, size_t))` so the Swift signature below is the C one.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ test: FuzzTestFunction
) -> CInt

/// Runs libFuzzer's driver (its command line: corpus directories, `-max_total_time=`, …) on
/// `test`. SwiftPM renames an executable's `main` to `<Module>_main` and links `main` to it,
/// which keeps libFuzzer's own `main` out of the link; each target's `<Module>_main` therefore
/// calls this. Never returns before the fuzzer is done; returns its exit status.
public func runFuzzer(argc: CInt, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      test: FuzzTestFunction) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, test)
}
