import ArgumentParser

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize JSON strings (one per line) with a model's tokenizer."
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        throw ValidationError("'thinklens tokenize' is not implemented yet (tracked in issue 4).")
    }
}
