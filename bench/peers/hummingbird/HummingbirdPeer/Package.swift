// swift-tools-version: 6.1
//
// The Hummingbird 2 peer of `make -C bench peers` (bench/peers/run.py): a separate package so
// neither the core nor bench/Package.swift depends on Hummingbird or SwiftNIO. It sits one folder
// down (HummingbirdPeer/) because SwiftPM names a root package after its folder, and a root
// package called "hummingbird" would hide the dependency of the same name.
//
//   swift build -c release --package-path bench/peers/hummingbird/HummingbirdPeer
//   .build/release/hummingbird-peer --port 8080      # GET /plaintext, GET /json
import PackageDescription

let package = Package(
    name: "HummingbirdPeer",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
    ],
    targets: [
        .executableTarget(
            name: "hummingbird-peer",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
    ]
)
