// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "mptscan",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mptscan", targets: ["mptscan"]),
        .library(name: "MPTScanKit", targets: ["MPTScanKit"]),
    ],
    targets: [
        // The system zlib, for inflating archive members (Debian: zlib1g-dev; macOS: in the SDK).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        // All logic: inputs, detection, rules, reporters and the command-line front end.
        .target(name: "MPTScanKit", dependencies: ["CZlib"]),
        // Thin executable: argv -> MPTScanKit.CommandLineTool.run -> exit code.
        .executableTarget(name: "mptscan", dependencies: ["MPTScanKit"]),
        // Test helpers only: seeded synthetic tokens and fixtures. Never linked into the product.
        .target(name: "_MPTScanTestSupport", dependencies: ["MPTScanKit", "CZlib"]),
        .testTarget(name: "MPTScanKitTests", dependencies: ["MPTScanKit", "_MPTScanTestSupport"], exclude: ["Golden"]),
        .testTarget(name: "CLITests", dependencies: ["MPTScanKit", "_MPTScanTestSupport"], exclude: ["Golden"]),
    ],
    swiftLanguageModes: [.v6]
)
