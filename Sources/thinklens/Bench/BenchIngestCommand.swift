import ArgumentParser

struct BenchIngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest", abstract: "Benchmark: ingest.")

    func run() throws {
        throw ValidationError("'thinklens bench ingest' is not implemented yet (tracked in issue 6).")
    }
}
