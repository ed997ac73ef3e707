// swift-tools-version:6.0
import PackageDescription

// One module per concern; the arrows below are the architecture. C libraries are wrapped once
// (CZeroMQ → Transport, CMsgPack → Protocol, COpenBLAS/CKernels → Compute) and no C type
// leaves its wrapper.
//
//   Platform      the few operating-system calls: monotonic clock, durable file writes, process memory
//   Experiment    what a run asks for: hookpoint specs, sampling settings, stop reasons, seeded randomness
//   SafeTensors   the safetensors format (mmap reader, sharded index, writers), the content hash, atomic files
//   Checkpoints   model and SAE checkpoint formats (config.json, generation_config.json, cfg.json) and fingerprints
//   Tokenizer     byte-level BPE, chat prompt
//   GSM8K         problem sets, selection grammar, answer checking
//   Protocol      the wire messages and their strict msgpack codec
//   Transport     ZeroMQ sockets, CURVE, ZAP
//   Compute       the Qwen2 engine, generation, SAE encoding (Swift + CKernels)
//   ResultBundle  the result-bundle format: journal, committed tasks, tables, writer, reader, merge, manifest
//   Coordinator   the coordinator's state machine and its socket loop
//   Worker        the worker's session state machine, its socket loop, generation and latent streaming
//   Report        the static site and terminal views, read from a bundle
let package = Package(
    name: "ThinkLens",
    products: [
        .executable(name: "thinklens", targets: ["thinklens"]),
        // For the fuzz package in Fuzz/ only (it builds these with -sanitize=fuzzer,address);
        // not an API.
        .library(
            name: "ThinkLensFuzzTargets",
            targets: ["Experiment", "SafeTensors", "Checkpoints", "Tokenizer", "GSM8K", "Protocol", "ResultBundle",
                      "Coordinator", "TestSupport"]
        ),
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

        .target(name: "Platform"),
        .target(name: "Experiment"),
        .target(name: "SafeTensors", dependencies: ["Platform"]),
        .target(name: "Checkpoints", dependencies: ["Experiment", "SafeTensors"]),
        .target(name: "Tokenizer"),
        .target(name: "GSM8K", dependencies: ["Experiment"]),
        .target(name: "Protocol", dependencies: ["Experiment", "CMsgPack"]),
        .target(name: "Transport", dependencies: ["CZeroMQ"]),
        .target(name: "Compute", dependencies: ["Experiment", "SafeTensors", "Checkpoints", "COpenBLAS", "CKernels"]),
        .target(name: "ResultBundle", dependencies: ["Platform", "Experiment", "SafeTensors", "GSM8K"]),
        .target(
            name: "Worker",
            dependencies: [
                "Platform", "Experiment", "Checkpoints", "Protocol", "Transport", "Compute", "Tokenizer",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Coordinator",
            dependencies: [
                "Platform", "Experiment", "ResultBundle", "Protocol", "Transport", "Tokenizer", "GSM8K",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "Report", dependencies: ["ResultBundle", "Platform", "Experiment"]),
        .executableTarget(
            name: "thinklens",
            dependencies: [
                "Platform", "Experiment", "SafeTensors", "Checkpoints", "Protocol", "Transport", "Compute", "Tokenizer", "GSM8K",
                "ResultBundle", "Worker", "Coordinator", "Report",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Shared by the test targets: temporary directories and seeded random values.
        .target(name: "TestSupport", dependencies: ["Experiment", "SafeTensors", "Tokenizer"], path: "Tests/TestSupport"),
        .testTarget(name: "PlatformTests", dependencies: ["Platform"]),
        .testTarget(name: "ExperimentTests", dependencies: ["Experiment"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "TestSupport"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "TestSupport"]),
        .testTarget(name: "ProtocolTests", dependencies: ["Protocol", "TestSupport"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "Protocol", "TestSupport"]),
        .testTarget(name: "ComputeTests", dependencies: ["Compute", "Checkpoints", "SafeTensors", "CKernels", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GSM8K", "TestSupport"]),
        .testTarget(name: "GSM8KTests", dependencies: ["GSM8K", "TestSupport"]),
        .testTarget(name: "ResultBundleTests", dependencies: ["ResultBundle", "SafeTensors", "TestSupport"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "ResultBundle", "TestSupport"]),
        .testTarget(name: "CoordinatorTests", dependencies: ["Coordinator", "ResultBundle", "Protocol", "GSM8K", "Tokenizer", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "Protocol", "Transport", "Compute", "TestSupport"]),
        .testTarget(name: "RunTests", dependencies: ["Worker", "Coordinator", "ResultBundle", "Protocol", "Transport", "Compute", "Tokenizer", "GSM8K", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
