// swift-tools-version:6.0
import PackageDescription

// Coverage-guided fuzz targets (libFuzzer) for what ThinkLens reads from outside: the wire
// decoder, the coordinator's state machine, the safetensors header, config.json /
// generation_config.json / cfg.json, tokenizer.json, the command-line grammars, the journal, and
// the answer checker and JSONL prompt sets.
//
// A package of its own, so the main package's build and tests never see it: only scripts/fuzz
// builds it, with -sanitize=fuzzer,address and a scratch path of its own. Each target is one
// executable whose main hands its test function to libFuzzer's driver; its seeds are in
// Corpus/<target>/. See README.md.
let targets = ["message", "coordinator", "safetensors", "config", "tokenizer", "grammar", "journal", "answer"]

let package = Package(
    name: "ThinkLensFuzz",
    dependencies: [.package(name: "ThinkLens", path: "..")],
    targets: [
        .target(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"]),
    ] + targets.map {
        .executableTarget(
            name: "fuzz-\($0)",
            dependencies: ["FuzzSupport", .product(name: "ThinkLensFuzzTargets", package: "ThinkLens")]
        )
    },
    swiftLanguageModes: [.v6]
)
