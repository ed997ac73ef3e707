import Platform
import ResultBundle
import ArgumentParser
import Coordinator
import Foundation
import Report

/// `thinklens bench report`: report generation time on a synthetic bundle shaped like all
/// 7,473 GSM8K train problems (~300 generated tokens, k = 32 of 65,536 latents, 3
/// hookpoints), or a fraction of it. The bundle is generated once and kept under --dir.
struct BenchReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Benchmark: report generation on a synthetic GSM8K-train-sized bundle.")

    @Option(name: .long, help: "Fraction of the 7,473 problems.")
    var fraction: Double = 1

    @Option(name: .long, help: "Where synthetic bundles and their reports live (outside the repository).")
    var dir: String = "/work/models/report-bench"

    @Flag(name: .long, help: "Only generate the bundle (if missing); do not time the report.")
    var generateOnly = false

    func validate() throws {
        guard fraction > 0, fraction <= 1 else { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
    }

    func run() throws {
        let spec = SyntheticBundleSpec.gsm8kTrain(fraction: fraction)
        let bundle = (dir as NSString).appendingPathComponent("gsm8k-train-\(spec.problems)")
        let manifest = (bundle as NSString).appendingPathComponent(BundleLayout.manifestFile)
        if !FileManager.default.fileExists(atPath: manifest) {
            let start = Date()
            FileHandle.standardError.write(Data("generating \(bundle) (\(spec.problems) problems)…\n".utf8))
            try SyntheticBundle.write(spec, to: bundle)
            FileHandle.standardError.write(Data(String(format: "generated in %.1f s\n", Date().timeIntervalSince(start)).utf8))
        }
        if generateOnly { return }
        let counts = try TerminalViews.problemCount(bundle: bundle)
        let rows = try latentRows(bundle)
        let out = bundle + "-report"
        let cpuBefore = ProcessStatus.cpuSeconds()
        let start = Date()
        let summary = try ReportGenerator.generate(bundle: bundle, out: out)
        let seconds = Date().timeIntervalSince(start)
        let cpu = ProcessStatus.cpuSeconds() - cpuBefore
        let phases = summary.phases.map { "\($0.name) \(String(format: "%.1f", $0.seconds))" }.joined(separator: "; ")
        print(String(format: "%-8@ %9d %12d %9.1f %10.2f %8.1f %11.2f %9d %8.0f %9.0f",
                     String(format: "%.3g", fraction) as NSString, counts.total, rows, bundleMB(bundle), seconds, cpu,
                     seconds / (Double(rows) / 1e6), summary.featurePages, Double(summary.bytes) / 1e6, peakRSSMB()))
        FileHandle.standardError.write(Data("phases: \(phases)\n".utf8))
    }

    static let header = "fraction  problems  latent_rows  bundle_MB  report_s  cpu_s  s_per_Mrow  feat_pages  site_MB  peak_RSS_MB"


    private func latentRows(_ bundle: String) throws -> Int {
        let path = (bundle as NSString).appendingPathComponent(BundleLayout.manifestFile)
        let json = try JSONValue.parse(FileManager.default.contents(atPath: path) ?? Data(), source: path)
        guard case .object(let members)? = json["counts"]?["latent_rows"] else { return 0 }
        return members.values.compactMap(\.intValue).reduce(0, +)
    }

    private func bundleMB(_ bundle: String) -> Double {
        var total = 0
        if let walker = FileManager.default.enumerator(atPath: bundle) {
            for case let file as String in walker {
                let attributes = try? FileManager.default.attributesOfItem(atPath: (bundle as NSString).appendingPathComponent(file))
                if (attributes?[.type] as? FileAttributeType) == .typeRegular { total += (attributes?[.size] as? Int) ?? 0 }
            }
        }
        return Double(total) / 1e6
    }

    /// Peak resident memory in MB.
    private func peakRSSMB() -> Double { Double(ProcessStatus.current().peakResident) / 1e6 }
}
