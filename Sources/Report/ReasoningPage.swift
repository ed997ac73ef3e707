import ResultBundle
import Foundation

/// `reasoning/<hookpoint>.html`: features ranked by ReasonScore with their token dependence,
/// the reasoning-vs-answer segment test with q-values and its volcano chart, and what each
/// number assumes. Everything comes from the statistics columns of features.csv.
extension Site {
    /// η² at or above this marks a feature as a detector of particular tokens.
    static let tokenDetectorEta2 = 0.9
    static let discoveryLevel = 0.05

    func reasoningPage(_ h: Int) -> HTMLBuffer {
        let a = analyses[h]
        var out = HTMLBuffer(capacity: 1 << 18)
        open(&out, title: "Reasoning features · \(a.name) · ThinkLens report", depth: 1)
        heading(&out, 1, "Reasoning features at \(a.name)")
        out.raw("<p><a href=\""); out.attribute(hookpointHref(h, depth: 1)); out.raw("\">All charts of "); out.text(a.name); out.raw("</a></p>\n")
        guard !a.reasoningRanking.isEmpty else {
            paragraph(&out, "This bundle has no statistics columns in tables/\(a.name)/features.csv; run 'thinklens analyze' on it and write the report again.", cls: "warn")
            close(&out)
            return out
        }
        heading(&out, 2, "Ranked by ReasonScore", id: "reason-score")
        paragraph(&out, "ReasonScore: the feature's share of all features' mean activation near reasoning words (wait, hmm, …), weighted by how evenly it spreads over those words (entropy^0.7 unless analysed otherwise), minus its share away from them. A feature with token dependence η² ≥ \(Format.fixed(Self.tokenDetectorEta2, 1)) is marked a token detector: its activation is mostly explained by which token it sits on.", cls: "note")
        out.raw("<table class=\"list\" data-table=\"reasoning\"><tr><th>rank</th><th>feature</th><th>ReasonScore</th><th>mean near words</th><th>mean elsewhere</th><th>entropy</th><th>token η²</th><th>reasoning − answer</th><th>q (segment)</th><th>q (correct vs wrong)</th></tr>")
        for (i, r) in a.reasoningRanking.enumerated() {
            let s = r.statistics!
            out.raw("<tr data-feature=\"\(r.feature)\"><td>"); out.int(i + 1); out.raw("</td><td>")
            link(&out, String(r.feature), featureHref(h, r.feature, depth: 1))
            out.raw("</td><td data-key=\"reason_score\">"); out.text(Self.number(s.reasonScore))
            out.raw("</td><td>"); out.text(Self.number(s.reasonMuIn)); out.raw("</td><td>"); out.text(Self.number(s.reasonMuOut))
            out.raw("</td><td>"); out.text(Self.number(s.reasonEntropy)); out.raw("</td><td data-key=\"token_eta2\">"); out.text(Self.number(s.tokenEta2))
            if let eta = s.tokenEta2, eta >= Self.tokenDetectorEta2 { out.raw(" <span class=\"tag\">token detector</span>") }
            out.raw("</td><td>"); out.text(Self.number(s.segmentDiff)); out.raw("</td><td data-key=\"segment_q\">"); out.text(Self.number(s.segmentQ))
            out.raw("</td><td>"); out.text(Self.number(s.correctWrongQ)); out.raw("</td></tr>")
        }
        out.raw("</table>\n")

        heading(&out, 2, "Reasoning vs answer segment", id: "segment")
        let tested = a.tables.rows.filter { $0.statistics?.segmentQ != nil }
        let discoveries = tested.filter { $0.statistics!.segmentQ! <= Self.discoveryLevel }.count
        paragraph(&out, "\(tested.count) features fired in at least 5 problems with both a reasoning and an answer segment and were tested; \(discoveries) have q ≤ \(Format.fixed(Self.discoveryLevel, 2)) (Benjamini–Hochberg), so about \(Format.fixed(Double(discoveries) * Self.discoveryLevel, 1)) of those are expected to be false discoveries.", cls: "claim")
        if !tested.isEmpty {
            VolcanoChart(id: "\(a.name)/volcano", title: "effect against evidence: each point a tested feature (above the dashed line: q ≤ 0.05)",
                         points: tested.map { r in
                             let s = r.statistics!
                             return VolcanoChart.Point(effect: s.segmentDiff ?? 0, q: s.segmentQ!,
                                                       tooltip: "feature \(r.feature): reasoning − answer \(Self.number(s.segmentDiff)), q \(Self.number(s.segmentQ))")
                         },
                         threshold: Self.discoveryLevel, xLabel: "share of reasoning tokens − share of answer tokens where it fires (mean over problems)",
                         yLabel: "−log10 q").render(into: &out)
            out.raw("<table class=\"list\" data-table=\"segment\"><tr><th>feature</th><th>reasoning − answer</th><th>p</th><th>q</th><th>token η²</th></tr>")
            for r in a.segmentRanking {
                let s = r.statistics!
                out.raw("<tr data-feature=\"\(r.feature)\"><td>"); link(&out, String(r.feature), featureHref(h, r.feature, depth: 1))
                out.raw("</td><td>"); out.text(Self.number(s.segmentDiff)); out.raw("</td><td>"); out.text(Self.number(s.segmentP))
                out.raw("</td><td>"); out.text(Self.number(s.segmentQ)); out.raw("</td><td>"); out.text(Self.number(s.tokenEta2)); out.raw("</td></tr>")
            }
            out.raw("</table>\n")
        }
        howToRead(&out)
        close(&out)
        return out
    }

    /// What each number assumes, in plain words.
    func howToRead(_ out: inout HTMLBuffer) {
        heading(&out, 2, "How to read these numbers", id: "how-to-read")
        out.raw("<ul class=\"how\">")
        for item in [
            "Token η² (0…1) is descriptive: the share of the feature's activation variance explained by which token it sits on. Near 1, the feature detects particular tokens, so a high ReasonScore may only mean those tokens are reasoning words.",
            "ReasonScore is descriptive too: it ranks, it does not test. It depends on the word list and α (thinklens analyze --reasoning-words, --reason-alpha).",
            "The segment test (sign-flip permutation) assumes problems are independent and that, without an effect, a problem's reasoning-minus-answer difference is as likely positive as negative. The answer segment is shorter and comes last, so a difference can reflect position as much as reasoning.",
            "The correct-vs-wrong test (label shuffling, exact) assumes problems are exchangeable between the two groups; it shows association, not cause.",
            "q-values (Benjamini–Hochberg) control the expected share of false discoveries among the features with q ≤ α, for independent or positively dependent tests; p-values alone would flag about 5% of all tested features by chance.",
            "The interval of \"top feature in N of M\" is a 95% percentile bootstrap over problems: it treats the problems as a random sample from the problems of interest.",
        ] {
            out.raw("<li>"); out.text(item); out.raw("</li>")
        }
        out.raw("</ul>\n")
    }

    /// A statistic for a table cell: 4 significant digits, "–" for an empty cell.
    static func number(_ value: Double?) -> String {
        guard let value else { return "–" }
        if value == 0 { return "0" }
        if abs(value) < 0.001 { return String(format: "%.2e", value) }
        return String(format: "%.4g", value)
    }
}

/// Effect (x, symmetric about 0) against −log10 q (y), with a dashed line at the q threshold.
struct VolcanoChart {
    struct Point {
        var effect: Double
        var q: Double
        var tooltip: String
    }

    var id: String
    var title: String
    var points: [Point]
    var threshold: Double
    var xLabel: String
    var yLabel: String
    var width = 640
    var plotHeight = 260

    /// q = 0 (a p-value that underflowed) is drawn at this height.
    static let largestEvidence = 300.0

    func render(into out: inout HTMLBuffer) {
        let left = 64.0, right = 16.0, top = 12.0
        let height = top + Double(plotHeight) + 52
        let plotWidth = Double(width) - left - right
        let bottom = top + Double(plotHeight)
        func evidence(_ q: Double) -> Double { q > 0 ? min(Self.largestEvidence, -Foundation.log10(q)) : Self.largestEvidence }
        let yScale = ValueScale(values: points.map { evidence($0.q) } + [-Foundation.log10(threshold)], log: false, pixels: Double(plotHeight))
        let xMax = Ticks.niceCeiling(points.map { abs($0.effect) }.max() ?? 1)
        func x(_ effect: Double) -> Double { left + (effect / xMax + 1) / 2 * plotWidth }
        ChartFrame.open(&out, id: id, title: title, width: width, height: Int(height.rounded(.up)), marks: points.count)
        yScale.drawYAxis(&out, left: left, top: top, bottom: bottom, right: Double(width) - right)
        ChartFrame.xAxis(&out, left: left, right: left + plotWidth, bottom: bottom)
        let ticks = Ticks.linear(max: xMax, count: 2)
        ChartFrame.xTicks(&out, (ticks.reversed().map { -$0 } + ticks.dropFirst()).map { (x($0), Ticks.text($0)) }, bottom: bottom)
        let lineY = bottom - yScale.pixels(-Foundation.log10(threshold))
        out.raw("<path class=\"grid\" stroke-dasharray=\"4 3\" d=\"M"); out.coord(left); out.raw(" "); out.coord(lineY); out.raw("H"); out.coord(left + plotWidth); out.raw("\"/>")
        out.raw("<g class=\"pt\">")
        for p in points {
            out.raw("<path d=\"M"); out.coord(x(p.effect)); out.raw(" "); out.coord(bottom - yScale.pixels(evidence(p.q))); out.raw("h0\"><title>")
            out.text(p.tooltip); out.raw("</title></path>")
        }
        out.raw("</g>")
        ChartFrame.axisLabels(&out, x: xLabel, y: yLabel, left: left, top: top, bottom: bottom, width: Double(width), height: height)
        ChartFrame.close(&out)
    }
}
