import ResultBundle
import Foundation
import Testing
@testable import Report

@Suite struct TerminalViewTests {
    @Test func featureTableIsAlignedAndSortedByTheChosenColumn() throws {
        let bundle = SharedReport.directories.bundle
        let tables = try HookpointTables.read(bundle: bundle, hookpoint: "layers.10.mlp")
        for sort in FeatureSort.allCases {
            let text = TerminalViews.featureTable(tables, problems: 32, sort: sort, top: 15)
            let lines = text.split(separator: "\n").dropFirst()
            #expect(lines.count == 16)
            #expect(Set(lines.map(\.count)).count == 1, "\(sort): rows are not aligned")
            let features = lines.dropFirst().map { Int($0.split(separator: " ")[1])! }
            let expected = tables.rows.sorted(by: sort.precedes).prefix(15).map(\.feature)
            #expect(features == expected, "\(sort)")
        }
    }

    @Test func statisticsSortsPutScoresHighFirstAndQValuesLowFirstWithUntestedLast() throws {
        let tables = try HookpointTables.read(bundle: SharedReport.directories.bundle, hookpoint: "layers.10.mlp")
        let all = tables.rows.count
        let byScore = tables.rows.sorted(by: FeatureSort.reasonScore.precedes).map { $0.statistics!.reasonScore! }
        #expect(byScore.count == all && zip(byScore, byScore.dropFirst()).allSatisfy { $0 >= $1 })
        let byQ = tables.rows.sorted(by: FeatureSort.segmentQ.precedes).map { $0.statistics!.segmentQ }
        let tested = byQ.prefix { $0 != nil }.map { $0! }
        #expect(!tested.isEmpty && tested.count < all, "the synthetic bundle has tested and untested features")
        #expect(zip(tested, tested.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(byQ.dropFirst(tested.count).allSatisfy { $0 == nil })
        let text = TerminalViews.featureTable(tables, problems: 32, sort: .reasonScore, top: 3)
        #expect(text.split(separator: "\n")[1].hasSuffix("eta2  reason_score  segment_diff  segment_q  correct_wrong_q  top_act_95%"))
    }

    @Test func featureDetailHighlightsOnlyWhenAskedForColor() throws {
        let bundle = SharedReport.directories.bundle
        let tables = try HookpointTables.read(bundle: bundle, hookpoint: "layers.5.mlp")
        let f = tables.rows[0].feature
        let plain = try TerminalViews.featureDetail(bundle: bundle, hookpoint: "layers.5.mlp", feature: f, color: false)
        let colored = try TerminalViews.featureDetail(bundle: bundle, hookpoint: "layers.5.mlp", feature: f, color: true)
        #expect(plain.hasPrefix("feature \(f) at layers.5.mlp\n"))
        #expect(plain.contains("top feature (max activation) in \(tables.rows[0].topActInferences) of 32 inferences"))
        #expect(!plain.contains("\u{1B}[") && plain.contains("[["))
        #expect(colored.contains("\u{1B}[") && !colored.contains("[["))
        #expect(throws: RunDataError.self) { try TerminalViews.featureDetail(bundle: bundle, hookpoint: "layers.5.mlp", feature: 1_000_000, color: false) }
        #expect(throws: RunDataError.self) { try TerminalViews.featureDetail(bundle: bundle, hookpoint: "nope", feature: f, color: false) }
    }
}
