import ArgumentParser

struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode activations with a sparsify k-SAE."
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        throw ValidationError("'thinklens encode' is not implemented yet (tracked in issue 5).")
    }
}
