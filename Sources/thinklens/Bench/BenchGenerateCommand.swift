import ArgumentParser

struct BenchGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Benchmark: generate.")

    func run() throws {
        throw ValidationError("'thinklens bench generate' is not implemented yet (tracked in issue 3).")
    }
}
