import ResultBundle
import Experiment
import Foundation
import Testing
import TestSupport
@testable import Report

/// A synthetic intervention run: the baseline, a condition with identical outputs (`same`),
/// and a sweep `dose@1`, `dose@4` whose outputs are the baseline's cut after 10 and 20
/// generated tokens (so they first diverge there); `dose@4` lacks the last problem.
enum InterventionRun {
    static let spec = SyntheticBundleSpec(problems: 6, meanGeneratedTokens: 40, hookpoints: ["layers.5.mlp"], seed: 3)
    static let conditions = ["same", "dose@1", "dose@4"]
    static let kept = ["dose@1": 10, "dose@4": 20]

    /// The task with only its first `m` generated tokens (and the latents of those positions).
    static func truncated(_ task: CommittedTask, keep m: Int) -> CommittedTask {
        var r = task.record
        let end = r.promptIDs.count + m
        r.generatedIDs = Array(r.generatedIDs.prefix(m))
        if let thinkEnd = r.thinkEnd, thinkEnd >= end { r.thinkEnd = nil }
        r.text = r.generatedIDs.map { SyntheticBundle.Decoder().tokenText($0) }.joined()
        r.stop = .length
        var latents: [String: LatentRows] = [:]
        for (name, rows) in task.latents {
            let n = rows.positions.prefix { Int($0) < end }.count
            latents[name] = LatentRows(k: rows.k, positions: Array(rows.positions.prefix(n)), tokens: Array(rows.tokens.prefix(n)),
                                       indices: Array(rows.indices.prefix(n * rows.k)), activations: Array(rows.activations.prefix(n * rows.k)), record: r)
        }
        return CommittedTask(record: r, latents: latents, fvu: task.fvu)
    }

    /// Writes the run into `out`.
    static func write(out: String) throws {
        try SyntheticBundle.write(spec, to: out)
        try SyntheticBundle.write(spec, to: InterventionLayout.directory(of: "same", in: out))
        for (name, m) in kept.sorted(by: { $0.key < $1.key }) {
            let directory = InterventionLayout.directory(of: name, in: out)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let store = try RunStore(outDirectory: directory)
            let problems = name == "dose@4" ? spec.problems - 1 : spec.problems
            for index in 0..<problems { _ = try store.commit(truncated(SyntheticBundle.task(spec, index: index), keep: m)) }
            try store.writeBundle(manifest: SyntheticBundle.manifest(spec), run: .object([:]), decoder: SyntheticBundle.Decoder())
        }
        let list = conditions.map { "{\"name\":\"\($0)\",\"edits\":[{\"text\":\"layers.5.mlp:3:ablate\",\"hookpoint\":\"layers.5.mlp\",\"feature\":3},{\"text\":\"layers.5.mlp:7:scale=2@generated\"}]}" }.joined(separator: ",")
        try Data("{\"conditions\":[\(list)]}\n".utf8).write(to: URL(fileURLWithPath: (InterventionLayout.root(in: out) as NSString).appendingPathComponent(InterventionLayout.conditionsFile)))
    }

    static let directories: (bundle: String, report: String) = {
        let root = makeTemporaryDirectory("report-interventions")
        removeAtExit(root)
        let bundle = root + "/run", report = root + "/report"
        try! FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        try! write(out: bundle)
        try! ReportGenerator.generate(bundle: bundle, out: report)
        return (bundle, report)
    }()
}

@Suite struct InterventionReportTests {
    let bundle = InterventionRun.directories.bundle
    let report = InterventionRun.directories.report

    /// Text as a page shows it: controls that XML cannot carry replaced by their stand-ins.
    static func asShown(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if !["\n", "\t", "\r"].contains(scalar), TokenText.needsStandIn(scalar) {
                out.append(contentsOf: TokenText.xmlSafe(scalar).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    func page(_ relative: String) throws -> Element { try XHTML.parse((report as NSString).appendingPathComponent(relative)) }

    @Test func interventionsPageListsEachConditionWithItsPairedEffect() throws {
        let comparison = try InterventionComparison(bundle: bundle, conditions: InterventionRun.conditions, seed: 0)
        let rows = try page("interventions.html").all("tr").filter { $0.attributes["data-condition"] != nil }
        #expect(rows.map { $0.attributes["data-condition"]! } == InterventionRun.conditions)
        for (row, condition) in zip(rows, comparison.conditions) {
            let s = condition.summary
            let cell = try #require(row.all("td").first { $0.attributes["data-key"] == "delta_tokens" })
            #expect(cell.allText == InterventionPages.effect(s.deltaTokens, s.deltaTokensLo, s.deltaTokensHi, decimals: 1))
        }
        #expect(rows[2].allText.contains("5 (1 dropped)"))
        #expect(rows.allSatisfy { $0.all("td")[1].allText == "layers.5.mlp:3:ablate+layers.5.mlp:7:scale=2@generated" })
        #expect(rows[0].all("td").first { $0.attributes["data-key"] == "delta_accuracy" }?.allText.hasPrefix("0.000 [0.000, 0.000]") == true)
    }

    @Test func aSweepGetsADoseResponseChartWithOnePointPerStrength() throws {
        let index = try page("interventions.html")
        let accuracy = try #require(index.chart("interventions/dose/accuracy"))
        let tokens = try #require(index.chart("interventions/dose/tokens"))
        #expect(accuracy.attributes["data-marks"] == "2" && tokens.attributes["data-marks"] == "2")
        // dose@1 keeps 10 generated tokens, dose@4 keeps 20: dose@1 loses more, so its point
        // lies lower (a larger SVG y), and left of dose@4's.
        let points = tokens.marks("pt")
        #expect(points.count == 2 && points[0][0] < points[1][0])
        #expect(points[0][1] > points[1][1])
        // Each point has its interval drawn as a whisker through it.
        let whiskers = tokens.marks("bar")
        #expect(whiskers.count == 2)
        for (point, whisker) in zip(points, whiskers) {
            #expect(whisker[0] == point[0] && whisker[1] >= point[1] && whisker[2] <= point[1])
        }
        #expect(index.chart("interventions/same/accuracy") == nil)
    }

    @Test func sweepsAreConditionsNamedBaseAtANumberSharingTheirBase() {
        let sweeps = InterventionPages.sweeps(["a@0", "a@2", "b", "a@1", "c@x", "d@1", "e@-1.5", "e@3"])
        #expect(sweeps.map(\.base) == ["a", "e"])
        #expect(sweeps[0].members.map(\.condition) == [0, 3, 1] && sweeps[0].members.map(\.value) == [0, 1, 2])
        #expect(sweeps[1].members.map(\.value) == [-1.5, 3])
    }

    @Test func conditionPageMarksTheFirstDivergence() throws {
        let sections = try page("interventions/dose-1/1.html").all("section")
        #expect(sections.count == InterventionRun.spec.problems)
        let decoder = SyntheticBundle.Decoder()
        for (index, section) in sections.enumerated() {
            #expect(section.attributes["data-problem"] == "gsm8k:train:\(index)")
            #expect(section.attributes["data-divergence"] == "10")
            let baseline = SyntheticBundle.task(InterventionRun.spec, index: index).record.generatedIDs
            let marks = section.all("mark").map(\.allText)
            #expect(marks.count == 2)
            #expect(marks.first == Self.asShown(baseline.dropFirst(10).map { decoder.tokenText($0) }.joined()))
            #expect(marks.last == "")
        }
    }

    @Test func conditionPagesHoldTwoHundredProblemsEach() {
        #expect(InterventionPages.problemsPerPage == 200)
        #expect(InterventionPages.pageRanges(count: 450, perPage: 200) == [0..<200, 200..<400, 400..<450])
        #expect(InterventionPages.pageRanges(count: 200, perPage: 200) == [0..<200])
        #expect(InterventionPages.pageRanges(count: 0, perPage: 200) == [0..<0])
    }

    @Test func eachProblemLinksItsPagesInBothReports() throws {
        let section = try #require(try page("interventions/dose-1/1.html").all("section").first)
        let links = section.all("a").map { $0.attributes["href"] }
        #expect(links == ["../../problems/gsm8k-train-0.html", "../../conditions/dose-1/problems/gsm8k-train-0.html"])
    }

    @Test func divergentTextIsClippedToTwoThousandCharactersASide() {
        #expect(InterventionPages.divergentText == 2_000)
        let long = String(repeating: "Wait, ", count: 500)   // 3,000 characters
        let clipped = InterventionPages.clipped(long, to: 2_000)
        #expect(clipped.shown == String(long.prefix(2_000)) && clipped.rest == 1_000)
        let short = InterventionPages.clipped("so 7", to: 2_000)
        #expect(short.shown == "so 7" && short.rest == 0)
    }

    @Test func identicalOutputsAreShownWithoutMarks() throws {
        let sections = try page("interventions/same/1.html").all("section")
        #expect(sections.count == InterventionRun.spec.problems)
        #expect(sections.allSatisfy { $0.attributes["data-divergence"] == "" && $0.all("mark").isEmpty })
    }

    @Test func eachConditionHasItsOwnReportAndEveryPageLinksTheInterventions() throws {
        let files = Set(Files.all(report))
        for folder in ["same", "dose-1", "dose-4"] {
            #expect(files.contains("conditions/\(folder)/index.html"), "\(folder) has no report")
        }
        let nav = try page("index.html").all("nav").first!.all("a").map { $0.attributes["href"] }
        #expect(nav.contains("interventions.html"))
        let conditionNav = try page("conditions/same/index.html").all("nav").first!.all("a").map { $0.attributes["href"] }
        #expect(!conditionNav.contains("interventions.html"))
    }

    @Test func everyInterventionLinkResolves() throws {
        let files = Set(Files.all(report))
        var checked = 0
        for file in files where file.hasPrefix("interventions") && file.hasSuffix(".html") {
            let page = try XHTML.parse((report as NSString).appendingPathComponent(file))
            let base = (file as NSString).deletingLastPathComponent
            for a in page.all("a") {
                let href = try #require(a.attributes["href"])
                var parts = base.split(separator: "/").map(String.init)
                for part in (href.removingPercentEncoding ?? href).split(separator: "/") {
                    if part == ".." { _ = parts.popLast() } else { parts.append(String(part)) }
                }
                #expect(files.contains(parts.joined(separator: "/")), "\(file) links to \(href), which does not exist")
                checked += 1
            }
        }
        #expect(checked > 40)
    }

    @Test func writingTheReportAgainGivesTheSameFiles() throws {
        let scratch = TemporaryDirectory("report-interventions-again")
        let again = scratch.file("report")
        try ReportGenerator.generate(bundle: bundle, out: again)
        try ReportGenerator.generate(bundle: bundle, out: again)
        let files = Files.all(report)
        #expect(Files.all(again) == files)
        for file in files {
            let a = FileManager.default.contents(atPath: (report as NSString).appendingPathComponent(file))
            let b = FileManager.default.contents(atPath: (again as NSString).appendingPathComponent(file))
            #expect(a == b, "\(file) differs")
        }
    }

    @Test func aPlainBundleHasNoInterventionsPage() throws {
        let files = Set(Files.all(SharedReport.directories.report))
        #expect(!files.contains("interventions.html"))
        #expect(!files.contains { $0.hasPrefix("conditions/") })
    }
}

@Suite struct InterventionSummaryViewTests {
    @Test func theSummaryIsComputedWhenSummaryCSVIsAbsentAndReadBackWhenPresent() throws {
        let scratch = TemporaryDirectory("interventions-view")
        let out = scratch.subdirectory("run")
        try InterventionRun.write(out: out)
        let computed = try TerminalViews.interventionSummary(bundle: out).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(computed[0].hasPrefix("3 conditions, each paired with the baseline") && computed[0].hasSuffix("(computed from the bundles; interventions/summary.csv is absent)"))
        let table = Array(computed[1...4])
        #expect(table[0].hasPrefix("condition  problems  accuracy"))
        #expect(Set(table.map(\.count)).count == 1, "rows are not aligned")
        #expect(table[1].hasPrefix("same   ") && table[2].hasPrefix("dose@1 ") && table[3].hasPrefix("dose@4 "))
        #expect(computed[5] == "dose@4: 1 problem dropped (present in only one of the baseline and the condition)")

        try InterventionComparison.write(bundle: out, conditions: InterventionRun.conditions, seed: 0)
        let read = try TerminalViews.interventionSummary(bundle: out).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(read[0].hasSuffix("(interventions/summary.csv)"))
        #expect(Array(read[1...4]) == table)
    }

    @Test func identicalOutputsShowNoChange() throws {
        let scratch = TemporaryDirectory("interventions-view")
        let out = scratch.subdirectory("run")
        try InterventionRun.write(out: out)
        let same = try #require(try TerminalViews.interventionSummary(bundle: out).split(separator: "\n").first { $0.hasPrefix("same ") })
        let cells = same.split(separator: " ")
        // condition, problems, accuracy, baseline, Δaccuracy, [lo, hi], p, answers changed, identical
        #expect(cells[1] == "6" && cells[2] == cells[3] && cells[4] == "0.000")
        #expect(cells[5] == "[0.000," && cells[6] == "0.000]" && cells[7] == "1.000" && cells[8] == "0" && cells[9] == "6")
    }

    @Test func aBundleWithoutInterventionsIsRefusedWithItsPath() throws {
        do {
            _ = try TerminalViews.interventionSummary(bundle: SharedReport.directories.bundle)
            Issue.record("a plain bundle was accepted")
        } catch let error as RunDataError {
            #expect(error.subject.hasSuffix("interventions/conditions.json") && error.reason.contains("--intervene"))
        }
    }
}
