import ResultBundle
import ArgumentParser
import Coordinator
import Report

/// `thinklens features BUNDLE --hookpoint H`: the bundle's features as an aligned table.
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Print the top features of one hookpoint of a result bundle as a table."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A result bundle.")
    var bundle: String

    @Option(name: .long, help: "Hookpoint, e.g. layers.10.mlp.")
    var hookpoint: String

    @Option(name: .long, help: "How many features to list.")
    var top: Int = 20

    @Option(name: .long, help: "Order: tokens, inferences, top_act_inferences, max_act, token_eta2, reason_score, segment_diff (by magnitude) or top_act_lo, descending; segment_p, segment_q, correct_wrong_p or correct_wrong_q, ascending.")
    var sort: String = FeatureSort.tokens.rawValue

    func validate() throws {
        guard top > 0 else { throw ValidationError("--top must be positive, got \(top)") }
        guard FeatureSort(rawValue: sort) != nil else {
            throw ValidationError("--sort '\(sort)' is not one of \(FeatureSort.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        _ = global.bootstrapLogging()
        do {
            let manifest = try RunManifest.read(bundle: bundle)
            guard manifest.hookpoints.contains(hookpoint) else {
                throw ValidationError("--hookpoint '\(hookpoint)' is not in \(bundle); it has \(manifest.hookpoints.joined(separator: ", "))")
            }
            let tables = try HookpointTables.read(bundle: bundle, hookpoint: hookpoint)
            let order = FeatureSort(rawValue: sort)!
            if order.needsStatistics, tables.rows.first?.statistics == nil {
                throw ValidationError("--sort \(sort) needs the statistics columns, which \(bundle) lacks; run 'thinklens analyze \(bundle)' first")
            }
            let problems = try TerminalViews.problemCount(bundle: bundle)
            print(TerminalViews.featureTable(tables, problems: problems.total, sort: order, top: top), terminator: "")
        } catch let error as RunDataError {
            throw ValidationError(error.description)
        }
    }
}
