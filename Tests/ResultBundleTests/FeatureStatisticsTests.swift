import Experiment
import Foundation
import Testing
import TestSupport
@testable import ResultBundle

@Suite struct FeatureStatisticsTests {
    typealias S = StatisticsFixtures

    // MARK: - Reasoning words and token dependence

    /// Two problems. Feature 1 fires (2.0) exactly on the windows of "wait" and "hmm";
    /// feature 2 fires (1.0) everywhere; feature 3 fires (3.0) on every " x" and nowhere else;
    /// feature 4 has uneven activations across tokens.
    static let wordProblems: [S.Problem] = {
        let first = [" So", " wait", ",", " the", " sum", " is", " Hmm", ".", " ok", "</think>", " The", " x", " is", " 4"]
        let second = [" Let", " me", " x", " but", " x", " then", "</think>", " x", " done"]
        func acts(_ texts: [String], waitHmmWindows: Set<Int>, problem: Int) -> [[Int: Float]] {
            texts.indices.map { i in
                var row: [Int: Float] = [2: 1.0]
                if waitHmmWindows.contains(i) { row[1] = 2.0 }
                if texts[i] == " x" { row[3] = 3.0 }
                let uneven = Float((i * 7 + problem * 3) % 5) * 0.5
                if uneven > 0 { row[4] = uneven }
                return row
            }
        }
        return [
            // "wait" at 1: window 0…3; "Hmm" at 6: window 5…8.
            S.Problem(texts: first, thinkEnd: 9, verdict: .correct, acts: acts(first, waitHmmWindows: Set([0, 1, 2, 3, 5, 6, 7, 8]), problem: 0)),
            // "Let me" at 0…1: window 0…3; "but" at 3: window 2…5.
            S.Problem(texts: second, thinkEnd: 6, verdict: .wrong, acts: acts(second, waitHmmWindows: [], problem: 1)),
        ]
    }()

    static let wordWindows: [String: [(problem: Int, indices: ClosedRange<Int>)]] = [
        "wait": [(0, 0...3)], "hmm": [(0, 5...8)], "let me": [(1, 0...3)], "but": [(1, 2...5)],
    ]

    @Test func occurrencesAreTheLongestRunsSpellingAWord() throws {
        let words = try ReasoningWords(["wait", "let me", "but", "hmm"])
        let tokens = [" Wait", ",", " let", " me", " think", " but", " ", "hmm", " butter"].map(ReasoningWords.normalizedToken)
        let found = words.occurrences(tokens)
        // " but" + " " is a longer run spelling "but" than " but" alone; " " + "hmm" likewise for "hmm";
        // the two overlap without one containing the other, so both stay. " butter" is not "but".
        #expect(found == [
            .init(word: 0, start: 0, end: 1), .init(word: 1, start: 2, end: 4),
            .init(word: 2, start: 5, end: 7), .init(word: 3, start: 6, end: 8),
        ])
        #expect(words.windows(found, length: tokens.count) == [[0, 1, 2], [1, 2, 3, 4, 5], [4, 5, 6, 7, 8], [5, 6, 7, 8]])
    }

    @Test func aFeatureOnWaitAndHmmWindowsHasTheReferenceReasonScore() throws {
        let scratch = TemporaryDirectory("statistics")
        let table = try S.features(S.bundle(Self.wordProblems, out: scratch.path))
        let reference = S.Reference(problems: Self.wordProblems)
        for f in [1, 2, 3, 4] {
            let expected = reference.reasonScore(f, features: [1, 2, 3, 4], windows: Self.wordWindows, alpha: 0.7)
            #expect(abs(Double(table[f]!["reason_score"]!)! - expected.score) < 1e-12, "feature \(f)")
            #expect(abs(Double(table[f]!["reason_mu_in"]!)! - expected.muIn) < 1e-12, "feature \(f)")
            #expect(abs(Double(table[f]!["reason_mu_out"]!)! - expected.muOut) < 1e-12, "feature \(f)")
            #expect(abs(Double(table[f]!["reason_entropy"]!)! - expected.entropy) < 1e-12, "feature \(f)")
        }
        // Four words occur; feature 1 spreads evenly over two of them: H = ln 2 / ln 4.
        #expect(abs(Double(table[1]!["reason_entropy"]!)! - 0.5) < 1e-12)
        // It never fires outside the windows, and ranks first.
        #expect(Double(table[1]!["reason_mu_out"]!)! == 0)
        #expect(table.keys.max { Double(table[$0]!["reason_score"]!)! < Double(table[$1]!["reason_score"]!)! } == 1)
    }

    @Test func aPureTokenDetectorHasEtaSquaredOne() throws {
        let scratch = TemporaryDirectory("statistics")
        let table = try S.features(S.bundle(Self.wordProblems, out: scratch.path))
        #expect(abs(Double(table[3]!["token_eta2"]!)! - 1) < 1e-12)
        // A constant activation has no variance to explain: the cell stays empty.
        #expect(table[2]!["token_eta2"] == "")
        let reference = S.Reference(problems: Self.wordProblems)
        for f in [1, 4] {
            #expect(abs(Double(table[f]!["token_eta2"]!)! - reference.eta2(f)!) < 1e-12, "feature \(f)")
        }
    }

    // MARK: - Segment effect

    /// Six problems of 4 reasoning tokens (the last is </think>) and 2 answer tokens. Feature 7
    /// fires on every reasoning token and no answer token; feature 8 on a varying share of each;
    /// feature 9 in only 4 problems (too few to test); feature 10 everywhere (no effect).
    static let segmentProblems: [S.Problem] = (0..<6).map { p in
        let texts = [" a", " b", " c", "</think>", " d", " e"]
        let pattern8: [(Int, Int)] = [(3, 0), (1, 1), (4, 1), (2, 2), (0, 1), (4, 0)]
        let acts: [[Int: Float]] = texts.indices.map { i in
            var row: [Int: Float] = [10: 0.5]
            let reasoning = i <= 3
            if reasoning { row[7] = 1.5 }
            let (r8, a8) = pattern8[p]
            if (reasoning && i < r8) || (!reasoning && i - 4 < a8) { row[8] = 2.0 + Float(i) }
            if p < 4, i == 0 { row[9] = 1.0 }
            return row
        }
        return S.Problem(texts: texts, thinkEnd: 3, verdict: p % 2 == 0 ? .correct : .wrong, acts: acts)
    }

    @Test func aPlantedSegmentEffectHasTheExactPermutationPValue() throws {
        let scratch = TemporaryDirectory("statistics")
        let table = try S.features(S.bundle(Self.segmentProblems, out: scratch.path))
        // d = 1 in all six problems: only "all +" and "all −" reach |mean| = 1, so p = 2/64.
        #expect(table[7]!["segment_diff"] == "1.0")
        #expect(table[7]!["segment_p"] == "0.03125")
        let reference = S.Reference(problems: Self.segmentProblems)
        let d8 = reference.segmentDifferences(8)
        #expect(abs(Double(table[8]!["segment_diff"]!)! - d8.reduce(0, +) / 6) < 1e-12)
        #expect(Double(table[8]!["segment_p"]!)! == S.exactSignFlipP(d8))
        #expect(table[10]!["segment_p"] == "1.0")
        #expect(table[9]!["segment_p"] == "" && table[9]!["segment_q"] == "" && table[9]!["segment_diff"] == "")
        // q-values: Benjamini–Hochberg over the three tested features.
        let tested = [7, 8, 10]
        let q = S.bhByDefinition(tested.map { Double(table[$0]!["segment_p"]!)! })
        for (f, expected) in zip(tested, q) { #expect(abs(Double(table[f]!["segment_q"]!)! - expected) < 1e-15, "feature \(f)") }
    }

    @Test func signFlipPValueOnSixProblemsIsTheExactDistribution() {
        let d = [0.5, -0.25, 0.75, 0.125, 0.25, -0.0625]
        var unused = SplitMix64(seed: 1)
        #expect(SignFlipTest.pValue(nonZero: d, problems: 6, generator: &unused) == S.exactSignFlipP(d))
        // Zero differences do not change the exact p-value.
        #expect(SignFlipTest.pValue(nonZero: [1, 1, 1], problems: 6, generator: &unused) == 0.25)
    }

    @Test func sampledSignFlipPValueIsSeededAndCloseToTheExactOne() {
        // 20 problems: 2^20 > 100,000, so the test samples. Same seed, same p-value.
        let d = (0..<20).map { Double($0 % 7) / 7 - 0.25 }
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42)
        let p = SignFlipTest.pValue(nonZero: d, problems: 20, generator: &a)
        #expect(p == SignFlipTest.pValue(nonZero: d, problems: 20, generator: &b))
        // The exact value by enumerating 2^20 patterns. Sampling stops after 20 extreme draws,
        // so the estimate's relative standard error is about 1/√20: allow three of them.
        let exact = S.exactSignFlipP(d)
        #expect(exact > 0.01 && abs(p - exact) < 0.7 * exact, "sampled \(p), exact \(exact)")
    }

    @Test func aStrongSampledEffectDrawsAllPatterns() {
        // Only 2 of 2^20 patterns are as extreme as twenty equal differences: 100,000 draws
        // almost surely meet none, and p is 1/100,001.
        var g = SplitMix64(seed: 7)
        let p = SignFlipTest.pValue(nonZero: [Double](repeating: 0.5, count: 20), problems: 20, generator: &g)
        #expect(p == 1.0 / 100_001 || p == 2.0 / 100_001, "p \(p)")
    }

    // MARK: - Multiple testing and correct vs wrong

    @Test func benjaminiHochbergOnAKnownList() {
        let q = BenjaminiHochberg.adjust([0.01, 0.04, 0.03, 0.005, 0.5])
        let expected = [0.025, 0.05, 0.05, 0.025, 0.5]
        for (x, y) in zip(q, expected) { #expect(abs(x - y) < 1e-15) }
    }

    @Test func labelShufflePValueSumsTheHypergeometricTails() {
        // All C(22, 12) labellings, grouped by a (fired problems labelled correct): C(9, a)·C(13, 12 − a).
        func choose(_ n: Int, _ r: Int) -> Double { r < 0 || r > n ? 0 : (0..<r).reduce(1.0) { $0 * Double(n - $1) / Double($1 + 1) } }
        let correct = 12, wrong = 10, fired = 9, observed = 7
        func lor(_ a: Int) -> Double { LogOddsRatio(firedCorrect: a, correct: correct, firedWrong: fired - a, wrong: wrong).estimate }
        let extreme = (0...fired).filter { abs(lor($0)) >= abs(lor(observed)) - 1e-12 }.reduce(0.0) { $0 + choose(fired, $1) * choose(22 - fired, correct - $1) }
        let expected = extreme / choose(22, correct)
        let p = LabelShuffleTest(correct: correct, wrong: wrong).pValue(firedCorrect: observed, firedWrong: fired - observed)
        #expect(abs(p - expected) < 1e-12 * expected)
    }

    /// 20 problems, 10 correct and 10 wrong. Feature 1 fires in every correct problem only (and
    /// so is a top feature in half of them); feature 2 fires strongly everywhere.
    static let answerProblems: [S.Problem] = (0..<20).map { p in
        let correct = p % 2 == 0
        let acts: [[Int: Float]] = (0..<3).map { _ in correct ? [1: 1.0, 2: 5.0] : [2: 5.0, 3: 0.5] }
        return S.Problem(texts: [" a", "</think>", " b"], thinkEnd: 1, verdict: correct ? .correct : .wrong, acts: acts)
    }

    @Test func aFeatureOfOnlyCorrectAnswersHasTheExactLabelShufflePValue() throws {
        let scratch = TemporaryDirectory("statistics")
        let table = try S.features(S.bundle(Self.answerProblems, out: scratch.path))
        // Only the two labellings that put all ten fired problems in one group are as extreme.
        #expect(abs(Double(table[1]!["correct_wrong_p"]!)! - 2.0 / 184_756) < 1e-15)
        #expect(table[2]!["correct_wrong_p"] == "1.0")
        let q = S.bhByDefinition([1, 2, 3].map { Double(table[$0]!["correct_wrong_p"]!)! })
        for (f, expected) in zip([1, 2, 3], q) { #expect(abs(Double(table[f]!["correct_wrong_q"]!)! - expected) < 1e-15) }
    }

    @Test func correctWrongTestNeedsTenProblemsPerGroup() throws {
        let scratch = TemporaryDirectory("statistics")
        let table = try S.features(S.bundle(Self.segmentProblems, out: scratch.path))
        #expect(table.values.allSatisfy { $0["correct_wrong_p"] == "" && $0["correct_wrong_q"] == "" })
    }

    // MARK: - Bootstrap

    @Test func bootstrapIntervalsOfTheTopFeatureShare() throws {
        let scratch = TemporaryDirectory("statistics")
        let table = try S.features(S.bundle(Self.answerProblems, out: scratch.path))
        // A top feature of every problem stays one in every resample.
        #expect(table[2]!["top_act_lo"] == "1.0" && table[2]!["top_act_hi"] == "1.0")
        // Top in 10 of 20: the resampled share is Binomial(20, 1/2)/20, whose 2.5% and 97.5%
        // quantiles are 6/20 and 14/20; 2,000 resamples land within a twentieth of them.
        let low = Double(table[1]!["top_act_lo"]!)!, high = Double(table[1]!["top_act_hi"]!)!
        #expect(low >= 0.25 && low <= 0.35, "low \(low)")
        #expect(high >= 0.65 && high <= 0.75, "high \(high)")
    }

    @Test func capturedPromptRowsCountOnlyTowardsTopFeatures() throws {
        // Feature 9 fires only on the captured prompt token: a top feature of every problem,
        // but no generated position carries it, so it has no η² and no weight in ReasonScore.
        var problems = Self.answerProblems
        for i in problems.indices { problems[i].promptActs = [9: 7.0] }
        let scratch = TemporaryDirectory("statistics")
        let table = try S.features(S.bundle(problems, out: scratch.path))
        #expect(table[9]!["tokens"] == "20" && table[9]!["top_act_inferences"] == "20")
        #expect(table[9]!["top_act_lo"] == "1.0" && table[9]!["top_act_hi"] == "1.0")
        #expect(table[9]!["token_eta2"] == "")
        #expect(table[9]!["reason_mu_in"] == "0.0" && table[9]!["reason_mu_out"] == "0.0")
        #expect(table[9]!["segment_p"] == "")
        // The generated statistics are those of the bundle without the prompt rows.
        let plain = try S.features(S.bundle(Self.answerProblems, out: scratch.subdirectory("plain")))
        for column in ["token_eta2", "reason_score", "segment_diff", "segment_p"] {
            #expect(table[1]![column] == plain[1]![column], "\(column)")
        }
    }

    // MARK: - Co-occurrence and quantile examples

    @Test func cooccurrenceListsPairsByJaccardIndex() throws {
        let scratch = TemporaryDirectory("statistics")
        let bundle = try S.bundle(Self.wordProblems, out: scratch.path)
        let lines = try String(contentsOfFile: bundle + "/tables/\(S.hookpoint)/cooccurrence.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        // By hand from the dense activations: positions where both fire over positions where either does.
        let positions = S.Reference(problems: Self.wordProblems).positions
        let order = [2, 4, 1, 3]  // features.csv order: by positions fired, then id
        var expected = ["feature,partner,both,jaccard"]
        for f in order {
            var partners: [(partner: Int, both: Int, jaccard: Double)] = []
            for g in order where g != f {
                let both = positions.filter { $0.acts[f] != nil && $0.acts[g] != nil }.count
                let either = positions.filter { $0.acts[f] != nil || $0.acts[g] != nil }.count
                if both > 0, Double(both) / Double(either) >= 0.05 { partners.append((g, both, Double(both) / Double(either))) }
            }
            partners.sort { $0.jaccard != $1.jaccard ? $0.jaccard > $1.jaccard : $0.partner < $1.partner }
            expected += partners.map { "\(f),\($0.partner),\($0.both),\($0.jaccard)" }
        }
        #expect(lines == expected)
    }

    /// One problem of 40 tokens: feature 5 fires with 1, 2, …, 40 in order; feature 6 with 1.0 everywhere.
    static let quantileProblems: [S.Problem] = [
        S.Problem(texts: (0..<40).map { " t\($0)" }, thinkEnd: nil, verdict: .none,
                  acts: (0..<40).map { [5: Float($0 + 1), 6: 1.0] }),
    ]

    @Test func quantileExamplesTakeTwoFromEachTenthOfTheActivations() throws {
        let scratch = TemporaryDirectory("statistics")
        let bundle = try S.bundle(Self.quantileProblems, out: scratch.path)
        let lines = try String(contentsOfFile: bundle + "/tables/\(S.hookpoint)/examples.jsonl", encoding: .utf8).split(separator: "\n")
        let values = try lines.map { try JSONValue.parse(String($0), source: "examples") }
        // The 20 top examples of each feature come first, as before, without a quantile field.
        #expect(values.prefix(40).allSatisfy { $0["quantile"] == nil })
        #expect(values.prefix(20).map { $0["act"]!.doubleValue! } == (21...40).reversed().map(Double.init))
        let quantiles = values.dropFirst(40)
        #expect(quantiles.count == 40)
        for (n, line) in quantiles.enumerated() {
            #expect(lines[40 + n].hasPrefix("{\"feature\":\(line["feature"]!.intValue!),\"quantile\":"))
        }
        // Feature 5: quantile q holds activations 4q+1 … 4q+4; two different ones, ascending.
        let five = quantiles.filter { $0["feature"] == .int(5) }
        #expect(five.map { $0["quantile"]!.intValue! } == (0..<10).flatMap { [$0, $0] })
        #expect(five.map { $0["rank"]!.intValue! } == (0..<10).flatMap { _ in [0, 1] })
        for q in 0..<10 {
            let acts = five.filter { $0["quantile"] == .int(Int64(q)) }.map { $0["act"]!.doubleValue! }
            #expect(acts[0] < acts[1] && acts.allSatisfy { $0 >= Double(4 * q + 1) && $0 <= Double(4 * q + 4) }, "quantile \(q): \(acts)")
            // The position is the one that carried the activation, with its ±10-token context.
            let line = five.first { $0["quantile"] == .int(Int64(q)) }!
            #expect(line["position"]!.intValue! == Int(line["act"]!.doubleValue!))   // act i+1 at generated token i, position i+1
            #expect(line["token_texts"]!.arrayValue![line["center"]!.intValue!] == .string(" t\(Int(line["act"]!.doubleValue!) - 1)"))
        }
    }

    // MARK: - The command's contract

    @Test func analyzeInPlaceGivesTheRunsBytes() throws {
        let scratch = TemporaryDirectory("statistics")
        let bundle = try S.bundle(Self.wordProblems, out: scratch.path)
        let files = ["features.csv", "cooccurrence.csv", "examples.jsonl"].map { bundle + "/tables/\(S.hookpoint)/" + $0 }
        let written = try files.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        try BundleStatistics.write(bundle: bundle)
        #expect(try files.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } == written)
    }

    @Test func anotherWordListChangesOnlyTheReasonColumns() throws {
        let scratch = TemporaryDirectory("statistics")
        let bundle = try S.bundle(Self.wordProblems, out: scratch.path)
        let before = try S.features(bundle)
        try BundleStatistics.write(bundle: bundle, settings: StatisticsSettings(words: try ReasoningWords(["x"]), seed: 0))
        let after = try S.features(bundle)
        // With one word, the entropy is 0 for every feature, so ReasonScore is −μ⁻ share.
        #expect(after.values.allSatisfy { $0["reason_entropy"] == "0.0" })
        for (f, row) in before {
            for (column, cell) in row where !column.hasPrefix("reason_") { #expect(after[f]![column] == cell, "feature \(f) \(column)") }
        }
    }

    @Test func aWordListWithADuplicateIsRefusedNamingTheLine() throws {
        let scratch = TemporaryDirectory("statistics")
        let file = scratch.file("words.txt")
        try "wait\nhmm\n\nWait\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: RunDataError.self) { try ReasoningWords.read(file: file) }
        do { _ = try ReasoningWords.read(file: file) } catch { #expect("\(error)".contains("line 4")) }
    }
}
