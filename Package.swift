// swift-tools-version:6.0
import PackageDescription

// Each module has one job; C libraries are wrapped once (CZeroMQ → Transport,
// CMsgPack → Protocol, COpenBLAS/CKernels → Compute) and no C type leaves its wrapper.
let package = Package(
    name: "ThinkLens",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "thinklens", targets: ["thinklens"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // C libraries from Debian, found through pkg-config.
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CMsgPack", pkgConfig: "msgpack", providers: [.apt(["libmsgpack-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // Hand-written numeric kernels; each picks its instruction set at run time.
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]
        ),

        .target(name: "Protocol", dependencies: ["CMsgPack"]),
        .target(name: "Transport", dependencies: ["CZeroMQ"]),
        .target(name: "Compute", dependencies: ["COpenBLAS", "CKernels"]),
        .target(name: "Tokenizer"),
        .target(name: "GSM8K"),
        .target(
            name: "Worker",
            dependencies: [
                "Protocol", "Transport", "Compute", "Tokenizer",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Coordinator",
            dependencies: [
                "Protocol", "Transport", "Compute", "Tokenizer", "GSM8K",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "Report", dependencies: ["Coordinator", "Compute"]),
        .executableTarget(
            name: "thinklens",
            dependencies: [
                "Protocol", "Transport", "Compute", "Tokenizer", "GSM8K", "Worker", "Coordinator", "Report",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .testTarget(name: "ProtocolTests", dependencies: ["Protocol"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "Protocol"]),
        .testTarget(name: "ComputeTests", dependencies: ["Compute", "CKernels"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GSM8K"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Coordinator", "Compute"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "Protocol"]),
        .testTarget(name: "RunTests", dependencies: ["Worker", "Coordinator", "Protocol", "Transport", "Compute", "Tokenizer", "GSM8K"]),
    ],
    swiftLanguageModes: [.v5]
)
