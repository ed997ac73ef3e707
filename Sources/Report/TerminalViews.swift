import ResultBundle
import Foundation

/// Orders for `thinklens features --sort`: counts, activations and scores descending,
/// p- and q-values ascending, `segment_diff` by its magnitude; then by feature id. Features
/// with an empty cell (not tested) come after all others.
public enum FeatureSort: String, CaseIterable, Sendable {
    case tokens, inferences
    case topActInferences = "top_act_inferences"
    case maxAct = "max_act"
    case tokenEta2 = "token_eta2"
    case reasonScore = "reason_score"
    case segmentDiff = "segment_diff"
    case segmentP = "segment_p"
    case segmentQ = "segment_q"
    case correctWrongP = "correct_wrong_p"
    case correctWrongQ = "correct_wrong_q"
    case topActLow = "top_act_lo"

    /// Whether the order reads the statistics columns (which older bundles lack).
    public var needsStatistics: Bool {
        switch self {
        case .tokens, .inferences, .topActInferences, .maxAct: return false
        default: return true
        }
    }

    /// The sort key, larger first; nil for an empty cell.
    func key(_ r: FeatureRow) -> Double? {
        switch self {
        case .tokens: return Double(r.tokens)
        case .inferences: return Double(r.inferences)
        case .topActInferences: return Double(r.topActInferences)
        case .maxAct: return r.maxAct
        case .tokenEta2: return r.statistics?.tokenEta2
        case .reasonScore: return r.statistics?.reasonScore
        case .segmentDiff: return r.statistics?.segmentDiff.map(abs)
        case .segmentP: return r.statistics?.segmentP.map { -$0 }
        case .segmentQ: return r.statistics?.segmentQ.map { -$0 }
        case .correctWrongP: return r.statistics?.correctWrongP.map { -$0 }
        case .correctWrongQ: return r.statistics?.correctWrongQ.map { -$0 }
        case .topActLow: return r.statistics?.topActLow
        }
    }

    func precedes(_ a: FeatureRow, _ b: FeatureRow) -> Bool {
        switch (key(a), key(b)) {
        case let (x?, y?): return x != y ? x > y : a.feature < b.feature
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return a.feature < b.feature
        }
    }
}

/// Plain-text views of a bundle's tables for the terminal.
public enum TerminalViews {
    /// `thinklens features`: an aligned table of the `top` features by `sort`.
    public static func featureTable(_ tables: HookpointTables, problems: Int, sort: FeatureSort, top: Int) -> String {
        let rows = bestItems(top, of: tables.rows, by: sort.precedes)
        let header = ["rank", "feature", "tokens", "reasoning", "answer", "inferences", "correct", "wrong", "top_act", "top_freq", "max_act", "mean_act"]
        var lines: [[String]] = [header]
        for (i, r) in rows.enumerated() {
            lines.append([String(i + 1), String(r.feature), String(r.tokens), String(r.tokensReasoning), String(r.tokensAnswer),
                          "\(r.inferences)/\(problems)", String(r.inferencesCorrect), String(r.inferencesWrong),
                          "\(r.topActInferences)/\(problems)", "\(r.topFreqInferences)/\(problems)", Format.act(r.maxAct), Format.act(r.meanAct)])
        }
        if tables.rows.contains(where: { $0.statistics != nil }) {
            lines[0] += ["eta2", "reason_score", "segment_diff", "segment_q", "correct_wrong_q", "top_act_95%"]
            for (i, r) in rows.enumerated() {
                let s = r.statistics ?? FeatureStatistics()
                func cell(_ v: Double?) -> String { v.map { String(format: "%.3g", $0) } ?? "-" }
                let interval = s.topActLow.map { lo in "\(cell(lo))–\(cell(s.topActHigh))" } ?? "-"
                lines[i + 1] += [cell(s.tokenEta2), cell(s.reasonScore), cell(s.segmentDiff), cell(s.segmentQ), cell(s.correctWrongQ), interval]
            }
        }
        var out = "\(tables.hookpoint): \(tables.rows.count) features fired; top \(rows.count) by \(sort.rawValue)\n"
        out += aligned(lines)
        return out
    }

    /// Columns padded to their widest cell; the first two left-aligned, numbers right-aligned.
    static func aligned(_ lines: [[String]]) -> String {
        guard let first = lines.first else { return "" }
        var widths = [Int](repeating: 0, count: first.count)
        for line in lines { for (c, cell) in line.enumerated() { widths[c] = max(widths[c], cell.count) } }
        var out = ""
        for line in lines {
            var parts: [String] = []
            for (c, cell) in line.enumerated() {
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                parts.append(c == 0 ? cell + pad : pad + cell)
            }
            out += parts.joined(separator: "  ") + "\n"
        }
        return out
    }

    /// `thinklens feature`: statistics, top tokens and top contexts; with `color`, the
    /// activating token of each context is highlighted with ANSI escapes, shaded by intensity.
    public static func featureDetail(bundle: String, hookpoint: String, feature: Int, color: Bool) throws -> String {
        let manifest = try RunManifest.read(bundle: bundle)
        guard manifest.hookpoints.contains(hookpoint) else {
            throw RunDataError(subject: "hookpoint '\(hookpoint)'", reason: "is not in \(bundle); it has \(manifest.hookpoints.joined(separator: ", "))")
        }
        let tables = try HookpointTables.read(bundle: bundle, hookpoint: hookpoint)
        guard let row = tables.row(feature) else {
            throw RunDataError(subject: "feature \(feature)", reason: "never fired at \(hookpoint) in \(bundle) (it is not in features.csv)")
        }
        let problems = try problemCount(bundle: bundle)
        var out = "feature \(feature) at \(hookpoint)\n"
        out += "  top feature (max activation) in \(row.topActInferences) of \(problems.total) inferences; top by frequency in \(row.topFreqInferences)\n"
        out += "  fired in \(row.inferences) inferences (\(row.inferencesCorrect) of \(problems.correct) correct, \(row.inferencesWrong) of \(problems.wrong) wrong)\n"
        out += "  tokens \(row.tokens) (reasoning \(row.tokensReasoning), answer \(row.tokensAnswer)); max activation \(Format.act(row.maxAct)), mean \(Format.act(row.meanAct))\n"
        if let why = LogOddsRatio.sampleTooSmall(correct: problems.correct, wrong: problems.wrong) {
            out += "  correct vs wrong: \(why)\n"
        } else if row.inferencesCorrect + row.inferencesWrong >= LogOddsRatio.minimumFiringProblems {
            let lor = LogOddsRatio(firedCorrect: row.inferencesCorrect, correct: problems.correct, firedWrong: row.inferencesWrong, wrong: problems.wrong)
            out += "  correct vs wrong: log odds ratio \(Format.fixed(lor.estimate, 2)), 95% interval [\(Format.fixed(lor.low, 2)), \(Format.fixed(lor.high, 2))]\n"
        }
        let tokens = try HookpointTables.featureTokens(bundle: bundle, hookpoint: hookpoint, wanted: [feature])[feature] ?? []
        out += "\ntop tokens (max activation, times fired)\n"
        var lines: [[String]] = [["token", "id", "max_act", "count"]]
        for t in tokens.prefix(20) { lines.append([TokenText.visible(t.text), String(t.token), Format.act(t.maxAct), String(t.count)]) }
        out += aligned(lines)
        let examples = try HookpointTables.examples(bundle: bundle, hookpoint: hookpoint, wanted: [feature])[feature] ?? []
        out += "\ntop contexts\n"
        if examples.isEmpty { out += "  (the bundle keeps contexts only for the \(BundleWriter.exampleFeatures) most frequent features)\n" }
        for e in examples.prefix(10) {
            var line = "  \(Format.act(e.act))  \(e.problem) @\(e.position)  "
            for (i, text) in e.texts.enumerated() {
                let shown = TokenText.inline(text)
                if i == e.center {
                    if color {
                        // 256-colour background from pale to strong orange by the example's share of the maximum.
                        let level = row.maxAct > 0 ? min(1, e.act / row.maxAct) : 1
                        let shades = [223, 215, 208, 202]
                        line += "\u{1B}[1;38;5;16;48;5;\(shades[min(shades.count - 1, Int(level * Double(shades.count)))])m\(shown)\u{1B}[0m"
                    } else {
                        line += "[[\(shown)]]"
                    }
                } else {
                    line += shown
                }
            }
            out += line + "\n"
        }
        return out
    }

    /// Problems in the bundle and how many were answered correctly and wrongly (from the manifest counts).
    public static func problemCount(bundle: String) throws -> (total: Int, correct: Int, wrong: Int) {
        let path = (bundle as NSString).appendingPathComponent(BundleLayout.manifestFile)
        guard let data = FileManager.default.contents(atPath: path) else { throw RunDataError(subject: path, reason: "cannot read; is \(bundle) a result bundle?") }
        let json = try JSONValue.parse(data, source: path)
        let counts = json["counts"]
        return (counts?["problems_committed"]?.intValue ?? 0, counts?["verdicts"]?["correct"]?.intValue ?? 0, counts?["verdicts"]?["wrong"]?.intValue ?? 0)
    }
}
