import ResultBundle
import ArgumentParser
import Report

/// `thinklens interventions BUNDLE`: the paired summary of an intervention run.
struct InterventionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interventions",
        abstract: "Print how each intervention condition of a run changed accuracy and length against the baseline.",
        discussion: """
        Reads BUNDLE/interventions/summary.csv (see docs/bundle.md, "Interventions"); when it is \
        absent, computes the same values from the baseline's and the conditions' inferences.jsonl \
        and the run seed, without writing anything.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The --out directory of a run with --intervene.")
    var bundle: String

    func run() throws {
        _ = global.bootstrapLogging()
        do {
            print(try TerminalViews.interventionSummary(bundle: bundle), terminator: "")
        } catch let error as RunDataError {
            throw ValidationError(error.description)
        }
    }
}
