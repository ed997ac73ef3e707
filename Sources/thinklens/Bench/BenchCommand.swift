import ArgumentParser

/// `thinklens bench AREA`: the Swift side of `scripts/bench`, which runs the peers
/// (Python msgpack, tokenizers, torch) in the same run and prints the ratios.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Micro- and macro-benchmarks (driven by scripts/bench, which adds the peer figures).",
        shouldDisplay: false,
        subcommands: [
            BenchProtocolCommand.self,
            BenchTokenizerCommand.self,
            BenchGenerateCommand.self,
            BenchSAECommand.self,
            BenchIngestCommand.self,
            BenchReportCommand.self,
            BenchAnalyzeCommand.self,
            BenchInterventionsCommand.self,
        ]
    )
}
