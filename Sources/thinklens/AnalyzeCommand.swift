import ResultBundle
import ArgumentParser
import Foundation
import Platform

/// `thinklens analyze BUNDLE`: recomputes the statistics columns of every hookpoint's
/// features.csv in place (e.g. for another reasoning-word list), without regenerating anything.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Recompute the statistics columns of a result bundle's features.csv in place.",
        discussion: """
        Token dependence (η²), ReasonScore, the reasoning-vs-answer sign-flip test, the \
        correct-vs-wrong label-shuffle test with Benjamini–Hochberg q-values, and bootstrap \
        intervals of the top-feature share (docs/bundle.md defines each column). With the default \
        settings the bytes equal what the run or merge wrote. Prints the time of each phase.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A result bundle (the --out directory of a finished run or merge).")
    var bundle: String

    @Option(name: .long, help: "Reasoning words, one word or phrase per line (default: wait, hmm, alternatively, maybe, perhaps, let me, therefore, however, but, another).")
    var reasoningWords: String?

    @Option(name: .long, help: "ReasonScore's entropy exponent α (default 0.7).")
    var reasonAlpha: Double = StatisticsSettings.defaultAlpha

    func validate() throws {
        guard reasonAlpha.isFinite, reasonAlpha >= 0 else {
            throw ValidationError("--reason-alpha must be a finite number ≥ 0, got \(reasonAlpha)")
        }
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        do {
            let words = try reasoningWords.map { try ReasoningWords.read(file: $0) } ?? .standard
            let manifest = try RunManifest.read(bundle: bundle)
            let settings = StatisticsSettings(words: words, alpha: reasonAlpha, seed: StatisticsSettings.seed(of: manifest))
            let start = MonotonicClock.now(), cpuStart = ProcessStatus.cpuSeconds()
            let timings = try BundleStatistics.write(bundle: bundle, settings: settings)
            let total = MonotonicClock.now() - start
            for phase in timings.phases {
                print(phase.name.padding(toLength: 26, withPad: " ", startingAt: 0) + String(format: "%8.2f s", phase.seconds))
            }
            let status = ProcessStatus.current()
            print("total".padding(toLength: 26, withPad: " ", startingAt: 0) + String(format: "%8.2f s (CPU %.1f s; phases are summed over hookpoints, which run side by side)", total, ProcessStatus.cpuSeconds() - cpuStart))
            print("memory: \(status)")
            logger.info("analyzed \(manifest.hookpoints.count) hookpoints of \(bundle)")
        } catch let error as RunDataError {
            throw ValidationError(error.description)
        }
    }
}
