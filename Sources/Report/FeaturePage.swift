import ResultBundle
import Experiment
import Foundation

/// `features/<hookpoint>/<feature>.html`: one feature's numbers, tokens, examples and charts.
extension Site {
    func featurePage(_ h: Int, _ f: Int) -> HTMLBuffer {
        let a = analyses[h]
        let row = a.tables.row(f)!
        var out = HTMLBuffer()
        open(&out, title: "Feature \(f) · \(a.name) · ThinkLens report", depth: 2)
        heading(&out, 1, "Feature \(f) at \(a.name)")
        let n = problems.count
        paragraph(&out, "Feature \(f) was a top feature (one of the 10 of highest maximum activation) in \(row.topActInferences) of \(n) inferences, and fired in \(row.inferences).", cls: "claim")
        let reasoningRows = a.segmentRows[1], answerRows = a.segmentRows[2]
        keyValueTable(&out, [
            ("tokens where it fired", String(row.tokens), "tokens"),
            ("… in reasoning (before and at </think>)", String(row.tokensReasoning), "tokens_reasoning"),
            ("… in the answer (after </think>)", String(row.tokensAnswer), "tokens_answer"),
            ("density in reasoning", "\(Format.percent(row.tokensReasoning, of: reasoningRows)) of \(reasoningRows) reasoning positions", "density_reasoning"),
            ("density in the answer", "\(Format.percent(row.tokensAnswer, of: answerRows)) of \(answerRows) answer positions", "density_answer"),
            ("inferences where it fired", "\(row.inferences) of \(n)", "inferences"),
            ("top feature by max activation in", "\(row.topActInferences) of \(n)", "top_act_inferences"),
            ("top feature by frequency in", "\(row.topFreqInferences) of \(n)", "top_freq_inferences"),
            ("maximum activation", Format.act(row.maxAct), "max_act"),
            ("mean activation", Format.act(row.meanAct), "mean_act"),
        ])
        heading(&out, 2, "Correct vs wrong answers")
        keyValueTable(&out, [
            ("fired in correct problems", "\(row.inferencesCorrect) of \(correct) (\(Format.percent(row.inferencesCorrect, of: correct)))", "inferences_correct"),
            ("fired in wrong problems", "\(row.inferencesWrong) of \(wrong) (\(Format.percent(row.inferencesWrong, of: wrong)))", "inferences_wrong"),
        ])
        if let why = LogOddsRatio.sampleTooSmall(correct: correct, wrong: wrong) {
            paragraph(&out, why, cls: "warn")
        } else if row.inferencesCorrect + row.inferencesWrong < LogOddsRatio.minimumFiringProblems {
            paragraph(&out, "It fired in \(row.inferencesCorrect + row.inferencesWrong) answered problems; at least \(LogOddsRatio.minimumFiringProblems) are needed for an estimate.", cls: "warn")
        } else {
            let lor = LogOddsRatio(firedCorrect: row.inferencesCorrect, correct: correct, firedWrong: row.inferencesWrong, wrong: wrong)
            let verdict = lor.low > 0 ? "over-represented in correct answers" : (lor.high < 0 ? "over-represented in wrong answers" : "no clear difference (the interval includes 0)")
            paragraph(&out, "Log odds ratio (correct vs wrong) \(Format.fixed(lor.estimate, 2)), 95% interval [\(Format.fixed(lor.low, 2)), \(Format.fixed(lor.high, 2))]: \(verdict).")
        }
        heading(&out, 2, "Activations")
        let histogram = a.activationHistogram(f)
        BarChart(id: "feature/histogram", title: "activation histogram of feature \(f)",
                 bars: histogram.map { Bar(label: nil, value: Double($0.count), tooltip: "\(Format.act($0.lo))–\(Format.act($0.hi)): \($0.count)", href: nil) },
                 xLabel: "activation", yLabel: "tokens", axis: .range(lo: 0, hi: row.maxAct), logY: true, width: 640).render(into: &out)
        heading(&out, 2, "Where it fires in the reasoning")
        let think = a.thinkHistogram(f)
        BarChart(id: "feature/think", title: "tokens by distance to </think> (negative: before)",
                 bars: think.enumerated().map { Bar(label: PositionBins.thinkLabel($0.offset), value: Double($0.element), tooltip: "\(PositionBins.thinkLabel($0.offset)): \($0.element)", href: nil) },
                 xLabel: "position − position of </think> (log2 bins)", yLabel: "tokens", axis: .bins(every: 2), width: 640).render(into: &out)
        if a.withoutThink(f) > 0 {
            paragraph(&out, "\(a.withoutThink(f)) more tokens are in problems whose generation never produced </think>.")
        }
        let end = a.endHistogram(f)
        BarChart(id: "feature/end", title: "tokens by distance to the end of the generation",
                 bars: end.enumerated().map { Bar(label: PositionBins.endLabel($0.offset), value: Double($0.element), tooltip: "\(PositionBins.endLabel($0.offset)) tokens before the end: \($0.element)", href: nil) },
                 xLabel: "tokens before the last generated token (log2 bins)", yLabel: "tokens", axis: .bins(every: 2), width: 640).render(into: &out)
        heading(&out, 2, "Top tokens")
        let tokens = featureTokens[h][f] ?? []
        BarChart(id: "feature/tokens", title: "the \(tokens.count) tokens of highest maximum activation",
                 bars: tokens.map { t in
                     Bar(label: TokenText.label(t.text, id: t.token), value: t.maxAct,
                         tooltip: "\(TokenText.visible(t.text)) (id \(t.token)): max \(Format.act(t.maxAct)), \(t.count) times", href: nil)
                 },
                 xLabel: "token (text:id)", yLabel: "max activation").render(into: &out)
        out.raw("<table class=\"list\" data-table=\"tokens\"><tr><th>token</th><th>id</th><th>times it fired</th><th>max activation</th></tr>")
        for t in tokens {
            out.raw("<tr><td class=\"tok\">"); out.text(TokenText.visible(t.text)); out.raw("</td><td>"); out.int(Int(t.token))
            out.raw("</td><td>"); out.int(t.count); out.raw("</td><td>"); out.text(Format.act(t.maxAct)); out.raw("</td></tr>")
        }
        out.raw("</table>\n")
        heading(&out, 2, "Highest-activating contexts")
        let list = examples[h][f] ?? []
        if list.isEmpty {
            paragraph(&out, "The bundle keeps contexts only for the \(BundleWriter.exampleFeatures) most frequent features of each hookpoint; this feature is not among them.")
        }
        out.raw("<div class=\"contexts\">")
        for (slot, e) in list.enumerated() {
            let acts = exampleActs[h][f]?[slot] ?? []
            out.raw("<p class=\"ctx\"><span class=\"meta\">")
            link(&out, e.problem, ordinalOf[e.problem].map { problemHref($0, depth: 2) })
            out.text(" @\(e.position) · \(Format.act(e.act))")
            out.raw("</span> ")
            for (i, text) in e.texts.enumerated() {
                let act = i == e.center ? e.act : (i < acts.count ? acts[i] : 0)
                let intensity = row.maxAct > 0 ? min(1, act / row.maxAct) : 0
                out.raw(i == e.center ? "<span class=\"tok hit\"" : "<span class=\"tok\"")
                out.raw(" style=\"background-color:rgba(255,110,0,"); out.fixed(intensity, 2); out.raw(")\" title=\"")
                out.attribute("\(TokenText.visible(text)):\(e.tokens[i]) act \(Format.act(act))")
                out.raw("\">"); out.text(TokenText.inline(text)); out.raw("</span>")
            }
            out.raw("</p>\n")
        }
        out.raw("</div>\n<p><a href=\""); out.attribute(hookpointHref(h, depth: 2)); out.raw("\">All features of "); out.text(a.name); out.raw("</a></p>\n")
        close(&out)
        return out
    }
}
