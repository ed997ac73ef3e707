import ArgumentParser

struct BenchTokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenizer", abstract: "Benchmark: tokenizer.")

    func run() throws {
        throw ValidationError("'thinklens bench tokenizer' is not implemented yet (tracked in issue 4).")
    }
}
