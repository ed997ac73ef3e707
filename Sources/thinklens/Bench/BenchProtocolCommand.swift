import ArgumentParser

struct BenchProtocolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "protocol", abstract: "Benchmark: protocol.")

    func run() throws {
        throw ValidationError("'thinklens bench protocol' is not implemented yet (tracked in issue 2).")
    }
}
