import ArgumentParser

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "A coordinator plus N local workers on one box."
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        throw ValidationError("'thinklens run' is not implemented yet (tracked in issue 6).")
    }
}
