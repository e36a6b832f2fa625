// swift-tools-version: 6.1
//
// libFuzzer targets for Spindle's parsers, and the request-verdict tool of the differential
// run against Python's h11. A package of its own so that `swift build` of Spindle never builds
// these, and so that they build with the sanitizer flags on a scratch path of their own:
//
//   swift build -c release --scratch-path .build-fuzz \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --product FuzzRequestParser
//
// Spindle is depended on without its default trait, so mimalloc is not the process allocator:
// AddressSanitizer must own malloc. `make fuzz` and `make fuzz-diff` (top-level Makefile) build
// and run everything; see Docs/fuzzing.md.
import PackageDescription

let fuzzTargets = [
    "FuzzRequestParser", "FuzzChunkedDecoder", "FuzzPercentDecoding",
    "FuzzRouter", "FuzzWebSocketFrame", "FuzzResponseParser",
]

let package = Package(
    name: "SpindleFuzz",
    dependencies: [
        .package(name: "Spindle", path: "..", traits: []),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // What more than one target uses: the request-stream driver (whole vs split, and the
        // verdict the differential run compares with h11).
        .target(name: "FuzzSupport", dependencies: [
            .product(name: "SpindleHTTP", package: "Spindle"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        // libFuzzer's driver called from each target's entry; only the fuzz targets link it (they
        // are the only programs built with -sanitize=fuzzer, which brings libFuzzer).
        .target(name: "FuzzerDriver"),
        .executableTarget(name: "spindle-request-verdict", dependencies: ["FuzzSupport"]),
    ] + fuzzTargets.map { name in
        .executableTarget(name: name, dependencies: [
            "FuzzSupport", "FuzzerDriver",
            .product(name: "SpindleHTTP", package: "Spindle"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ] + (name == "FuzzRouter" ? [.product(name: "Spindle", package: "Spindle")] : []))
    }
)
