import ArgumentParser
import Experiment

/// `--kv-cache f32|bf16`, shared by every command that builds an engine (run, worker, generate,
/// bench generate) or checks workers (coordinator). A bad value is refused by the parser with
/// `KVCacheDTypeError`'s text, which names the option and the formats.
struct KVCacheOption: ParsableArguments {
    @Option(name: .customLong("kv-cache"),
            help: ArgumentHelp("The KV cache's format: f32 (exact, the default) or bf16 (half the memory and the bytes attention reads; keys and values rounded to bfloat16, see docs/long-context.md).",
                               valueName: "f32|bf16"),
            transform: { text in try KVCacheDType(parsing: text) })
    var kvCache: KVCacheDType = .standard
}
