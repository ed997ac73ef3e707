import ArgumentParser

struct BenchSAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sae", abstract: "Benchmark: sae.")

    func run() throws {
        throw ValidationError("'thinklens bench sae' is not implemented yet (tracked in issue 5).")
    }
}
