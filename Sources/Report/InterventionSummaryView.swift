import ResultBundle
import Foundation

extension TerminalViews {
    /// `thinklens interventions BUNDLE`: each condition against the baseline, from
    /// interventions/summary.csv, or computed from the bundles' inferences.jsonl (and the
    /// manifest's seed) when the run has not written it yet. Writes nothing.
    public static func interventionSummary(bundle: String) throws -> String {
        let summaryPath = (bundle as NSString).appendingPathComponent(InterventionComparison.summaryFile)
        if FileManager.default.fileExists(atPath: summaryPath) {
            return interventionTable(try InterventionComparison.readSummary(bundle: bundle), dropped: nil,
                                     source: InterventionComparison.summaryFile)
        }
        let names = try InterventionComparison.conditionNames(bundle: bundle)
        let comparison = try InterventionComparison(bundle: bundle, conditions: names, seed: try InterventionComparison.runSeed(bundle: bundle))
        var dropped: [String: Int] = [:]
        for c in comparison.conditions { dropped[c.name] = c.droppedProblems.count }
        return interventionTable(comparison.conditions.map(\.summary), dropped: dropped,
                                 source: "computed from the bundles; \(InterventionComparison.summaryFile) is absent")
    }

    /// The aligned table; intervals as [lo, hi]; "–" for an undefined value.
    static func interventionTable(_ rows: [InterventionComparison.Summary], dropped: [String: Int]?, source: String) -> String {
        func value(_ v: Double?, _ decimals: Int) -> String { v.map { Format.fixed($0, decimals) } ?? "–" }
        func signed(_ v: Double?, _ decimals: Int) -> String {
            guard let v else { return "–" }
            return (v > 0 ? "+" : "") + Format.fixed(v, decimals)
        }
        func interval(_ lo: Double?, _ hi: Double?, _ decimals: Int) -> String {
            guard let lo, let hi else { return "–" }
            return "[\(signed(lo, decimals)), \(signed(hi, decimals))]"
        }
        func pValue(_ p: Double?) -> String {
            guard let p else { return "–" }
            return p < 0.001 ? "<0.001" : Format.fixed(p, 3)
        }
        var lines: [[String]] = [["condition", "problems", "accuracy", "baseline", "Δaccuracy", "95% interval", "mcnemar_p",
                                  "answers_changed", "identical", "mean_tokens", "Δtokens", "95% interval", "think_finished",
                                  "Δthink_end", "first_divergence", "repeated_4grams"]]
        for r in rows {
            lines.append([r.condition, String(r.problems), value(r.accuracy, 3), value(r.baselineAccuracy, 3), signed(r.deltaAccuracy, 3),
                          interval(r.deltaAccuracyLo, r.deltaAccuracyHi, 3), pValue(r.mcnemarP), String(r.answersChanged),
                          String(r.identicalOutputs), value(r.meanTokens, 1), signed(r.deltaTokens, 1),
                          interval(r.deltaTokensLo, r.deltaTokensHi, 1), value(r.thinkFinished, 3), signed(r.deltaThinkEnd, 1),
                          value(r.meanFirstDivergence, 1), value(r.repeated4grams, 3)])
        }
        var out = "\(rows.count) conditions, each paired with the baseline over the problems both ran (\(source))\n"
        out += aligned(lines)
        if let dropped {
            for r in rows where (dropped[r.condition] ?? 0) > 0 {
                let n = dropped[r.condition]!
                out += "\(r.condition): \(n) problem\(n == 1 ? "" : "s") dropped (present in only one of the baseline and the condition)\n"
            }
        }
        return out
    }
}
