import ResultBundle
import Experiment
import Foundation

/// The report's pages. Paths: index.html, problems.html, style.css; hookpoints/<h>.html;
/// problems/<id>.html; features/<h>/<feature>.html. Every feature shown in a bundle-wide
/// view has a page, and so do the 500 features that are top features in most problems and the
/// 500 most frequent; charts link a feature wherever its page exists. Pages are drawn on
/// several threads: drawing only reads, and `record` is called under the generator's lock,
/// hence `@unchecked Sendable`.
final class Site: @unchecked Sendable {
    /// FVU above this is flagged: the SAE reconstructs the hookpoint poorly (e.g. a capture
    /// point encoded with another hookpoint's SAE).
    static let highFVU = 0.3
    static let logOddsListed = HookpointAnalysis.logOddsListed

    let bundle: String
    let reader: BundleReader
    let manifest: JSONValue
    let problems: [ProblemSummary]
    let analyses: [HookpointAnalysis]
    let correct: Int
    let wrong: Int
    /// Per hookpoint, sorted.
    private(set) var pageFeatures: [[Int]] = []
    private var pageSet: [Set<Int>] = []
    private(set) var featureTokens: [[Int: [FeatureToken]]] = []
    private(set) var examples: [[Int: [FeatureExample]]] = []
    /// Per hookpoint, the quantile examples and co-occurring features of the page features.
    private(set) var quantileExamples: [[Int: [FeatureExample]]] = []
    private(set) var cooccurring: [[Int: [CooccurringFeature]]] = []
    /// Per hookpoint, per feature: the feature's activation at each context token of each example.
    private(set) var exampleActs: [[Int: [[Double]]]] = []
    /// Example requests by problem ordinal: (hookpoint, feature, example index).
    private var exampleRequests: [Int: [(h: Int, feature: Int, slot: Int)]] = [:]
    private(set) var logOdds: [(overCorrect: [(FeatureRow, LogOddsRatio)], overWrong: [(FeatureRow, LogOddsRatio)], tested: Int)] = []
    private(set) var ordinalOf: [String: Int] = [:]
    /// Whether the bundle is an intervention run: every page's navigation links the Interventions page.
    var hasInterventions = false
    /// [hookpoint][depth 0...2]: the hookpoint's feature folder relative to a page `depth` folders deep, with a trailing "/".
    private let featureFolderHref: [[String]]

    init(bundle: String, reader: BundleReader, manifest: JSONValue, problems: [ProblemSummary], analyses: [HookpointAnalysis]) {
        self.bundle = bundle
        self.reader = reader
        self.manifest = manifest
        self.problems = problems
        self.analyses = analyses
        correct = problems.filter { $0.verdict == .correct }.count
        wrong = problems.filter { $0.verdict == .wrong }.count
        for p in problems { ordinalOf[p.id] = p.ordinal }
        featureFolderHref = analyses.map { a in
            (0...2).map { String(repeating: "../", count: $0) + "features/" + URLPath.segment(a.name) + "/" }
        }
    }

    // MARK: - Choosing what to show

    func choosePages() throws {
        // The hookpoints' feature_tokens.csv (the largest tables) are read on threads of their own.
        let h3 = analyses.count
        let analyses = self.analyses, bundle = self.bundle
        let read = try concurrentMap(h3) { h in
            let a = analyses[h]
            let set = Set(a.pageFeatures)
            return (try HookpointTables.featureTokens(bundle: bundle, hookpoint: a.name, wanted: set),
                    try HookpointTables.examples(bundle: bundle, hookpoint: a.name, wanted: set),
                    try HookpointTables.examples(bundle: bundle, hookpoint: a.name, wanted: set, quantiles: true),
                    try HookpointTables.cooccurrence(bundle: bundle, hookpoint: a.name, wanted: set))
        }
        let tokens = read.map(\.0), ex = read.map(\.1)
        quantileExamples = read.map(\.2)
        cooccurring = read.map(\.3)
        for (h, a) in analyses.enumerated() {
            logOdds.append(a.logOdds)
            pageSet.append(Set(a.pageFeatures))
            pageFeatures.append(a.pageFeatures)
            featureTokens.append(tokens[h])
            let ex = ex[h]
            examples.append(ex)
            var acts: [Int: [[Double]]] = [:]
            for f in ex.keys.sorted() {
                acts[f] = ex[f]!.map { [Double](repeating: 0, count: $0.tokens.count) }
                for (slot, e) in ex[f]!.enumerated() {
                    if let ordinal = ordinalOf[e.problem] { exampleRequests[ordinal, default: []].append((h, f, slot)) }
                }
            }
            exampleActs.append(acts)
        }
    }

    func featureHref(_ h: Int, _ f: Int, depth: Int) -> String? {
        guard pageSet[h].contains(f) else { return nil }
        let folder = depth < featureFolderHref[h].count ? featureFolderHref[h][depth]
            : String(repeating: "../", count: depth) + "features/" + URLPath.segment(analyses[h].name) + "/"
        return folder + String(f) + ".html"
    }

    func reasoningHref(_ h: Int, depth: Int) -> String {
        String(repeating: "../", count: depth) + "reasoning/\(URLPath.segment(analyses[h].name)).html"
    }

    func hookpointHref(_ h: Int, depth: Int) -> String {
        String(repeating: "../", count: depth) + "hookpoints/\(URLPath.segment(analyses[h].name)).html"
    }

    func problemHref(_ ordinal: Int, depth: Int) -> String {
        String(repeating: "../", count: depth) + "problems/\(URLPath.segment(problems[ordinal].fileName)).html"
    }

    func tokenText(_ id: Int32) -> String { reader.tokenTexts[id] ?? "⟨token \(id)⟩" }

    // MARK: - Page frame

    func open(_ out: inout HTMLBuffer, title: String, depth: Int) {
        let up = String(repeating: "../", count: depth)
        out.raw("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\"><head><meta charset=\"utf-8\"/><title>")
        out.text(title)
        out.raw("</title><link rel=\"stylesheet\" href=\"\(up)style.css\"/></head>\n<body><nav><a href=\"\(up)index.html\">Overview</a>")
        for h in analyses.indices {
            out.raw(" · <a href=\""); out.attribute(hookpointHref(h, depth: depth)); out.raw("\">"); out.text(analyses[h].name); out.raw("</a>")
        }
        out.raw(" · <a href=\"\(up)problems.html\">Problems</a>")
        if hasInterventions { out.raw(" · <a href=\"\(up)interventions.html\">Interventions</a>") }
        out.raw("</nav>\n<main>")
    }

    func close(_ out: inout HTMLBuffer) {
        out.raw("</main></body></html>\n")
    }

    func heading(_ out: inout HTMLBuffer, _ level: Int, _ text: String, id: String? = nil) {
        out.raw("<h\(level)")
        if let id { out.raw(" id=\""); out.attribute(id); out.raw("\"") }
        out.raw(">"); out.text(text); out.raw("</h\(level)>\n")
    }

    func paragraph(_ out: inout HTMLBuffer, _ text: String, cls: String? = nil) {
        out.raw(cls.map { "<p class=\"\($0)\">" } ?? "<p>"); out.text(text); out.raw("</p>\n")
    }

    /// A two-column table of (label, value) rows; `id`s become data-key attributes on the value cells.
    func keyValueTable(_ out: inout HTMLBuffer, _ rows: [(String, String, String?)]) {
        out.raw("<table class=\"kv\">")
        for (label, value, key) in rows {
            out.raw("<tr><th>"); out.text(label); out.raw("</th><td")
            if let key { out.raw(" data-key=\""); out.attribute(key); out.raw("\"") }
            out.raw(">"); out.text(value); out.raw("</td></tr>")
        }
        out.raw("</table>\n")
    }

    func link(_ out: inout HTMLBuffer, _ text: String, _ href: String?) {
        if let href {
            out.raw("<a href=\""); out.attribute(href); out.raw("\">"); out.text(text); out.raw("</a>")
        } else {
            out.text(text)
        }
    }

    // MARK: - The study's per-inference charts

    /// The four charts for one problem, or (`bundleWide`) for all problems together.
    func renderInference(_ out: inout HTMLBuffer, _ c: InferenceCharts, h: Int, depth: Int, bundleWide: Bool) {
        let name = analyses[h].name
        let scope = bundleWide ? "all problems" : "this problem"
        let pairBars = c.pairs.map { p in
            Bar(label: nil, value: Double(p.act),
                tooltip: "feature \(p.feature) · act \(Format.act(Double(p.act))) · " + (bundleWide ? "\(problems[Int(p.problem)].id) " : "") + "position \(p.position)",
                href: bundleWide ? featureHref(h, Int(p.feature), depth: depth) : nil)
        }
        // A problem's page draws each feature's bars as one path with one tooltip: the page
        // stays small, and hovering any bar still names its feature.
        BarChart(id: "\(name)/pairs", title: "\(name): the \(c.pairs.count) highest (feature, activation) pairs, \(scope)",
                 bars: pairBars, xLabel: "rank (hover a bar for its feature)", yLabel: "activation", axis: .ranks,
                 groups: bundleWide ? nil : pairGroups(c.pairs)).render(into: &out)
        let frequentBars = c.frequent.map { f in
            Bar(label: String(f.feature), value: Double(f.count), tooltip: "feature \(f.feature): \(f.count) tokens",
                href: featureHref(h, f.feature, depth: depth))
        }
        BarChart(id: "\(name)/frequent", title: "\(name): the \(c.frequent.count) most frequent features, \(scope)",
                 bars: frequentBars, xLabel: "feature", yLabel: "tokens where it fired").render(into: &out)
        let upper = c.histogram.last?.hi ?? 0
        let bins = c.histogram
        BarChart(id: "\(name)/histogram", title: "\(name): activation histogram, \(scope)",
                 bars: bins.map { Bar(label: nil, value: Double($0.count), tooltip: "", href: nil) },
                 xLabel: "activation", yLabel: "count", axis: .range(lo: 0, hi: upper), logY: true,
                 groups: .single(bins.count) { i, out in
                     out.fixed(bins[i].lo, 3); out.raw("–"); out.fixed(bins[i].hi, 3); out.raw(": "); out.int(bins[i].count)
                 }).render(into: &out)
        heading(&out, 4, "\(name): the \(c.relevant.count) relevant features (highest maximum activation, no repetition)")
        for r in c.relevant {
            out.raw("<div class=\"relevant\"><p>")
            link(&out, "Feature \(r.feature)", featureHref(h, r.feature, depth: depth))
            out.text(" · max activation \(Format.act(r.maxAct))")
            out.raw("</p>")
            let tokens = r.tokens
            let tokenBars = tokens.map { t in
                Bar(label: TokenText.label(tokenText(t.token), id: t.token), value: t.maxAct, tooltip: "", href: nil)
            }
            BarChart(id: "\(name)/relevant/\(r.feature)/tokens", title: "feature \(r.feature): its \(r.tokens.count) highest-activating tokens",
                     bars: tokenBars, xLabel: "token (text:id)", yLabel: "max activation", width: 640,
                     groups: .single(tokens.count) { [unowned self] i, out in
                         let t = tokens[i]
                         out.text(TokenText.visible(self.tokenText(t.token))); out.raw(" (id "); out.int(Int(t.token))
                         out.raw("): max "); out.fixed(t.maxAct, 3); out.raw(", "); out.int(t.count); out.raw(" times")
                     }).render(into: &out)
            let points = r.points.map { p in
                ScatterPoint(x: Double(p.token), y: p.act, tooltip: bundleWide ? "\(TokenText.visible(tokenText(p.token))):\(p.token) → \(Format.act(p.act))" : "")
            }
            ScatterChart(id: "\(name)/relevant/\(r.feature)/scatter", title: "feature \(r.feature): token id vs activation",
                         points: points, xLabel: "token id", yLabel: "activation",
                         groups: bundleWide ? nil : pointGroups(r.points)).render(into: &out)
            out.raw("</div>\n")
        }
    }

    /// The pairs of each feature, features in order of their best pair.
    func pairGroups(_ pairs: [ActivationPair]) -> MarkGroups {
        MarkGroups.byFirstAppearance(pairs.count, key: { Int(pairs[$0].feature) }) { _, first, size, out in
            let p = pairs[first]
            out.raw("feature "); out.int(Int(p.feature)); out.raw(" · act "); out.fixed(Double(p.act), 3)
            out.raw(" at position "); out.int(Int(p.position))
            if size > 1 { out.raw(" · "); out.int(size); out.raw(" of the "); out.int(pairs.count); out.raw(" pairs") }
        }
    }

    /// The points of each token, tokens in id order: one tooltip per token with its highest activation.
    func pointGroups(_ points: [(token: Int32, act: Double)]) -> MarkGroups {
        let sorted = points.indices.sorted { points[$0].token != points[$1].token ? points[$0].token < points[$1].token : $0 < $1 }
        var groups = MarkGroups.byFirstAppearance(sorted.count, key: { Int(points[sorted[$0]].token) }) { _, _, _, _ in }
        groups.order = groups.order.map { sorted[$0] }
        let order = groups.order, starts = groups.starts
        groups.tooltip = { [unowned self] g, out in
            let end = g + 1 < starts.count ? starts[g + 1] : order.count
            let token = points[order[starts[g]]].token
            var best = 0.0
            for i in starts[g]..<end { best = max(best, points[order[i]].act) }
            out.text(TokenText.visible(self.tokenText(token))); out.raw(":"); out.int(Int(token))
            out.raw(" → "); out.fixed(best, 3)
            if end - starts[g] > 1 { out.raw(" (max of "); out.int(end - starts[g]); out.raw(")") }
        }
        return groups
    }

    // MARK: - Problem pages

    /// The activations of one example's feature around its position.
    struct ExampleActivations {
        let h: Int
        let feature: Int
        let slot: Int
        let acts: [Double]
    }

    /// One problem's page, drawn with the caller's scratch (one per hookpoint, so threads can
    /// draw pages at once), and the example activations this problem's latents hold.
    func problemPage(_ task: CommittedTask, summary p: ProblemSummary, scratches: [ProblemScratch]) throws -> (HTMLBuffer, [ExampleActivations]) {
        var out = HTMLBuffer(capacity: 1 << 18)
        let r = task.record
        open(&out, title: "\(r.id) · ThinkLens report", depth: 1)
        heading(&out, 1, "Problem \(r.id)")
        keyValueTable(&out, [
            ("verdict", r.verdict.rawValue, "verdict"), ("gold answer", r.gold ?? "—", "gold"), ("extracted answer", r.answer ?? "—", "answer"),
            ("stop", r.stop.rawValue, "stop"), ("prompt tokens", String(r.promptIDs.count), "prompt_tokens"),
            ("generated tokens", String(r.generatedIDs.count), "generated_tokens"),
            ("</think> at", r.thinkEnd.map { "position \($0) (generated token \($0 - r.promptIDs.count + 1))" } ?? "never", "think_end"),
        ])
        heading(&out, 2, "Question")
        out.raw("<pre class=\"text\">"); out.text(r.question); out.raw("</pre>\n")
        heading(&out, 2, "Generation")
        out.raw("<pre class=\"text\">"); out.text(r.text); out.raw("</pre>\n")
        for (h, analysis) in analyses.enumerated() {
            guard let rows = task.latents[analysis.name] else { continue }
            heading(&out, 2, "Hookpoint \(analysis.name)", id: analysis.name)
            let scratch = scratches[h]
            let charts = scratch.charts(rows, problem: Int32(p.ordinal), relevant: analysis.problemRelevant[p.ordinal],
                                        frequent: analysis.problemFrequent[p.ordinal])
            renderInference(&out, charts, h: h, depth: 1, bundleWide: false)
        }
        // The activation of each example's feature around its position, for the feature pages.
        var found: [ExampleActivations] = []
        for request in exampleRequests[p.ordinal] ?? [] {
            guard let rows = task.latents[analyses[request.h].name] else { continue }
            let e = examples[request.h][request.feature]![request.slot]
            let first = e.position - e.center
            var acts = [Double](repeating: 0, count: e.tokens.count)
            var lo = 0, hi = rows.rowCount
            while lo < hi { let mid = (lo + hi) / 2; if Int(rows.positions[mid]) < first { lo = mid + 1 } else { hi = mid } }
            var row = lo
            while row < rows.rowCount, Int(rows.positions[row]) < first + e.tokens.count {
                for j in 0..<rows.k where Int(rows.indices[row * rows.k + j]) == request.feature {
                    acts[Int(rows.positions[row]) - first] = Double(rows.activations[row * rows.k + j])
                }
                row += 1
            }
            found.append(ExampleActivations(h: request.h, feature: request.feature, slot: request.slot, acts: acts))
        }
        close(&out)
        return (out, found)
    }

    func record(_ found: [ExampleActivations]) {
        for e in found { exampleActs[e.h][e.feature]![e.slot] = e.acts }
    }

    // MARK: - Overview

    func fvu(_ hookpoint: String) -> Double? { manifest["fvu"]?[hookpoint]?.doubleValue }

    func indexPage() -> HTMLBuffer {
        var out = HTMLBuffer()
        open(&out, title: "ThinkLens report", depth: 0)
        heading(&out, 1, "ThinkLens report")
        let counts = manifest["counts"]
        let n = problems.count
        let none = problems.filter { $0.verdict == .none }.count
        let eos = problems.filter { $0.stop == .eos }.count
        let generated = problems.reduce(0) { $0 + $1.generatedTokens }
        heading(&out, 2, "Problems and accuracy")
        keyValueTable(&out, [
            ("problems selected", counts?["problems_selected"]?.intValue.map(String.init) ?? "?", "problems_selected"),
            ("problems in the bundle", String(n), "problems"),
            ("problems failed", counts?["problems_failed"]?.intValue.map(String.init) ?? "?", "problems_failed"),
            ("problems missing", counts?["problems_missing"]?.intValue.map(String.init) ?? "?", "problems_missing"),
            ("correct", "\(correct) (\(Format.percent(correct, of: n)))", "correct"),
            ("wrong", "\(wrong) (\(Format.percent(wrong, of: n)))", "wrong"),
            ("no answer", "\(none) (\(Format.percent(none, of: n)))", "none"),
            ("stopped at end of sequence", "\(eos) (\(Format.percent(eos, of: n)))", "stop_eos"),
            ("stopped at the token limit", "\(n - eos) (\(Format.percent(n - eos, of: n)))", "stop_length"),
            ("tokens generated", "\(generated) (mean \(Format.fixed(n > 0 ? Double(generated) / Double(n) : 0, 1)) per problem)", "tokens_generated"),
            ("problems that wrote </think>", "\(problems.filter { $0.thinkEnd != nil }.count) of \(n)", "think_end"),
        ])
        BarChart(id: "overview/verdicts", title: "answers", bars: [
            Bar(label: "correct", value: Double(correct), tooltip: "correct: \(correct)", href: nil),
            Bar(label: "wrong", value: Double(wrong), tooltip: "wrong: \(wrong)", href: nil),
            Bar(label: "no answer", value: Double(none), tooltip: "no answer: \(none)", href: nil),
        ], xLabel: "verdict", yLabel: "problems", axis: .bins(every: 1), width: 360).render(into: &out)
        let longest = problems.map(\.generatedTokens).max() ?? 0
        let binCount = 20
        var lengthBins = [Int](repeating: 0, count: binCount)
        for p in problems where longest > 0 { lengthBins[min(binCount - 1, p.generatedTokens * binCount / longest)] += 1 }
        BarChart(id: "overview/lengths", title: "generated tokens per problem",
                 bars: lengthBins.enumerated().map { Bar(label: nil, value: Double($0.element), tooltip: "\($0.offset * longest / binCount)–\(($0.offset + 1) * longest / binCount) tokens: \($0.element) problems", href: nil) },
                 xLabel: "generated tokens", yLabel: "problems", axis: .range(lo: 0, hi: Double(longest)), width: 560).render(into: &out)

        heading(&out, 2, "Hookpoints and SAE fit")
        out.raw("<table class=\"list\" data-table=\"hookpoints\"><tr><th>hookpoint</th><th>latent rows</th><th>k</th><th>features that fired</th><th>FVU</th><th>SAE fingerprint</th></tr>")
        for (h, a) in analyses.enumerated() {
            out.raw("<tr><td>"); link(&out, a.name, hookpointHref(h, depth: 0)); out.raw("</td><td>")
            out.text(counts?["latent_rows"]?[a.name]?.intValue.map(String.init) ?? "?"); out.raw("</td><td>")
            out.text(counts?["k"]?[a.name]?.intValue.map(String.init) ?? "?"); out.raw("</td><td>"); out.int(a.tables.rows.count)
            out.raw("</td><td>")
            if let v = fvu(a.name) {
                out.text(Format.fixed(v, 4))
                if v > Self.highFVU { out.raw(" <strong class=\"flag\">high: the SAE reconstructs this capture point poorly (check CAPTURE=SAE pairs)</strong>") }
            } else { out.text("not recorded") }
            out.raw("</td><td class=\"mono\">"); out.text(manifest["saes"]?[a.name]?["fingerprint"]?.stringValue ?? "?"); out.raw("</td></tr>")
        }
        out.raw("</table>\n")
        paragraph(&out, "FVU (fraction of variance unexplained by the SAE's reconstruction) above \(Format.fixed(Self.highFVU, 1)) is flagged.", cls: "note")

        heading(&out, 2, "Run settings")
        keyValueTable(&out, [
            ("format version", manifest["format_version"]?.intValue.map(String.init) ?? "?", nil),
            ("ThinkLens version", manifest["thinklens_version"]?.stringValue ?? "?", nil),
            ("model fingerprint", manifest["model"]?["fingerprint"]?.stringValue ?? "?", "model_fingerprint"),
            ("tokenizer fingerprint", manifest["tokenizer"]?["fingerprint"]?.stringValue ?? "?", "tokenizer_fingerprint"),
            ("problem selection", (manifest["problem_selection"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", "), nil),
            ("hookpoints", reader.manifest.hookpoints.joined(separator: ", "), nil),
        ])
        heading(&out, 3, "Generation")
        renderJSON(&out, manifest["generation"] ?? .null, depth: 0)
        heading(&out, 3, "Prompt format")
        out.raw("<pre class=\"text\">"); out.text(manifest["prompt_format"]?.stringValue ?? (manifest["prompt_format"]?.serialized(pretty: true) ?? "")); out.raw("</pre>\n")
        heading(&out, 3, "Model configuration")
        renderJSON(&out, manifest["model"]?["config"] ?? .null, depth: 0)
        heading(&out, 3, "SAE configurations")
        for a in analyses {
            heading(&out, 4, a.name)
            renderJSON(&out, manifest["saes"]?[a.name]?["cfg"] ?? .null, depth: 0)
        }
        let failed = manifest["failed_problems"]?.arrayValue ?? []
        heading(&out, 2, "Failed problems (\(failed.count))")
        if !failed.isEmpty {
            out.raw("<table class=\"list\" data-table=\"failed\"><tr><th>problem</th><th>reasons</th></tr>")
            for item in failed {
                out.raw("<tr><td>"); out.text(item["id"]?.stringValue ?? "?"); out.raw("</td><td>")
                out.text((item["reasons"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: "; ")); out.raw("</td></tr>")
            }
            out.raw("</table>\n")
        }
        heading(&out, 2, "Throughput and workers (run.json)")
        renderJSON(&out, reader.run, depth: 0)
        close(&out)
        return out
    }

    /// JSON as nested tables: objects by sorted key, arrays of objects as one table, other arrays inline.
    func renderJSON(_ out: inout HTMLBuffer, _ value: JSONValue, depth: Int) {
        switch value {
        case .object(let members):
            out.raw("<table class=\"kv\">")
            for key in members.keys.sorted() {
                out.raw("<tr><th>"); out.text(key); out.raw("</th><td>")
                renderJSON(&out, members[key]!, depth: depth + 1)
                out.raw("</td></tr>")
            }
            out.raw("</table>")
        case .array(let items) where !items.isEmpty && items.allSatisfy({ if case .object = $0 { return true }; return false }):
            var keys = Set<String>()
            for item in items { if case .object(let m) = item { keys.formUnion(m.keys) } }
            let columns = keys.sorted()
            out.raw("<table class=\"list\"><tr>")
            for c in columns { out.raw("<th>"); out.text(c); out.raw("</th>") }
            out.raw("</tr>")
            for item in items {
                out.raw("<tr>")
                for c in columns {
                    out.raw("<td>")
                    if let v = item[c] { renderJSON(&out, v, depth: depth + 1) }
                    out.raw("</td>")
                }
                out.raw("</tr>")
            }
            out.raw("</table>")
        case .string(let s): out.text(s)
        case .double(let d): out.text(Ticks.text(d))
        default: out.text(value.serialized())
        }
        if depth == 0 { out.raw("\n") }
    }

    func problemListPage() -> HTMLBuffer {
        var out = HTMLBuffer(capacity: 1 << 20)
        open(&out, title: "Problems · ThinkLens report", depth: 0)
        heading(&out, 1, "Problems (\(problems.count))")
        out.raw("<table class=\"list\" data-table=\"problems\"><tr><th>problem</th><th>verdict</th><th>answer</th><th>gold</th><th>stop</th><th>generated tokens</th><th>&lt;/think&gt; at</th></tr>\n")
        for p in problems {
            out.raw("<tr class=\"\(p.verdict.rawValue)\"><td>"); link(&out, p.id, problemHref(p.ordinal, depth: 0)); out.raw("</td><td>")
            out.text(p.verdict.rawValue); out.raw("</td><td>"); out.text(p.answer ?? "—"); out.raw("</td><td>"); out.text(p.gold ?? "—")
            out.raw("</td><td>"); out.text(p.stop.rawValue); out.raw("</td><td>"); out.int(p.generatedTokens); out.raw("</td><td>")
            out.text(p.thinkEnd.map(String.init) ?? "—"); out.raw("</td></tr>\n")
        }
        out.raw("</table>\n")
        close(&out)
        return out
    }

    static let styleSheet = """
    body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fff; }
    nav { background: #1d3557; color: #fff; padding: 8px 16px; }
    nav a { color: #fff; }
    main { padding: 8px 24px 48px; max-width: 1400px; }
    h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; } h3 { font-size: 15px; } h4 { font-size: 14px; }
    table { border-collapse: collapse; margin: 6px 0; }
    th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
    table.kv th { background: #f4f6f8; font-weight: normal; color: #555; }
    table.list th { background: #f4f6f8; }
    tr.correct td:nth-child(2) { color: #1a7f37; } tr.wrong td:nth-child(2) { color: #c62828; }
    .mono, td.tok { font-family: ui-monospace, monospace; }
    pre.text { white-space: pre-wrap; background: #f8f8f8; padding: 8px; max-height: 320px; overflow: auto; }
    figure.chart { margin: 10px 0; display: inline-block; vertical-align: top; }
    figcaption { font-weight: 600; font-size: 13px; }
    svg { font: 10px system-ui, sans-serif; }
    svg .bar path { stroke: #457b9d; fill: none; } svg .bar path:hover { stroke: #e63946; }
    svg .pt path { stroke: #e63946; stroke-opacity: 0.6; stroke-width: 5; stroke-linecap: round; fill: none; }
    svg .cell { fill: #c1121f; }
    svg .axis { stroke: #333; stroke-width: 1; fill: none; } svg .grid { stroke: #ddd; stroke-width: 0.5; fill: none; }
    svg .al { font-size: 11px; fill: #333; text-anchor: middle; } svg .xl, svg .xt, svg .yl { fill: #444; }
    svg .xl, svg .yl { text-anchor: end; } svg .xt { text-anchor: middle; }
    .relevant { border-left: 3px solid #a8dadc; padding-left: 8px; margin: 12px 0; }
    .claim { font-size: 15px; font-weight: 600; }
    .tag { background: #e63946; color: #fff; border-radius: 3px; padding: 0 4px; font-size: 11px; }
    .warn { background: #fff3cd; padding: 6px 10px; } .note { color: #555; font-size: 12px; }
    .flag { color: #c62828; }
    .ctx { font-family: ui-monospace, monospace; white-space: pre-wrap; margin: 4px 0; }
    .ctx .meta { color: #777; font-family: system-ui, sans-serif; font-size: 12px; }
    .tok.hit { outline: 1px solid #c1121f; font-weight: bold; }
    table.side { width: 100%; table-layout: fixed; } table.side pre.text { margin: 0; }
    section.pair mark { background: #ffe08a; }

    """
}
