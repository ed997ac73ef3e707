import ResultBundle
import ArgumentParser
import Coordinator
import Foundation
import Report

/// `thinklens report BUNDLE [--out DIR]`: the study's figures and feature dashboards as a static site.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a static HTML report (inline SVG charts, no script, no network) from a result bundle.",
        discussion: """
        Pages: index.html (run settings, accuracy, FVU, throughput), one page per hookpoint (the \
        study's plots over all problems, cross-problem ranking and heat map, positions relative to \
        </think>, correct-vs-wrong log odds), one page per problem (the study's per-inference plots) \
        and one page per feature shown anywhere. Rewriting replaces an earlier report in DIR.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A result bundle (the --out directory of a finished run).")
    var bundle: String

    @Option(name: .long, help: "Directory for the site (default: BUNDLE/report).")
    var out: String?

    @Option(name: .long, help: "Pages drawn at once (default: all cores); the report's bytes do not depend on it.")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        do {
            let summary = try ReportGenerator.generate(bundle: bundle, out: out, threads: threads) { logger.debug("\($0)") }
            let seconds = summary.phases.reduce(0) { $0 + $1.seconds }
            logger.info("report: \(summary.problemPages) problem pages, \(summary.featurePages) feature pages, \(summary.bytes / 1_000_000) MB in \(String(format: "%.1f", seconds)) s")
            print((summary.directory as NSString).appendingPathComponent("index.html"))
        } catch let error as RunDataError {
            throw ValidationError(error.description)
        }
    }
}
