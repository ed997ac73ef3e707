import ResultBundle
import Experiment
import Foundation

/// `hookpoints/<hookpoint>.html`: the hookpoint's bundle-wide charts.
extension Site {
    func hookpointPage(_ h: Int) -> HTMLBuffer {
        let a = analyses[h]
        var out = HTMLBuffer(capacity: 1 << 20)
        open(&out, title: "\(a.name) · ThinkLens report", depth: 1)
        heading(&out, 1, "Hookpoint \(a.name)")
        out.raw("<p><a href=\""); out.attribute(reasoningHref(h, depth: 1)); out.raw("\">Reasoning features: ReasonScore, token dependence, segment tests</a></p>\n")
        let rows = a.segmentRows.reduce(0, +)
        keyValueTable(&out, [
            ("latent rows", String(rows), "rows"), ("features that fired", String(a.tables.rows.count), "features"),
            ("FVU", fvu(a.name).map { Format.fixed($0, 4) } ?? "not recorded", "fvu"),
        ])
        heading(&out, 2, "All problems together (the study's plots)")
        let tokens = featureTokens[h]
        renderInference(&out, a.bundleCharts(tokens: tokens), h: h, depth: 1, bundleWide: true)
        paragraph(&out, "In the bundle-wide scatter each point is one distinct token at its maximum activation.", cls: "note")

        heading(&out, 2, "Across problems: features that are top features in many inferences", id: "ranking")
        let n = problems.count
        if let first = a.crossProblem.first {
            var claim = "Feature \(first.feature) was a top feature in \(first.topActInferences) of \(n) inferences"
            if let interval = Self.topInterval(first, problems: n) { claim += " (95% bootstrap interval \(interval))" }
            paragraph(&out, claim + ".", cls: "claim")
        }
        out.raw("<table class=\"list\" data-table=\"ranking\"><tr><th>rank</th><th>feature</th><th>top feature (max activation) in</th><th>95% bootstrap interval</th><th>top feature (frequency) in</th><th>fired in</th><th>tokens</th><th>max activation</th></tr>")
        for (i, r) in a.crossProblem.enumerated() {
            out.raw("<tr data-feature=\"\(r.feature)\"><td>"); out.int(i + 1); out.raw("</td><td>")
            link(&out, String(r.feature), featureHref(h, r.feature, depth: 1))
            out.raw("</td><td data-key=\"top_act_inferences\">\(r.topActInferences) of \(n)</td><td data-key=\"top_act_interval\">")
            out.text(Self.topInterval(r, problems: n) ?? "–")
            out.raw("</td><td data-key=\"top_freq_inferences\">\(r.topFreqInferences) of \(n)</td>")
            out.raw("<td data-key=\"inferences\">\(r.inferences)</td><td data-key=\"tokens\">\(r.tokens)</td><td data-key=\"max_act\">\(Format.act(r.maxAct))</td></tr>")
        }
        out.raw("</table>\n")
        renderHeatMap(&out, h)
        renderPositionMap(&out, h)
        renderLogOdds(&out, h)
        close(&out)
        return out
    }

    /// The bootstrap interval of "top feature in N of M" as counts of M ("12–19"), or nil without statistics.
    static func topInterval(_ r: FeatureRow, problems n: Int) -> String? {
        guard let lo = r.statistics?.topActLow, let hi = r.statistics?.topActHigh else { return nil }
        return "\(Int((lo * Double(n)).rounded()))–\(Int((hi * Double(n)).rounded()))"
    }

    /// Problems grouped so the map has at most this many rows.
    static let heatMapRows = 100

    private func renderHeatMap(_ out: inout HTMLBuffer, _ h: Int) {
        let a = analyses[h]
        let features = Array(a.heatMapFeatures)
        guard !features.isEmpty, !problems.isEmpty else { return }
        let group = (problems.count + Self.heatMapRows - 1) / Self.heatMapRows
        var rowLabels: [String] = [], values: [[Double]] = [], tips: [[String]] = []
        var start = 0
        while start < problems.count {
            let end = min(problems.count, start + group)
            if group == 1 {
                rowLabels.append(problems[start].id)
                values.append(features.indices.map { c in
                    let m = Double(a.heatMax[start][c])
                    return a.heatTop[start][c] ? 1 : (features[c].maxAct > 0 ? 0.6 * m / features[c].maxAct : 0)
                })
                tips.append(features.indices.map { c in
                    "\(problems[start].id), feature \(features[c].feature): max \(Format.act(Double(a.heatMax[start][c])))" + (a.heatTop[start][c] ? ", a top feature" : "")
                })
            } else {
                rowLabels.append("\(problems[start].id) …")
                var row: [Double] = [], tip: [String] = []
                for c in features.indices {
                    let tops = (start..<end).filter { a.heatTop[$0][c] }.count
                    row.append(Double(tops) / Double(end - start))
                    tip.append("problems \(problems[start].id) … \(problems[end - 1].id), feature \(features[c].feature): top feature in \(tops) of \(end - start)")
                }
                values.append(row)
                tips.append(tip)
            }
            start = end
        }
        HeatMap(id: "\(a.name)/heatmap", title: group == 1
                    ? "problem × feature: the \(features.count) features top in most inferences (full: a top feature there; pale: fired, shaded by max activation)"
                    : "problem groups (\(group) problems each) × feature: share of the group's problems where it is a top feature",
                rowLabels: rowLabels, columnLabels: features.map { String($0.feature) },
                columnLinks: features.map { featureHref(h, $0.feature, depth: 1) }, values: values, tooltips: tips,
                xLabel: "feature", yLabel: group == 1 ? "problem" : "problem group").render(into: &out)
    }

    private func renderPositionMap(_ out: inout HTMLBuffer, _ h: Int) {
        let a = analyses[h]
        let features = Array(a.heatMapFeatures)
        guard !features.isEmpty else { return }
        heading(&out, 2, "Where the top features fire relative to </think>", id: "positions")
        var values: [[Double]] = [], tips: [[String]] = []
        for r in features {
            let bins = a.thinkHistogram(r.feature)
            let most = Double(bins.max() ?? 0)
            values.append(bins.map { most > 0 ? Double($0) / most : 0 })
            tips.append(bins.enumerated().map { "feature \(r.feature), \(PositionBins.thinkLabel($0.offset)) from </think>: \($0.element) tokens" })
        }
        HeatMap(id: "\(a.name)/think-positions", title: "feature × distance to </think> (each row scaled to its largest bin)",
                rowLabels: features.map { "feature \($0.feature)" }, columnLabels: (0..<PositionBins.thinkCount).map(PositionBins.thinkLabel),
                columnLinks: [String?](repeating: nil, count: PositionBins.thinkCount), values: values, tooltips: tips,
                xLabel: "position − position of </think> (log2 bins)", yLabel: "feature", cellWidth: 30).render(into: &out)
    }

    private func renderLogOdds(_ out: inout HTMLBuffer, _ h: Int) {
        heading(&out, 2, "Features over-represented in correct vs wrong answers", id: "log-odds")
        if let why = LogOddsRatio.sampleTooSmall(correct: correct, wrong: wrong) {
            paragraph(&out, why, cls: "warn")
            return
        }
        let odds = logOdds[h]
        paragraph(&out, "Log odds ratio of firing in a correct vs a wrong problem, with +0.5 in every cell and a 95% Wald interval; \(odds.tested) features fired in at least \(LogOddsRatio.minimumFiringProblems) answered problems (\(correct) correct, \(wrong) wrong) and were tested. Listed: intervals that exclude 0, strongest first. Many features are tested, so expect about 5% of intervals to exclude 0 by chance.", cls: "note")
        for (title, list, key) in [("More often in correct answers", odds.overCorrect, "correct"), ("More often in wrong answers", odds.overWrong, "wrong")] {
            heading(&out, 3, title)
            if list.isEmpty { paragraph(&out, "No feature's interval excludes 0."); continue }
            out.raw("<table class=\"list\" data-table=\"log-odds-\(key)\"><tr><th>feature</th><th>fired in correct</th><th>fired in wrong</th><th>log odds ratio</th><th>95% interval</th></tr>")
            for (row, lor) in list {
                out.raw("<tr data-feature=\"\(row.feature)\"><td>"); link(&out, String(row.feature), featureHref(h, row.feature, depth: 1))
                out.raw("</td><td>\(row.inferencesCorrect) of \(correct)</td><td>\(row.inferencesWrong) of \(wrong)</td><td>")
                out.text(Format.fixed(lor.estimate, 2)); out.raw("</td><td>"); out.text("[\(Format.fixed(lor.low, 2)), \(Format.fixed(lor.high, 2))]"); out.raw("</td></tr>")
            }
            out.raw("</table>\n")
        }
    }
}
