import Experiment
import Foundation
import Testing
import TestSupport
@testable import ResultBundle

@Suite struct FeatureTableTests {
    typealias F = BundleFixtures

    /// Three problems worked out by hand (see the comments for each row).
    static func handTasks() -> [CommittedTask] {
        func task(_ index: Int, verdict: Verdict, prompt: [Int32], generated: [Int32], thinkEnd: Int?,
                  rows: [(position: Int32, features: [Int32], acts: [Float])]) -> CommittedTask {
            let record = ProblemRecord(id: "gsm8k:test:\(index)", split: "test", index: index, question: "q\(index)", gold: "1",
                                       promptIDs: prompt, generatedIDs: generated, text: "t", stop: .eos, answer: "1",
                                       verdict: verdict, thinkEnd: thinkEnd)
            let positions = rows.map(\.position)
            let latents = LatentRows(k: 3, positions: positions, tokens: positions.map { record.token(at: Int($0)) },
                                     indices: rows.flatMap(\.features), activations: rows.flatMap(\.acts), record: record)
            return CommittedTask(record: record, latents: ["h": latents])
        }
        return [
            // A: correct; </think> at 3, so positions 2–3 are reasoning and 4 is answer.
            task(0, verdict: .correct, prompt: [100, 101], generated: [10, 11, 10], thinkEnd: 3, rows: [
                (2, [5, 1, 7], [3.0, 2.0, 0.0]),   // feature 7 is in the top-k with activation 0: not counted
                (3, [1, 5, 2], [4.0, 1.0, 0.5]),
                (4, [5, 2, 9], [2.0, 2.0, 1.0]),
            ]),
            // B: wrong; no </think>, so everything generated is reasoning.
            task(1, verdict: .wrong, prompt: [100], generated: [10, 12], thinkEnd: nil, rows: [
                (1, [1, 9, 5], [5.0, 0.25, 0.0]),
                (2, [9, 1, 3], [1.5, 1.5, 1.0]),
            ]),
            // C: no verdict; 11 features, so the per-problem top 10 leaves one out each way:
            // by maximum 30 beats 31 (tie at 1.0, lower id); by frequency 31 (twice) beats 30.
            task(2, verdict: .none, prompt: [100], generated: [13, 13, 13, 13], thinkEnd: nil, rows: [
                (1, [20, 21, 22], [9, 8, 7]),
                (2, [23, 24, 25], [6, 5, 4]),
                (3, [26, 27, 31], [3, 2, 1]),
                (4, [29, 30, 31], [1, 1, 1]),
            ]),
        ]
    }

    static func handBundle(in scratch: TemporaryDirectory) throws -> String {
        let out = scratch.path
        let store = try RunStore(outDirectory: out)
        for task in handTasks().reversed() { _ = try store.commit(task) }
        try store.writeBundle(manifest: F.manifest(selected: [], hookpoints: ["h"]), run: .null, decoder: F.Decoder())
        return out
    }

    @Test func featuresCSVMatchesTheHandComputedTable() throws {
        let scratch = TemporaryDirectory("feature-table")
        let out = try Self.handBundle(in: scratch)
        // The first 11 columns; the statistics columns after them have their own tests (FeatureStatisticsTests).
        let lines = try String(contentsOfFile: out + "/tables/h/features.csv", encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).prefix(11).joined(separator: ",") }
        #expect(lines[0] == "feature,tokens,tokens_reasoning,tokens_answer,inferences,inferences_correct,inferences_wrong,top_act_inferences,top_freq_inferences,max_act,mean_act")
        #expect(Array(lines[1...6]) == [
            "1,4,4,0,2,1,1,2,2,5.0,3.125",                 // 2 + 4 + 5 + 1.5 = 12.5 over 4
            "5,3,2,1,1,1,0,1,1,3.0,2.0",                   // B's 0.0 does not count
            "9,3,2,1,2,1,1,2,2,1.5,0.9166666666666666",   // 1 + 0.25 + 1.5 = 2.75 over 3
            "2,2,1,1,1,1,0,1,1,2.0,1.25",
            "31,2,2,0,1,0,0,0,1,1.0,1.0",
            "3,1,1,0,1,0,1,1,1,1.0,1.0",
        ])
        #expect(lines[7] == "20,1,1,0,1,0,0,1,1,9.0,9.0")
        #expect(lines.contains("30,1,1,0,1,0,0,1,0,1.0,1.0"))
        #expect(!lines.contains { $0.hasPrefix("7,") })
        #expect(lines.count == 1 + 6 + 10)  // features 20–27, 29, 30 after the six above
    }

    @Test func featureTokensCountEveryOccurrenceAndKeepTheMaximum() throws {
        let scratch = TemporaryDirectory("feature-table")
        let out = try Self.handBundle(in: scratch)
        let lines = try String(contentsOfFile: out + "/tables/h/feature_tokens.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines[0] == "feature,token,text,count,max_act")
        #expect(Array(lines[1...6]) == [
            "1,10,\"t10\",2,5.0", "1,11,\"t11\",1,4.0", "1,12,\"t12\",1,1.5",
            "5,10,\"t10\",2,3.0", "5,11,\"t11\",1,1.0",
            "9,12,\"t12\",1,1.5",
        ])
    }

    @Test func histogramHasFiftyBinsUpToTheMaximum() throws {
        let scratch = TemporaryDirectory("feature-table")
        let out = try Self.handBundle(in: scratch)
        let lines = try String(contentsOfFile: out + "/tables/h/activation_histogram.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 51)
        #expect(lines[1] == "0,0.0,0.18,0")
        #expect(lines[2] == "1,0.18,0.36,1")   // 0.25
        #expect(lines[6] == "5,0.9,1.08,7")    // the seven activations of exactly 1.0
        #expect(lines[50] == "49,8.82,9.0,1")  // the maximum, 9.0, closes the last bin
        #expect(lines.dropFirst().map { Int($0.split(separator: ",")[3])! }.reduce(0, +) == 25)
    }

    @Test func examplesListTheHighestActivationsWithContext() throws {
        let scratch = TemporaryDirectory("feature-table")
        let out = try Self.handBundle(in: scratch)
        let lines = try String(contentsOfFile: out + "/tables/h/examples.jsonl", encoding: .utf8).split(separator: "\n")
        // The top examples (the quantile examples after them have their own test in FeatureStatisticsTests).
        let feature1 = try lines.map { try JSONValue.parse(String($0), source: "examples") }.filter { $0["feature"] == .int(1) && $0["quantile"] == nil }
        #expect(feature1.map { $0["act"]!.doubleValue! } == [5.0, 4.0, 2.0, 1.5])
        #expect(feature1.map { $0["problem"]!.stringValue! } == ["gsm8k:test:1", "gsm8k:test:0", "gsm8k:test:0", "gsm8k:test:1"])
        #expect(feature1[0]["tokens"] == .array([.int(100), .int(10), .int(12)]))
        #expect(feature1[0]["center"] == .int(1))
        #expect(feature1[0]["token_texts"] == .array([.string("t100"), .string("t10"), .string("t12")]))
    }

    @Test func mergedTablesOfDisjointProblemsEqualOneTable() throws {
        let tasks = (0..<24).map { F.task(index: $0) }
        let whole = FeatureTable(histogramUpperBound: 16)
        let left = FeatureTable(histogramUpperBound: 16), right = FeatureTable(histogramUpperBound: 16)
        for (ordinal, task) in tasks.enumerated() {
            let rows = task.latents["layers.5.mlp"]!
            whole.add(rows, problem: Int32(ordinal), verdict: task.record.verdict)
            (ordinal % 3 == 0 ? left : right).add(rows, problem: Int32(ordinal), verdict: task.record.verdict)
        }
        try right.merge(left)
        let expected = whole.rows(), observed = right.rows()
        #expect(expected.map(\.feature) == observed.map(\.feature))
        var worst = 0.0
        for (a, b) in zip(expected, observed) {
            #expect(a.tokens == b.tokens && a.tokensReasoning == b.tokensReasoning && a.tokensAnswer == b.tokensAnswer)
            #expect(a.inferences == b.inferences && a.inferencesCorrect == b.inferencesCorrect && a.inferencesWrong == b.inferencesWrong)
            #expect(a.topActInferences == b.topActInferences && a.topFreqInferences == b.topFreqInferences && a.maxAct == b.maxAct)
            worst = max(worst, abs(a.sumAct - b.sumAct) / max(a.sumAct, 1))
            #expect(whole.topTokens(a.feature).map(\.token) == right.topTokens(a.feature).map(\.token))
            #expect(whole.topTokens(a.feature).map(\.maxAct) == right.topTokens(a.feature).map(\.maxAct))
            #expect(whole.examples(a.feature) == right.examples(a.feature))
        }
        print("merged sumAct: max relative difference \(worst)")
        #expect(worst < 1e-12)
        #expect(whole.histogram == right.histogram)
    }

    @Test func bestTokensStayExactWhenManyTokensCompete() {
        // One feature, 300 distinct tokens seen in shuffled order, each several times:
        // the kept 70 must be those with the highest maxima, whatever was evicted on the way.
        let table = FeatureTable()
        var g = SplitMix64(seed: 9)
        var best: [Int32: Float] = [:]
        for step in 0..<3000 {
            let token = Int32(g.below(300))
            let act = Float(g.below(10_000) + 1) / 100
            best[token] = max(best[token] ?? 0, act)
            let record = ProblemRecord(id: "p:s:\(step)", split: "s", index: step, question: "", gold: nil, promptIDs: [], generatedIDs: [token],
                                       text: "", stop: .eos, answer: nil, verdict: .none, thinkEnd: nil)
            table.add(LatentRows(k: 1, positions: [0], tokens: [token], indices: [7], activations: [act], record: record), problem: Int32(step), verdict: .none)
        }
        let expected = best.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(70)
        #expect(table.topTokens(7).map(\.token) == expected.map(\.key))
        #expect(table.topTokens(7).map(\.maxAct) == expected.map(\.value))
    }
}
