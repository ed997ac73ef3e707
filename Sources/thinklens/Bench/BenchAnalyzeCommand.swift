import Platform
import ResultBundle
import ArgumentParser
import Foundation
import Report

/// `thinklens bench analyze`: the time of `thinklens analyze` (the statistics columns of
/// features.csv) on a synthetic bundle shaped like all 7,473 GSM8K train problems with 400
/// generated tokens on average (k = 32 of 65,536 latents, 3 hookpoints), or a fraction of it.
/// The bundle is generated once and kept under --dir.
struct BenchAnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "analyze", abstract: "Benchmark: thinklens analyze on a synthetic GSM8K-train-sized bundle.")

    @Option(name: .long, help: "Fraction of the 7,473 problems.")
    var fraction: Double = 1

    @Option(name: .long, help: "Where synthetic bundles live (outside the repository).")
    var dir: String = "/work/models/analyze-bench"

    func validate() throws {
        guard fraction > 0, fraction <= 1 else { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
    }

    func run() throws {
        let spec = SyntheticBundleSpec.gsm8kTrain(fraction: fraction, meanGeneratedTokens: 400)
        let bundle = (dir as NSString).appendingPathComponent("gsm8k-train-400-\(spec.problems)")
        if !FileManager.default.fileExists(atPath: (bundle as NSString).appendingPathComponent(BundleLayout.manifestFile)) {
            let start = MonotonicClock.now()
            FileHandle.standardError.write(Data("generating \(bundle) (\(spec.problems) problems)…\n".utf8))
            try SyntheticBundle.write(spec, to: bundle)
            FileHandle.standardError.write(Data(String(format: "generated in %.1f s\n", MonotonicClock.now() - start).utf8))
        }
        let manifest = try RunManifest.read(bundle: bundle)
        let cpuBefore = ProcessStatus.cpuSeconds()
        let start = MonotonicClock.now()
        let timings = try BundleStatistics.write(bundle: bundle, settings: StatisticsSettings(seed: StatisticsSettings.seed(of: manifest)))
        let seconds = MonotonicClock.now() - start
        let cpu = ProcessStatus.cpuSeconds() - cpuBefore
        let status = ProcessStatus.current()
        print("analyze \(bundle): \(spec.problems) problems, \(manifest.hookpoints.count) hookpoints, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        for phase in timings.phases { print("  " + phase.name.padding(toLength: 26, withPad: " ", startingAt: 0) + String(format: "%8.2f s", phase.seconds)) }
        print("  " + "total".padding(toLength: 26, withPad: " ", startingAt: 0) + String(format: "%8.2f s (cpu %.1f s)", seconds, cpu))
        print(String(format: "  peak RSS %.0f MB (anonymous now %.0f MB, file-backed now %.0f MB)",
                     Double(status.peakResident) / 1e6, Double(status.residentAnonymous) / 1e6, Double(status.residentFile) / 1e6))
    }
}
