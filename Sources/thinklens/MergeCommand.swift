import ResultBundle
import ArgumentParser
import Coordinator
import Foundation

/// `thinklens merge BUNDLE... --out DIR`: one bundle from runs over different problems
/// with the same model, tokenizer, SAEs and generation settings.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge result bundles of separate runs.",
        discussion: """
        The runs must share the model, tokenizer, SAEs, hookpoints, generation settings and \
        prompt format (the merge is refused otherwise, naming what differs). A problem present \
        in several bundles must be identical in all of them. The result is byte-identical \
        (except run.json) to one run over all the problems.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Result bundles (the --out directories of finished runs).")
    var bundles: [String]

    @Option(name: .long, help: "Directory for the merged bundle (must not exist or be empty).")
    var out: String

    func validate() throws {
        guard !bundles.isEmpty else { throw ValidationError("give at least one bundle to merge") }
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        // Errors name the bundle and what differs; ArgumentParser prints them and exits non-zero.
        let summary = try BundleMerger.merge(bundles: bundles, to: out)
        logger.info("merged \(bundles.count) bundles: \(summary.problems) problems into \(summary.directory)")
        for (hookpoint, top) in summary.topFeatures.sorted(by: { $0.key < $1.key }) {
            let list = top.prefix(5).map { "\($0.feature) (\($0.tokens))" }.joined(separator: ", ")
            print("\(hookpoint): \(summary.rows[hookpoint] ?? 0) rows; top features: \(list)")
        }
        print("bundle: \(summary.directory)")
    }
}
