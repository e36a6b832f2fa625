// swift-tools-version: 6.1
//
// Spindle: an HTTP/1.1 server runtime for Swift on Linux built on cooperative fibers.
// Layers, bottom up (each depends only on the ones above it):
//   CSpindle (C shim) → SpindleMemory → SpindleFibers → SpindleIO
//   SpindleHTTP (protocol core) depends on SpindleMemory, swift-http-types and zlib (CZlib) only
//   SpindleHTTPClient (the client) depends on SpindleIO, SpindleHTTP and SpindleTLS (https)
// See Docs/architecture.md.
import PackageDescription

let package = Package(
    name: "Spindle",
    products: [
        .library(name: "SpindleFibers", targets: ["SpindleFibers"]),
        .library(name: "SpindleMemory", targets: ["SpindleMemory"]),
        .library(name: "SpindleIO", targets: ["SpindleIO"]),
        .library(name: "SpindleHTTP", targets: ["SpindleHTTP"]),
        .library(name: "SpindleTLS", targets: ["SpindleTLS"]),
        .library(name: "SpindleJSON", targets: ["SpindleJSON"]),
        .library(name: "Spindle", targets: ["Spindle"]),
        .library(name: "SpindleTesting", targets: ["SpindleTesting"]),
        .library(name: "SpindleHTTPClient", targets: ["SpindleHTTPClient"]),
        // Test helpers (bounded waits, locks, loopback sockets, README command lines), a product
        // only so that the tests of the example packages (Examples/AsyncBridge) can share them.
        // Not API: it changes with the tests.
        .library(name: "SpindleTestSupport", targets: ["SpindleTestSupport"]),
        .executable(name: "Hello", targets: ["Hello"]),
        .executable(name: "Todo", targets: ["Todo"]),
        .executable(name: "Gateway", targets: ["Gateway"]),
        .executable(name: "Chat", targets: ["Chat"]),
        .executable(name: "Files", targets: ["Files"]),
        .executable(name: "FiberDemo", targets: ["FiberDemo"]),
        .executable(name: "spindle-echo", targets: ["spindle-echo"]),
    ],
    traits: [
        // mimalloc is the process allocator unless built with `--disable-default-traits`
        // (the allocator benchmark uses that to compare glibc malloc, jemalloc and tcmalloc).
        .trait(name: "Mimalloc", description: "Link mimalloc as the process-wide malloc."),
        .default(enabledTraits: ["Mimalloc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
        // ServerConfiguration(config:) reads a ConfigReader; the trait brings CommandLineArgumentsProvider.
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["CommandLineArguments"]),
        // Server is a ServiceLifecycle.Service (run it in a ServiceGroup).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // SQLite for the todo example (Examples/Todo), through Debian's libsqlite3-dev.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // The only C in the library: boost.context declarations, thread-locals the fast path
        // reads, and the stack-overflow signal handler.
        .target(
            name: "CSpindle",
            cSettings: [.define("SPINDLE_MIMALLOC", .when(traits: ["Mimalloc"]))],
            linkerSettings: [
                .linkedLibrary("boost_context"),
                .linkedLibrary("uring"),
                .linkedLibrary("mimalloc", .when(traits: ["Mimalloc"])),
            ]
        ),
        // OpenSSL's libcrypto from Debian (libssl-dev): the WebSocket handshake's SHA-1.
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // OpenSSL's libssl from Debian (libssl-dev): TLS termination, called from SpindleTLS only.
        .systemLibrary(name: "COpenSSLTLS", pkgConfig: "libssl", providers: [.apt(["libssl-dev"])]),
        // zlib from the system (Debian's zlib1g-dev, found with pkg-config), for gzip
        // response compression; called from one file, SpindleHTTP/GzipCompressor.swift.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "SpindleMemory", dependencies: ["CSpindle"]),
        .target(name: "SpindleFibers", dependencies: ["SpindleMemory", "CSpindle"]),
        .target(name: "SpindleIO", dependencies: ["SpindleFibers", "SpindleMemory", "CSpindle"]),
        // TLS over SpindleIO's TCPConnection: OpenSSL through memory BIOs, the fiber parks on the socket.
        .target(name: "SpindleTLS", dependencies: ["SpindleIO", "SpindleFibers", "SpindleMemory", "COpenSSLTLS"]),
        .target(name: "SpindleJSON"),
        .testTarget(name: "SpindleJSONTests", dependencies: ["SpindleJSON"]),
        .target(name: "SpindleHTTP", dependencies: ["SpindleMemory", "CZlib", .product(name: "HTTPTypes", package: "swift-http-types")]),

        .executableTarget(name: "FiberDemo", dependencies: ["SpindleFibers"], path: "Examples/FiberDemo"),
        .executableTarget(name: "spindle-echo", dependencies: ["SpindleIO", "SpindleFibers"], path: "Examples/Echo"),

        // A tiny program the tests run in a subprocess to prove crash reports (stack overflow).
        .executableTarget(name: "spindle-probe", dependencies: ["SpindleFibers", "SpindleTestSupport"], path: "Tests/Probe"),
        // Helpers the test targets share (locks, bounded waits, descriptor counting, probe subprocesses).
        .target(name: "SpindleTestSupport", dependencies: ["SpindleFibers", "SpindleIO"], path: "Tests/SpindleTestSupport"),
        .testTarget(name: "SpindleMemoryTests", dependencies: ["SpindleMemory"]),
        .testTarget(name: "SpindleFibersTests", dependencies: ["SpindleFibers", "SpindleTestSupport", "spindle-probe"]),
        // Client side of the I/O tests in its own process (10,000 connections need their own fds).
        .executableTarget(name: "spindle-io-probe", dependencies: ["SpindleIO", "SpindleFibers", "SpindleMemory", "CSpindle", "SpindleTestSupport"], path: "Tests/IOProbe"),
        // C wrapper the tests run a probe under to deny it io_uring with a seccomp filter, as
        // Docker's default profile does (`ProbeProcess(..., ioUringBlocked: true)`).
        .executableTarget(name: "spindle-seccomp-exec", path: "Tests/SeccompExec"),
        .target(name: "Spindle", dependencies: [
            "SpindleIO", "SpindleHTTP", "SpindleFibers", "SpindleMemory", "SpindleTLS", "SpindleJSON", "COpenSSL",
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Configuration", package: "swift-configuration"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // Testing apps built on Spindle: the router served in memory (no sockets) or live on
        // port 0, through a blocking client returning swift-http-types responses.
        .target(name: "SpindleTesting", dependencies: [
            "Spindle", "SpindleHTTP", "SpindleFibers", "SpindleIO",
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // A blocking-style HTTP/1.1 client for fibers: pooled keep-alive connections per host,
        // deadlines, redirects; responses parsed by SpindleHTTP's HTTPResponseParser.
        .target(name: "SpindleHTTPClient", dependencies: [
            "SpindleIO", "SpindleHTTP", "SpindleFibers", "SpindleMemory", "SpindleTLS",
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .executableTarget(name: "Hello", dependencies: [
            "Spindle", "SpindleJSON", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Configuration", package: "swift-configuration"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Examples/Hello"),
        // The todo example: a JSON REST API on SQLite (GRDB), every database call offloaded.
        // Its routes are a library so the tests build the router without a process.
        .target(name: "TodoApp", dependencies: [
            "Spindle", "SpindleHTTP", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ], path: "Examples/Todo/TodoApp"),
        .executableTarget(name: "Todo", dependencies: [
            "TodoApp", "Spindle", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Examples/Todo/Todo"),
        // The gateway example: a dashboard fanned out to three upstreams with deadlines, and a
        // streaming reverse proxy, over SpindleHTTPClient (one client per worker).
        .target(name: "GatewayApp", dependencies: [
            "Spindle", "SpindleHTTPClient", "SpindleFibers",
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ], path: "Examples/Gateway/GatewayApp"),
        .executableTarget(name: "Gateway", dependencies: [
            "GatewayApp", "Spindle", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Examples/Gateway/Gateway"),
        // The chat example: rooms over WebSocket and Server-Sent Events, a fiber per member,
        // messages fanned out through per-member bounded channels, rooms shared by the workers.
        .target(name: "ChatApp", dependencies: [
            "Spindle", "SpindleFibers", .product(name: "HTTPTypes", package: "swift-http-types"),
        ], path: "Examples/Chat/ChatApp"),
        .executableTarget(name: "Chat", dependencies: [
            "ChatApp", "Spindle", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Examples/Chat/Chat"),
        // The files example: a static site (StaticFiles) and uploads streamed to disk through
        // SpindleIO's File, renamed into place; the upload route has a body limit of its own.
        .target(name: "FilesApp", dependencies: [
            "Spindle", "SpindleHTTP", "SpindleIO", "SpindleFibers",
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ], path: "Examples/Files/FilesApp", resources: [.copy("Site")]),
        .executableTarget(name: "Files", dependencies: [
            "FilesApp", "Spindle", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Examples/Files/Files"),
        .testTarget(name: "TodoAppTests", dependencies: [
            "TodoApp", "Spindle", "SpindleTesting", "SpindleTestSupport",
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .testTarget(name: "GatewayAppTests", dependencies: [
            "GatewayApp", "Spindle", "SpindleTesting", "SpindleTestSupport", "SpindleFibers", "SpindleIO", "SpindleHTTPClient",
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .testTarget(name: "ChatAppTests", dependencies: [
            "ChatApp", "Spindle", "SpindleTesting", "SpindleTestSupport", "SpindleFibers",
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        // Runs the Files executable in a subprocess too (its memory measured during a 100 MiB upload).
        .testTarget(name: "FilesAppTests", dependencies: [
            "FilesApp", "Files", "Spindle", "SpindleTesting", "SpindleTestSupport", "SpindleIO",
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .testTarget(name: "SpindleHTTPTests", dependencies: ["SpindleHTTP", "SpindleTestSupport", .product(name: "HTTPTypes", package: "swift-http-types")]),
        .testTarget(name: "SpindleIOTests", dependencies: ["SpindleIO", "SpindleFibers", "SpindleTestSupport", "spindle-io-probe", "spindle-seccomp-exec"]),
        .executableTarget(name: "spindle-server-probe", dependencies: [
            "Spindle", "SpindleFibers", "SpindleIO", "SpindleTestSupport",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/ServerProbe"),
        // A server under the pre-fork supervisor whose workers crash on purpose (SupervisorTests).
        .executableTarget(name: "spindle-supervisor-probe", dependencies: [
            "Spindle", "SpindleFibers", "SpindleTestSupport", .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/SupervisorProbe"),
        // TLS with real clients (openssl s_client, curl, Python's ssl) against a live server.
        .testTarget(name: "SpindleTLSTests", dependencies: [
            "SpindleTLS", "Spindle", "SpindleIO", "SpindleFibers", "SpindleTestSupport", "SpindleHTTPClient",
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Configuration", package: "swift-configuration"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SpindleHTTPClientTests", dependencies: ["SpindleHTTPClient", "Spindle", "SpindleHTTP", "SpindleIO", "SpindleFibers", "SpindleTestSupport", .product(name: "HTTPTypes", package: "swift-http-types")]),
        .testTarget(name: "SpindleTests", dependencies: ["Spindle", "SpindleHTTP", "SpindleIO", "SpindleFibers", "SpindleMemory", "SpindleTestSupport", "spindle-server-probe", "spindle-supervisor-probe", "spindle-seccomp-exec", "SpindleTesting", .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Configuration", package: "swift-configuration"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
    ]
)
