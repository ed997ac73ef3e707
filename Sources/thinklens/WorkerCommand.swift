import ArgumentParser

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Generate and encode tasks from a coordinator."
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        throw ValidationError("'thinklens worker' is not implemented yet (tracked in issue 6).")
    }
}
