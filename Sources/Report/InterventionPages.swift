import ResultBundle
import Foundation

/// The "Interventions" pages of the report of an intervention run (a bundle with
/// interventions/conditions.json): interventions.html with every condition's paired effect
/// on accuracy and length and a dose–response chart per sweep, and interventions/<C>.html per
/// condition with each problem's baseline and intervened text side by side, the first
/// divergence marked. Each condition's own report (it is a complete bundle) goes to
/// conditions/<C>/.
struct InterventionPages {
    /// Characters of the shared text kept before the first divergence; the rest is elided
    /// (it is the same on both sides by definition).
    static let sharedContext = 400
    /// Characters of each side's text shown from the first divergence on; the problem's own
    /// page (in the baseline's and in the condition's report) has the whole text.
    static let divergentText = 2_000
    /// Problems per condition page: R1 outputs run to thousands of tokens, so a single page
    /// of all 7,473 GSM8K train problems would weigh hundreds of megabytes.
    static let problemsPerPage = 200

    let site: Site
    let comparison: InterventionComparison
    let seed: UInt64
    /// Per condition: its folder and file name in the report (problem-id style, made unique).
    let folders: [String]
    /// Per condition: its edits as conditions.json gives them.
    let edits: [JSONValue]
    /// Per condition: the token texts of the baseline's and the condition's tokens.csv.
    let tokenTexts: [[Int32: String]]
    /// Per condition: whether it stored latents, so that its own report can be drawn.
    let hasLatents: [Bool]

    init(site: Site, bundle: String, conditions names: [String]) throws {
        self.site = site
        seed = try InterventionComparison.runSeed(bundle: bundle)
        comparison = try InterventionComparison(bundle: bundle, conditions: names, seed: seed)
        var used = Set<String>(), folders: [String] = []
        for (i, name) in names.enumerated() {
            var folder = URLPath.fileName(name)
            if used.contains(folder) { folder += "-\(i)" }
            used.insert(folder)
            folders.append(folder)
        }
        self.folders = folders
        let conditionsPath = (InterventionLayout.root(in: bundle) as NSString).appendingPathComponent(InterventionLayout.conditionsFile)
        let conditions = try JSONValue.parse(FileManager.default.contents(atPath: conditionsPath) ?? Data(), source: conditionsPath)
        edits = names.indices.map { conditions["conditions"]?.arrayValue?[$0]["edits"] ?? .null }
        var texts: [[Int32: String]] = [], latents: [Bool] = []
        for name in names {
            let directory = InterventionLayout.directory(of: name, in: bundle)
            var merged = site.reader.tokenTexts
            try CSVReader.forEachRecord(path: (directory as NSString).appendingPathComponent(BundleLayout.tokensFile), header: "token,text") { record, fields in
                guard fields.count == 2, let id = Int32(fields[0]) else {
                    throw CSVReader.malformed((directory as NSString).appendingPathComponent(BundleLayout.tokensFile), record, "is not 'token,text'")
                }
                merged[id] = fields[1]
            }
            texts.append(merged)
            // With --intervention-latents none a condition's bundle has no hookpoints.
            latents.append(!(try RunManifest.read(bundle: directory).hookpoints.isEmpty))
        }
        tokenTexts = texts
        hasLatents = latents
    }

    /// Conditions named `<base>@<number>` that share a base (two or more): one sweep each,
    /// members by increasing value, sweeps in the order of their first condition.
    static func sweeps(_ names: [String]) -> [(base: String, members: [(condition: Int, value: Double)])] {
        var order: [String] = []
        typealias Member = (condition: Int, value: Double)
        var members: [String: [Member]] = [:]
        for (i, name) in names.enumerated() {
            guard let at = name.lastIndex(of: "@"), let value = Double(name[name.index(after: at)...]), value.isFinite else { continue }
            let base = String(name[..<at])
            if members[base] == nil { order.append(base) }
            members[base, default: []].append((condition: i, value: value))
        }
        var sweeps: [(base: String, members: [Member])] = []
        for base in order {
            let list: [Member] = members[base]!
            guard list.count >= 2 else { continue }
            let sorted = list.sorted { (a: Member, b: Member) -> Bool in a.value != b.value ? a.value < b.value : a.condition < b.condition }
            sweeps.append((base: base, members: sorted))
        }
        return sweeps
    }

    /// The edits as written on the command line (each edit's `text`, joined by "+"), or their JSON.
    func editsText(_ c: Int) -> String {
        guard let list = edits[c].arrayValue else { return edits[c] == .null ? "—" : edits[c].serialized() }
        let texts = list.compactMap { $0["text"]?.stringValue }
        return texts.count == list.count && !texts.isEmpty ? texts.joined(separator: "+") : edits[c].serialized()
    }

    /// The page ranges of `count` problems, `perPage` each (one empty page when there are none).
    static func pageRanges(count: Int, perPage: Int) -> [Range<Int>] {
        guard count > 0 else { return [0..<0] }
        return stride(from: 0, to: count, by: perPage).map { $0..<min(count, $0 + perPage) }
    }

    func pages(_ c: Int) -> [Range<Int>] { Self.pageRanges(count: comparison.conditions[c].pairs.count, perPage: Self.problemsPerPage) }

    /// Page `page` (from 1) of condition `c`: interventions/<C>/<page>.html.
    func conditionHref(_ c: Int, page: Int = 1, depth: Int) -> String {
        String(repeating: "../", count: depth) + "interventions/" + URLPath.segment(folders[c]) + "/\(page).html"
    }

    func reportHref(_ c: Int, depth: Int) -> String? {
        hasLatents[c] ? String(repeating: "../", count: depth) + "conditions/" + URLPath.segment(folders[c]) + "/index.html" : nil
    }

    // MARK: - interventions.html

    func indexPage() -> HTMLBuffer {
        var out = HTMLBuffer()
        site.open(&out, title: "Interventions · ThinkLens report", depth: 0)
        site.heading(&out, 1, "Interventions")
        site.paragraph(&out, "Every problem ran under the baseline and under each condition with the same random stream (run seed \(seed)), so a difference between the two is caused by the edit, not by sampling. Differences are paired over the problems both ran: intervals are 95% paired bootstrap intervals over problems (\(Format.count(PairedStatistics.bootstrapResamples)) resamples seeded from the run seed); p is the exact two-sided McNemar test on the problems whose correctness changed.")
        out.raw("<table class=\"list\" data-table=\"interventions\"><tr><th>condition</th><th>edits</th><th>problems</th><th>accuracy</th><th>Δ accuracy [95%]</th><th>McNemar p</th><th>answers changed</th><th>identical outputs</th><th>mean tokens</th><th>Δ tokens [95%]</th><th>&lt;/think&gt; written</th><th>Δ &lt;/think&gt; position</th><th>mean first divergence</th><th>repeated 4-grams</th><th>own report</th></tr>\n")
        for (c, condition) in comparison.conditions.enumerated() {
            let s = condition.summary
            out.raw("<tr data-condition=\""); out.attribute(condition.name); out.raw("\"><td>")
            site.link(&out, condition.name, conditionHref(c, depth: 0))
            out.raw("</td><td class=\"mono\">"); out.text(editsText(c))
            out.raw("</td><td>"); out.int(s.problems)
            if !condition.droppedProblems.isEmpty { out.text(" (\(condition.droppedProblems.count) dropped)") }
            out.raw("</td><td data-key=\"accuracy\">"); out.text("\(Self.share(s.baselineAccuracy)) → \(Self.share(s.accuracy))")
            out.raw("</td><td data-key=\"delta_accuracy\">"); out.text(Self.effect(s.deltaAccuracy, s.deltaAccuracyLo, s.deltaAccuracyHi, decimals: 3))
            out.raw("</td><td data-key=\"mcnemar_p\">"); out.text(s.mcnemarP.map { $0 < 0.001 ? "<0.001" : Format.fixed($0, 3) } ?? "—")
            out.raw("</td><td>"); out.int(s.answersChanged)
            out.raw("</td><td>"); out.int(s.identicalOutputs)
            out.raw("</td><td>"); out.text(s.meanTokens.map { Format.fixed($0, 1) } ?? "—")
            out.raw("</td><td data-key=\"delta_tokens\">"); out.text(Self.effect(s.deltaTokens, s.deltaTokensLo, s.deltaTokensHi, decimals: 1))
            out.raw("</td><td>"); out.text(Self.share(s.thinkFinished))
            out.raw("</td><td>"); out.text(s.deltaThinkEnd.map { Self.signed($0, 1) } ?? "—")
            out.raw("</td><td>"); out.text(s.meanFirstDivergence.map { Format.fixed($0, 1) } ?? "—")
            out.raw("</td><td>"); out.text(Self.share(s.repeated4grams))
            out.raw("</td><td>")
            site.link(&out, hasLatents[c] ? "report" : "— (no latents stored)", reportHref(c, depth: 0))
            out.raw("</td></tr>\n")
        }
        out.raw("</table>\n")
        for sweep in Self.sweeps(comparison.conditions.map(\.name)) {
            site.heading(&out, 2, "Dose–response: \(sweep.base)")
            func points(_ value: (InterventionComparison.Summary) -> (Double?, Double?, Double?), decimals: Int, unit: String) -> [DoseResponseChart.Point] {
                sweep.members.compactMap { member in
                    let s = comparison.conditions[member.condition].summary
                    let (estimate, lo, hi) = value(s)
                    guard let estimate else { return nil }
                    return DoseResponseChart.Point(x: member.value, estimate: estimate, lo: lo, hi: hi,
                                                   tooltip: "\(s.condition): \(unit) \(Self.effect(estimate, lo, hi, decimals: decimals))")
                }
            }
            DoseResponseChart(id: "interventions/\(sweep.base)/accuracy", title: "change in accuracy",
                              points: points({ ($0.deltaAccuracy, $0.deltaAccuracyLo, $0.deltaAccuracyHi) }, decimals: 3, unit: "Δ accuracy"),
                              xLabel: sweep.base, yLabel: "Δ accuracy").render(into: &out)
            DoseResponseChart(id: "interventions/\(sweep.base)/tokens", title: "change in generated tokens",
                              points: points({ ($0.deltaTokens, $0.deltaTokensLo, $0.deltaTokensHi) }, decimals: 1, unit: "Δ tokens"),
                              xLabel: sweep.base, yLabel: "Δ tokens").render(into: &out)
        }
        site.close(&out)
        return out
    }

    // MARK: - interventions/<C>/<page>.html

    func conditionPage(_ c: Int, page: Int) -> HTMLBuffer {
        let condition = comparison.conditions[c], s = condition.summary
        let pageRanges = pages(c)
        var out = HTMLBuffer(capacity: 1 << 20)
        site.open(&out, title: "\(condition.name) · Interventions · ThinkLens report", depth: 2)
        site.heading(&out, 1, "Condition \(condition.name)")
        out.raw("<p>"); site.link(&out, "All conditions", "../../interventions.html")
        if let href = reportHref(c, depth: 2) { out.raw(" · "); site.link(&out, "this condition's own report", href) }
        out.raw("</p>\n")
        site.keyValueTable(&out, [
            ("edits", editsText(c), "edits"),
            ("problems paired", String(s.problems), "problems"),
            ("problems dropped (in only one bundle)", condition.droppedProblems.isEmpty ? "none" : condition.droppedProblems.joined(separator: ", "), "dropped"),
            ("accuracy (baseline → condition)", "\(Self.share(s.baselineAccuracy)) → \(Self.share(s.accuracy))", "accuracy"),
            ("Δ accuracy [95% interval]", Self.effect(s.deltaAccuracy, s.deltaAccuracyLo, s.deltaAccuracyHi, decimals: 3), "delta_accuracy"),
            ("McNemar p", s.mcnemarP.map { Format.fixed($0, 4) } ?? "—", "mcnemar_p"),
            ("Δ generated tokens [95% interval]", Self.effect(s.deltaTokens, s.deltaTokensLo, s.deltaTokensHi, decimals: 1), "delta_tokens"),
            ("identical outputs", "\(s.identicalOutputs) of \(s.problems)", "identical_outputs"),
            ("repeated 4-grams", Self.share(s.repeated4grams), "repeated_4grams"),
        ])
        let range = pageRanges[page - 1]
        site.heading(&out, 2, pageRanges.count > 1 ? "Problems \(range.lowerBound + 1)–\(range.upperBound) of \(condition.pairs.count)" : "Problems")
        if pageRanges.count > 1 {
            out.raw("<p class=\"pages\">Pages:")
            for n in 1...pageRanges.count {
                out.raw(" ")
                site.link(&out, String(n), n == page ? nil : "\(n).html")
            }
            out.raw("</p>\n")
        }
        site.paragraph(&out, "Generated text of the baseline (left) and under the condition (right). The text both share is elided to its last \(Self.sharedContext) characters; the highlighted part is where they differ, from the first divergent token on (up to \(Format.count(Self.divergentText)) characters a side; the problem's pages have it all).", cls: "note")
        let texts = tokenTexts[c]
        func text(_ ids: ArraySlice<Int32>) -> String { ids.map { texts[$0] ?? "⟨token \($0)⟩" }.joined() }
        for pair in condition.pairs[range] {
            let b = pair.baseline, v = pair.intervened
            out.raw("<section class=\"pair\" data-problem=\""); out.attribute(b.id)
            out.raw("\" data-divergence=\""); out.text(pair.firstDivergence.map(String.init) ?? ""); out.raw("\"><h3>")
            site.link(&out, b.id, site.ordinalOf[b.id].map { site.problemHref($0, depth: 2) })
            if hasLatents[c] {
                out.raw(" <span class=\"note\">("); site.link(&out, "under \(condition.name)", reportHref(c, depth: 2).map { ($0 as NSString).deletingLastPathComponent + "/problems/" + URLPath.segment(URLPath.fileName(v.id)) + ".html" }); out.raw(")</span>")
            }
            out.raw("</h3>\n<p class=\"note\">")
            out.text("baseline: \(b.verdict.rawValue), answer \(b.answer ?? "—"), \(b.generatedIDs.count) tokens, \(b.stop.rawValue) · condition: \(v.verdict.rawValue), answer \(v.answer ?? "—"), \(v.generatedIDs.count) tokens, \(v.stop.rawValue) · ")
            out.text(pair.firstDivergence.map { "first divergence at generated token \($0)" } ?? "identical outputs")
            out.raw("</p>\n")
            guard let d = pair.firstDivergence else { out.raw("</section>\n"); continue }
            var shared = text(b.generatedIDs[..<d])
            if shared.count > Self.sharedContext { shared = "…" + String(shared.suffix(Self.sharedContext)) }
            out.raw("<table class=\"side\"><tr><th>baseline</th><th>")
            out.text(condition.name)
            out.raw("</th></tr><tr>")
            for ids in [b.generatedIDs, v.generatedIDs] {
                let (divergent, rest) = Self.clipped(text(ids[min(d, ids.count)...]), to: Self.divergentText)
                out.raw("<td><pre class=\"text\">"); out.text(shared)
                out.raw("<mark>"); out.text(divergent); out.raw("</mark>")
                if rest > 0 { out.raw("<span class=\"note\">"); out.text(" … \(Format.count(rest)) more characters"); out.raw("</span>") }
                out.raw("</pre></td>")
            }
            out.raw("</tr></table></section>\n")
        }
        site.close(&out)
        return out
    }

    /// The first `limit` characters of `text`, and how many were left out.
    static func clipped(_ text: String, to limit: Int) -> (shown: String, rest: Int) {
        let count = text.count
        return count > limit ? (String(text.prefix(limit)), count - limit) : (text, 0)
    }

    // MARK: - Numbers

    static func share(_ v: Double?) -> String { v.map { Format.fixed($0 * 100, 1) + "%" } ?? "—" }

    static func signed(_ v: Double, _ decimals: Int) -> String { (v > 0 ? "+" : "") + Format.fixed(v, decimals) }

    /// "+0.125 [-0.050, +0.300]"; "—" when undefined.
    static func effect(_ estimate: Double?, _ lo: Double?, _ hi: Double?, decimals: Int) -> String {
        guard let estimate else { return "—" }
        var text = signed(estimate, decimals)
        if let lo, let hi { text += " [\(signed(lo, decimals)), \(signed(hi, decimals))]" }
        return text
    }
}
