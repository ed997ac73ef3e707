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
        let interval = Self.topInterval(row, problems: n).map { " (95% bootstrap interval \($0))" } ?? ""
        paragraph(&out, "Feature \(f) was a top feature (one of the 10 of highest maximum activation) in \(row.topActInferences) of \(n) inferences\(interval), and fired in \(row.inferences).", cls: "claim")
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
        if let s = row.statistics {
            heading(&out, 2, "Is it a reasoning feature?")
            let detector = (s.tokenEta2 ?? 0) >= Self.tokenDetectorEta2 ? " (a token detector)" : ""
            keyValueTable(&out, [
                ("ReasonScore", Self.number(s.reasonScore), "reason_score"),
                ("mean activation near reasoning words / elsewhere", "\(Self.number(s.reasonMuIn)) / \(Self.number(s.reasonMuOut))", "reason_mu"),
                ("entropy over the reasoning words", Self.number(s.reasonEntropy), "reason_entropy"),
                ("token dependence η²", Self.number(s.tokenEta2) + detector, "token_eta2"),
                ("reasoning − answer (share of tokens, mean over problems)", s.segmentDiff.map { "\(Self.number($0)), p \(Self.number(s.segmentP)), q \(Self.number(s.segmentQ))" } ?? "not tested (fired in fewer than 5 problems with both segments)", "segment"),
                ("correct vs wrong (label shuffles)", s.correctWrongP.map { "p \(Self.number($0)), q \(Self.number(s.correctWrongQ))" } ?? "not tested", "correct_wrong"),
            ])
            out.raw("<p class=\"note\"><a href=\""); out.attribute(reasoningHref(h, depth: 2) + "#how-to-read"); out.raw("\">How to read these numbers</a></p>\n")
        }
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
        out.raw("</div>\n")
        if let quantiles = quantileExamples[h][f], !quantiles.isEmpty {
            heading(&out, 2, "Examples across its activation range")
            paragraph(&out, "Two positions drawn at random from each tenth of its activations (0 = weakest), so the feature is seen across its range and not only at its peak.", cls: "note")
            out.raw("<div class=\"contexts\" data-table=\"quantile-examples\">")
            for e in quantiles {
                out.raw("<p class=\"ctx quantile\"><span class=\"meta\">"); out.text("tenth \(e.quantile ?? 0) · ")
                link(&out, e.problem, ordinalOf[e.problem].map { problemHref($0, depth: 2) })
                out.text(" @\(e.position) · \(Format.act(e.act))"); out.raw("</span> ")
                let intensity = row.maxAct > 0 ? min(1, e.act / row.maxAct) : 0
                for (i, text) in e.texts.enumerated() {
                    if i == e.center {
                        out.raw("<span class=\"tok hit\" style=\"background-color:rgba(255,110,0,"); out.fixed(intensity, 2); out.raw(")\">")
                    } else {
                        out.raw("<span class=\"tok\">")
                    }
                    out.text(TokenText.inline(text)); out.raw("</span>")
                }
                out.raw("</p>\n")
            }
            out.raw("</div>\n")
        }
        if let partners = cooccurring[h][f], !partners.isEmpty {
            heading(&out, 2, "Features that fire with it")
            out.raw("<table class=\"list\" data-table=\"cooccurrence\"><tr><th>feature</th><th>positions where both fire</th><th>Jaccard index</th></tr>")
            for c in partners {
                out.raw("<tr data-feature=\"\(c.partner)\"><td>"); link(&out, String(c.partner), featureHref(h, c.partner, depth: 2))
                out.raw("</td><td>"); out.int(c.both); out.raw("</td><td>"); out.text(Format.fixed(c.jaccard, 3)); out.raw("</td></tr>")
            }
            out.raw("</table>\n")
        }
        out.raw("<p><a href=\""); out.attribute(hookpointHref(h, depth: 2)); out.raw("\">All features of "); out.text(a.name); out.raw("</a></p>\n")
        close(&out)
        return out
    }
}
