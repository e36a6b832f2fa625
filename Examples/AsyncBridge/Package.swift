// swift-tools-version: 6.1
//
// The async bridge example (Examples/AsyncBridge): a Spindle handler calling an `async` library,
// AsyncHTTPClient, through `Context.await`. A package of its own, depending on the root package by
// path, so that AsyncHTTPClient and what it brings (swift-nio, swift-nio-ssl with BoringSSL,
// swift-nio-http2, …) never enter the core's dependency graph or its build. From the repository
// root: `make run-async-bridge`; its tests run in `make test` (on both I/O backends).
import PackageDescription

let package = Package(
    name: "SpindleAsyncBridge",
    dependencies: [
        .package(name: "Spindle", path: "../.."),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .target(name: "AsyncBridgeApp", dependencies: [
            .product(name: "Spindle", package: "Spindle"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "AsyncBridgeApp"),
        .executableTarget(name: "AsyncBridge", dependencies: [
            "AsyncBridgeApp",
            .product(name: "Spindle", package: "Spindle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "AsyncBridge"),
        .testTarget(name: "AsyncBridgeAppTests", dependencies: [
            "AsyncBridgeApp",
            .product(name: "Spindle", package: "Spindle"),
            .product(name: "SpindleTesting", package: "Spindle"),
            .product(name: "SpindleTestSupport", package: "Spindle"),
            .product(name: "SpindleIO", package: "Spindle"),
            .product(name: "SpindleFibers", package: "Spindle"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/AsyncBridgeAppTests"),
    ]
)
