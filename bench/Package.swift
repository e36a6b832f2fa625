// swift-tools-version: 6.1
//
// Spindle's benchmarks: a package of its own so benchmark code and its dependencies never enter
// the core's dependency graph. Build and run from the repository root with `make bench-fibers`,
// or directly with `make -C bench fibers` (see Docs/benchmarks.md and Docs/benchmarks/fibers.md).
import PackageDescription

let package = Package(
    name: "SpindleBench",
    dependencies: [
        // The core, built in release with its default traits (mimalloc is the process malloc).
        .package(name: "Spindle", path: ".."),
    ],
    targets: [
        // C baselines: a raw boost.context ping-pong and the exclusivity-swap loop.
        .target(
            name: "CFiberBench",
            linkerSettings: [.linkedLibrary("boost_context")]
        ),
        // One executable runs every fiber benchmark and prints the table (`fiber-bench help`).
        .executableTarget(
            name: "fiber-bench",
            dependencies: [
                "CFiberBench",
                .product(name: "SpindleFibers", package: "Spindle"),
                .product(name: "SpindleMemory", package: "Spindle"),
            ]
        ),
        // The HTTP client in a loop against one URL (`make client`, bench/client/run.py).
        .executableTarget(
            name: "client-bench",
            dependencies: [
                .product(name: "SpindleHTTPClient", package: "Spindle"),
                .product(name: "SpindleIO", package: "Spindle"),
                .product(name: "SpindleFibers", package: "Spindle"),
            ]
        ),
        // One Fiber.await hop beside awaiting in a Task (`make await`, Docs/benchmarks/await.md).
        .executableTarget(
            name: "await-bench",
            dependencies: [
                .product(name: "SpindleIO", package: "Spindle"),
                .product(name: "SpindleFibers", package: "Spindle"),
            ]
        ),
    ]
)
