import ArgumentParser

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Shard GSM8K problems to workers and merge their latents into a bundle."
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        throw ValidationError("'thinklens coordinator' is not implemented yet (tracked in issue 6).")
    }
}
