import ResultBundle
import ArgumentParser
import Coordinator
import Foundation
import Report

/// `thinklens feature BUNDLE HOOKPOINT ID`: one feature's statistics, tokens and contexts.
struct FeatureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feature",
        abstract: "Print one feature's statistics, top tokens and top contexts (highlighted on a terminal)."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A result bundle.")
    var bundle: String

    @Argument(help: "Hookpoint, e.g. layers.10.mlp.")
    var hookpoint: String

    @Argument(help: "Feature (latent) id.")
    var feature: Int

    func run() throws {
        _ = global.bootstrapLogging()
        do {
            let color = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
            print(try TerminalViews.featureDetail(bundle: bundle, hookpoint: hookpoint, feature: feature, color: color), terminator: "")
        } catch let error as RunDataError {
            throw ValidationError(error.description)
        }
    }
}
