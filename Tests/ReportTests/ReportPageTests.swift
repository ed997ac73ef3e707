import ResultBundle
import Foundation
import Testing
import TestSupport
@testable import Report

@Suite struct ReportPageTests {
    let spec = SharedReport.spec

    @Test func everyProblemHasAPageAndEveryLinkResolves() throws {
        let (_, report) = SharedReport.directories
        let files = Set(Files.all(report))
        for index in 0..<spec.problems {
            #expect(files.contains("problems/gsm8k-train-\(index).html"), "problem \(index) has no page")
        }
        for h in spec.hookpoints { #expect(files.contains("hookpoints/\(h).html")) }
        #expect(files.contains("index.html") && files.contains("problems.html") && files.contains("style.css"))
        var checked = 0
        for file in files where file.hasSuffix(".html") {
            let page = try XHTML.parse((report as NSString).appendingPathComponent(file))
            let base = (file as NSString).deletingLastPathComponent
            for a in page.all("a") {
                let href = try #require(a.attributes["href"])
                #expect(!href.hasPrefix("http"), "\(file) links outside the report: \(href)")
                var parts = base.split(separator: "/").map(String.init)
                // A fragment (#how-to-read) names a place in the file; the file must exist.
                let file = href.split(separator: "#", omittingEmptySubsequences: false)[0]
                for part in (file.removingPercentEncoding ?? String(file)).split(separator: "/") {
                    if part == ".." { _ = parts.popLast() } else { parts.append(String(part)) }
                }
                let exists = files.contains(parts.joined(separator: "/"))
                #expect(exists, "\(file) links to \(href), which does not exist")
                checked += 1
            }
        }
        #expect(checked > 1000)
    }

    @Test func everyPageIsWellFormedXHTMLWithoutScript() throws {
        let (_, report) = SharedReport.directories
        let pages = Files.all(report).filter { $0.hasSuffix(".html") }
        #expect(pages.count > spec.problems + spec.hookpoints.count + 2)
        for page in pages {
            let root = try XHTML.parse((report as NSString).appendingPathComponent(page))
            #expect(root.name == "html")
            #expect(root.attributes["xmlns"] == "http://www.w3.org/1999/xhtml")
            #expect(root.all("script").isEmpty, "\(page) has a script")
            for svg in root.all("svg") {
                #expect(svg.attributes["xmlns"] == "http://www.w3.org/2000/svg")
                // Every chart has axes or cells, and as many marks as it says.
                let axes = svg.all("path").filter { $0.attributes["class"] == "axis" }
                #expect(!axes.isEmpty || !svg.marks("cell").isEmpty, "\(page): chart \(svg.attributes["data-chart"] ?? "?") has no axes")
                let marks = svg.marks("bar").count + svg.marks("pt").count + svg.marks("cell").count
                #expect(svg.attributes["data-marks"] == String(marks), "\(page): chart \(svg.attributes["data-chart"] ?? "?") says \(svg.attributes["data-marks"] ?? "?") marks, draws \(marks)")
            }
        }
    }

    @Test func problemChartsHaveOneMarkPerPairFeatureBinTokenAndPosition() throws {
        let (_, report) = SharedReport.directories
        for index in [0, 5, 17] {
            let task = SyntheticBundle.task(spec, index: index)
            let page = try XHTML.parse(report + "/problems/gsm8k-train-\(index).html")
            for h in spec.hookpoints {
                let rows = task.latents[h]!
                var entries: [(f: Int32, a: Float, token: Int32)] = []
                for r in 0..<rows.rowCount {
                    for j in 0..<rows.k where rows.activations[r * rows.k + j] > 0 {
                        entries.append((rows.indices[r * rows.k + j], rows.activations[r * rows.k + j], rows.tokens[r]))
                    }
                }
                var maxByFeature: [Int32: Float] = [:]
                for e in entries { maxByFeature[e.f] = max(maxByFeature[e.f] ?? 0, e.a) }
                let pairs = try #require(page.chart("\(h)/pairs"))
                #expect(pairs.marks("bar").count == min(400, entries.count))
                #expect(pairs.attributes["data-marks"] == String(min(400, entries.count)))
                // Bars by rank: left to right, each no taller than the one before (a smaller y is taller).
                let byX = pairs.marks("bar").sorted { $0[0] < $1[0] }
                #expect(zip(byX, byX.dropFirst()).allSatisfy { $0[2] <= $1[2] }, "problem \(index) \(h): pair bars are not in activation order")
                // One path per feature: the leftmost bar's path names the top entry's feature, and no feature has two paths.
                let best = entries.max { $0.a != $1.a ? $0.a < $1.a : $0.f > $1.f }!
                let paths = pairs.markPaths("bar")
                let leftmost = paths.first { Element.subpaths($0).contains { $0[0] == byX[0][0] } }
                #expect(leftmost?.all("title").first?.text.hasPrefix("feature \(best.f) · act \(Format.act(Double(best.a)))") == true)
                let named = pairs.tooltips("bar").map { $0.split(separator: " ")[1] }
                #expect(Set(named).count == named.count)
                #expect(try #require(page.chart("\(h)/frequent")).marks("bar").count == min(70, maxByFeature.count))
                #expect(try #require(page.chart("\(h)/histogram")).marks("bar").count == 50)
                let histogramTotal = try #require(page.chart("\(h)/histogram")).tooltips("bar").map { Int($0.split(separator: " ").last!)! }.reduce(0, +)
                #expect(histogramTotal == entries.count)
                // The 10 relevant features: highest maximum activation, ties to the lower id.
                let relevant = maxByFeature.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(10).map(\.key)
                for f in relevant {
                    let mine = entries.filter { $0.f == f }
                    let tokens = try #require(page.chart("\(h)/relevant/\(f)/tokens"), "problem \(index) \(h) lacks relevant feature \(f)")
                    #expect(tokens.marks("bar").count == min(70, Set(mine.map(\.token)).count))
                    let scatter = try #require(page.chart("\(h)/relevant/\(f)/scatter"))
                    #expect(scatter.marks("pt").count == mine.count)
                    #expect(scatter.tooltips("pt").count == Set(mine.map(\.token)).count)  // one per token
                }
                let shown = page.all("svg").compactMap { $0.attributes["data-chart"] }.filter { $0.hasPrefix("\(h)/relevant/") && $0.hasSuffix("/tokens") }
                #expect(shown.count == relevant.count)
            }
        }
    }

    @Test func bundleWideChartsMatchTheTables() throws {
        let (bundle, report) = SharedReport.directories
        for h in spec.hookpoints {
            let tables = try HookpointTables.read(bundle: bundle, hookpoint: h)
            let page = try XHTML.parse(report + "/hookpoints/\(h).html")
            let frequent = try #require(page.chart("\(h)/frequent")).tooltips("bar")
            #expect(frequent == tables.rows.prefix(70).map { "feature \($0.feature): \($0.tokens) tokens" })
            let histogram = try #require(page.chart("\(h)/histogram")).tooltips("bar").map { Int($0.split(separator: " ").last!)! }
            #expect(histogram == tables.histogram.map(\.count))
            #expect(try #require(page.chart("\(h)/pairs")).marks("bar").count == 400)
            let topPair = try #require(page.chart("\(h)/pairs")).tooltips("bar").first ?? ""
            let best = tables.rows.max { $0.maxAct < $1.maxAct }!
            #expect(topPair.hasPrefix("feature \(best.feature) · act \(Format.act(best.maxAct))"), "\(topPair)")
            let relevant = tables.rows.sorted { $0.maxAct != $1.maxAct ? $0.maxAct > $1.maxAct : $0.feature < $1.feature }.prefix(10)
            let tokens = try HookpointTables.featureTokens(bundle: bundle, hookpoint: h, wanted: nil)
            for r in relevant {
                let chart = try #require(page.chart("\(h)/relevant/\(r.feature)/tokens"))
                #expect(chart.marks("bar").count == tokens[r.feature]!.count)
            }
            // Cross-problem ranking: the table's counts are features.csv's.
            let ranking = try #require(page.all("table").first { $0.attributes["data-table"] == "ranking" })
            let tableRows = ranking.all("tr").filter { $0.attributes["data-feature"] != nil }
            #expect(tableRows.count == min(50, tables.rows.filter { $0.topActInferences > 0 }.count))
            var previous = Int.max
            for tr in tableRows {
                let f = Int(tr.attributes["data-feature"]!)!
                let cell = tr.all("td").first { $0.attributes["data-key"] == "top_act_inferences" }!
                #expect(cell.text == "\(tables.row(f)!.topActInferences) of \(spec.problems)")
                #expect(tables.row(f)!.topActInferences <= previous)
                previous = tables.row(f)!.topActInferences
            }
            let heat = try #require(page.chart("\(h)/heatmap"))
            #expect(heat.marks("cell").count == spec.problems * min(30, tableRows.count))
        }
    }

    @Test func perProblemRelevantFeaturesAddUpToTopActInferences() throws {
        let (bundle, report) = SharedReport.directories
        let h = spec.hookpoints[1]
        var shown: [Int: Int] = [:]
        for index in 0..<spec.problems {
            let page = try XHTML.parse(report + "/problems/gsm8k-train-\(index).html")
            for svg in page.all("svg") {
                let id = svg.attributes["data-chart"] ?? ""
                let parts = id.split(separator: "/")
                if parts.count == 4, parts[0] == Substring(h), parts[3] == "tokens" { shown[Int(parts[2])!, default: 0] += 1 }
            }
        }
        let tables = try HookpointTables.read(bundle: bundle, hookpoint: h)
        for row in tables.rows { #expect(shown[row.feature, default: 0] == row.topActInferences, "feature \(row.feature)") }
    }

    @Test func featurePageNumbersMatchFeaturesCSV() throws {
        let (bundle, report) = SharedReport.directories
        let h = spec.hookpoints[0]
        let tables = try HookpointTables.read(bundle: bundle, hookpoint: h)
        let pages = Files.all(report + "/features/\(h)")
        #expect(!pages.isEmpty)
        let examples = try HookpointTables.examples(bundle: bundle, hookpoint: h, wanted: nil)
        let tokens = try HookpointTables.featureTokens(bundle: bundle, hookpoint: h, wanted: nil)
        for file in pages {
            let f = Int(file.dropLast(5))!
            let row = try #require(tables.row(f))
            let page = try XHTML.parse(report + "/features/\(h)/\(file)")
            func cell(_ key: String) -> String { page.all("td").first { $0.attributes["data-key"] == key }?.text ?? "missing" }
            #expect(cell("tokens") == String(row.tokens))
            #expect(cell("tokens_reasoning") == String(row.tokensReasoning))
            #expect(cell("tokens_answer") == String(row.tokensAnswer))
            #expect(cell("inferences") == "\(row.inferences) of \(spec.problems)")
            #expect(cell("top_act_inferences") == "\(row.topActInferences) of \(spec.problems)")
            #expect(abs(Double(cell("max_act"))! - row.maxAct) <= 0.0005)
            #expect(abs(Double(cell("mean_act"))! - row.meanAct) <= 0.0005)
            #expect(try #require(page.chart("feature/tokens")).marks("bar").count == tokens[f]!.count)
            let histogram = try #require(page.chart("feature/histogram")).tooltips("bar").map { Int($0.split(separator: " ").last!)! }
            #expect(histogram.count == 20 && histogram.reduce(0, +) == row.tokens)
            let think = try #require(page.chart("feature/think")).tooltips("bar").map { Int($0.split(separator: " ").last!)! }
            let end = try #require(page.chart("feature/end")).tooltips("bar").map { Int($0.split(separator: " ").last!)! }
            #expect(end.reduce(0, +) == row.tokens)  // generated tokens only in this bundle
            #expect(think.count == 21 && think.reduce(0, +) <= row.tokens)
            let contexts = page.all("p").filter { $0.attributes["class"] == "ctx" }
            #expect(contexts.count == (examples[f]?.count ?? 0))
        }
    }

    @Test func reasoningPageRanksByReasonScoreAndPlotsEveryTestedFeature() throws {
        let (bundle, report) = SharedReport.directories
        let h = spec.hookpoints[1]
        let tables = try HookpointTables.read(bundle: bundle, hookpoint: h)
        let page = try XHTML.parse(report + "/reasoning/\(h).html")
        let table = try #require(page.all("table").first { $0.attributes["data-table"] == "reasoning" })
        let listed = table.all("tr").compactMap { $0.attributes["data-feature"].flatMap(Int.init) }
        let scores = tables.rows.filter { $0.statistics?.reasonScore != nil }.sorted { $0.statistics!.reasonScore! != $1.statistics!.reasonScore! ? $0.statistics!.reasonScore! > $1.statistics!.reasonScore! : $0.feature < $1.feature }
        #expect(listed == scores.prefix(50).map(\.feature))
        // Token detectors (η² ≥ 0.9) are marked, and only they.
        for row in table.all("tr") {
            guard let f = row.attributes["data-feature"].flatMap(Int.init) else { continue }
            let marked = row.all("span").contains { $0.text == "token detector" }
            #expect(marked == ((tables.row(f)!.statistics!.tokenEta2 ?? 0) >= 0.9), "feature \(f)")
        }
        let tested = tables.rows.filter { $0.statistics?.segmentQ != nil }.count
        #expect(tested > 0)
        #expect(try #require(page.chart("\(h)/volcano")).marks("pt").count == tested)
        #expect(page.all("h2").contains { $0.text == "How to read these numbers" })
    }

    @Test func featurePagesShowCooccurringFeaturesQuantileExamplesAndTheInterval() throws {
        let (bundle, report) = SharedReport.directories
        let h = spec.hookpoints[0]
        let tables = try HookpointTables.read(bundle: bundle, hookpoint: h)
        let f = tables.rows[0].feature   // the most frequent feature: it has co-occurrence and quantile lines
        let page = try XHTML.parse(report + "/features/\(h)/\(f).html")
        let partners = try HookpointTables.cooccurrence(bundle: bundle, hookpoint: h, wanted: [f])[f] ?? []
        #expect(!partners.isEmpty)
        let table = try #require(page.all("table").first { $0.attributes["data-table"] == "cooccurrence" })
        #expect(table.all("tr").compactMap { $0.attributes["data-feature"].flatMap(Int.init) } == partners.map(\.partner))
        let quantiles = try HookpointTables.examples(bundle: bundle, hookpoint: h, wanted: [f], quantiles: true)[f] ?? []
        #expect(quantiles.count == 20)
        #expect(page.all("p").filter { $0.attributes["class"] == "ctx quantile" }.count == 20)
        let s = tables.rows[0].statistics!
        let interval = "\(Int((s.topActLow! * Double(spec.problems)).rounded()))–\(Int((s.topActHigh! * Double(spec.problems)).rounded()))"
        #expect(page.all("p").contains { $0.text.contains("(95% bootstrap interval \(interval))") })
    }

    @Test func reportBytesAreDeterministic() throws {
        let scratch = TemporaryDirectory("report")
        let bundle = scratch.subdirectory("bundle")
        try SyntheticBundle.write(SyntheticBundleSpec(problems: 12), to: bundle)
        let a = scratch.file("a"), b = scratch.file("b")
        try ReportGenerator.generate(bundle: bundle, out: a)
        try ReportGenerator.generate(bundle: bundle, out: b)
        try ReportGenerator.generate(bundle: bundle, out: b)  // rewriting replaces the earlier report
        #expect(Files.all(a) == Files.all(b))
        for file in Files.all(a) {
            #expect(FileManager.default.contents(atPath: a + "/" + file) == FileManager.default.contents(atPath: b + "/" + file), "\(file) differs")
        }
    }

    @Test func rewritingOverALargerReportLeavesOnlyTheNewReport() throws {
        let scratch = TemporaryDirectory("report")
        let large = scratch.subdirectory("large"), small = scratch.subdirectory("small")
        try SyntheticBundle.write(SyntheticBundleSpec(problems: 12), to: large)
        try SyntheticBundle.write(SyntheticBundleSpec(problems: 3), to: small)
        let rewritten = scratch.file("rewritten"), fresh = scratch.file("fresh")
        try ReportGenerator.generate(bundle: large, out: rewritten)
        try ReportGenerator.generate(bundle: small, out: rewritten)
        try ReportGenerator.generate(bundle: small, out: fresh)
        #expect(Files.all(rewritten) == Files.all(fresh))
        #expect(!FileManager.default.fileExists(atPath: rewritten + "/problems/gsm8k-train-5.html"))
        for file in Files.all(fresh) {
            #expect(FileManager.default.contents(atPath: rewritten + "/" + file) == FileManager.default.contents(atPath: fresh + "/" + file), "\(file) differs")
        }
    }

    @Test func reportBytesDoNotDependOnTheThreadCount() throws {
        let scratch = TemporaryDirectory("report")
        let bundle = scratch.subdirectory("bundle")
        try SyntheticBundle.write(SyntheticBundleSpec(problems: 12), to: bundle)
        let one = scratch.file("one"), three = scratch.file("three")
        try ReportGenerator.generate(bundle: bundle, out: one, threads: 1)
        try ReportGenerator.generate(bundle: bundle, out: three, threads: 3)
        #expect(Files.all(one) == Files.all(three))
        for file in Files.all(one) {
            #expect(FileManager.default.contents(atPath: one + "/" + file) == FileManager.default.contents(atPath: three + "/" + file), "\(file) differs")
        }
    }

    @Test func tokenTextsAreEscapedAndMadeVisibleInPages() throws {
        let (_, report) = SharedReport.directories
        var labels = Set<String>()
        var raw = ""
        for file in Files.all(report + "/problems") {
            let page = try XHTML.parse(report + "/problems/" + file)
            for g in page.all("g") where g.attributes["class"] == "xl" { labels.formUnion(g.all("text").map(\.text)) }
            raw += String(decoding: FileManager.default.contents(atPath: report + "/problems/" + file)!, as: UTF8.self)
        }
        #expect(labels.contains("␣:220"))
        #expect(labels.contains("↵:198"))
        #expect(labels.contains("⇥:197"))
        #expect(labels.contains { $0.hasPrefix("<b>&amp;:") })  // parsed back from &lt;b&gt;&amp;amp;
        #expect(labels.contains { $0.hasPrefix("␁x␡:") })
        #expect(!raw.contains("\u{01}") && !raw.contains("\u{7F}"))
    }

    @Test func tooSmallSamplesAreSaidPlainly() throws {
        let scratch = TemporaryDirectory("report")
        let small = SyntheticBundleSpec(problems: 8)
        let (_, report) = try bundleAndReport(small, in: scratch)
        let page = try XHTML.parse(report + "/hookpoints/\(small.hookpoints[0]).html")
        let warnings = page.all("p").filter { $0.attributes["class"] == "warn" }.map(\.allText)
        #expect(warnings.contains { $0.hasPrefix("The sample is too small to compare correct and wrong answers") })
        #expect(page.all("table").allSatisfy { !($0.attributes["data-table"] ?? "").hasPrefix("log-odds") })
    }

    @Test func aForeignDirectoryIsNotOverwritten() throws {
        let scratch = TemporaryDirectory("report")
        let bundle = scratch.subdirectory("bundle")
        try SyntheticBundle.write(SyntheticBundleSpec(problems: 3), to: bundle)
        let foreign = scratch.subdirectory("foreign")
        FileManager.default.createFile(atPath: foreign + "/notes.txt", contents: Data("mine".utf8))
        #expect(throws: RunDataError.self) { try ReportGenerator.generate(bundle: bundle, out: foreign) }
        #expect(FileManager.default.contents(atPath: foreign + "/notes.txt") == Data("mine".utf8))
    }

    @Test func overviewCountsMatchTheManifest() throws {
        let (bundle, report) = SharedReport.directories
        let counts = try TerminalViews.problemCount(bundle: bundle)
        let page = try XHTML.parse(report + "/index.html")
        func cell(_ key: String) -> String { page.all("td").first { $0.attributes["data-key"] == key }?.text ?? "missing" }
        #expect(cell("problems") == String(counts.total))
        #expect(cell("correct").hasPrefix("\(counts.correct) ("))
        #expect(cell("wrong").hasPrefix("\(counts.wrong) ("))
        let verdicts = try #require(page.chart("overview/verdicts")).tooltips("bar")
        #expect(verdicts[0] == "correct: \(counts.correct)" && verdicts[1] == "wrong: \(counts.wrong)")
        let lengths = try #require(page.chart("overview/lengths")).tooltips("bar").map { Int($0.split(separator: " ").dropLast().last!)! }
        #expect(lengths.reduce(0, +) == spec.problems)
    }
}
