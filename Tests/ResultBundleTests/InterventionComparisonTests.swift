import Experiment
import Foundation
import Testing
import TestSupport
@testable import ResultBundle

@Suite struct InterventionComparisonTests {
    typealias I = InterventionFixtures
    typealias Outcome = InterventionFixtures.Outcome

    /// Four problems: the baseline gets 0, 1 and 3 right; `ablate` loses 0 and 3, gains 2 and
    /// leaves 1 untouched; `boost` (problem 3 failed) keeps every answer but runs longer.
    static let baseline: [Int: Outcome] = [
        0: Outcome(generated: [1, 2, 3, 4, 5], verdict: .correct, answer: "7", thinkEnd: 5),
        1: Outcome(generated: [1, 2, 3], verdict: .correct, answer: "7", thinkEnd: 4),
        2: Outcome(generated: [4, 4, 4, 4], verdict: .wrong, answer: "8", thinkEnd: nil, stop: .length),
        3: Outcome(generated: [6, 5, 4], verdict: .correct, answer: "7", thinkEnd: 3),
    ]
    static let ablate: [Int: Outcome] = [
        0: Outcome(generated: [1, 2, 9, 9, 9, 9, 9, 9], verdict: .wrong, answer: "1,5", thinkEnd: nil, stop: .length),
        1: Outcome(generated: [1, 2, 3], verdict: .correct, answer: "7", thinkEnd: 4),
        2: Outcome(generated: [4, 4, 4, 4, 7], verdict: .correct, answer: "7", thinkEnd: 6),
        3: Outcome(generated: [6, 5], verdict: .none, answer: nil, thinkEnd: 4),
    ]
    static let boost: [Int: Outcome] = [
        0: Outcome(generated: [1, 2, 3, 4, 5, 6], verdict: .correct, answer: "7", thinkEnd: 7),
        1: Outcome(generated: [1, 2, 3, 3], verdict: .correct, answer: "7", thinkEnd: 5),
        2: Outcome(generated: [4, 4, 4, 4, 4], verdict: .wrong, answer: "8", thinkEnd: nil, stop: .length),
    ]

    func writeRun(_ scratch: TemporaryDirectory) throws -> String {
        let out = scratch.subdirectory("run")
        try I.writeRun(baseline: Self.baseline, conditions: [("ablate", Self.ablate), ("boost", Self.boost)], selected: 0..<4, out: out)
        return out
    }

    @Test func pairsCSVHasOneRowPerConditionAndProblemInConditionThenProblemOrder() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = try writeRun(scratch)
        try InterventionComparison.write(bundle: out, conditions: ["ablate", "boost"], seed: 0)
        let pairs = try String(contentsOfFile: (out as NSString).appendingPathComponent(InterventionComparison.pairsFile), encoding: .utf8)
        #expect(pairs == """
            condition,id,verdict_baseline,verdict,answer_baseline,answer,tokens_baseline,tokens,think_end_baseline,think_end,stop_baseline,stop,first_divergence
            ablate,gsm8k:test:0,correct,wrong,7,"1,5",5,8,5,,eos,length,2
            ablate,gsm8k:test:1,correct,correct,7,7,3,3,4,4,eos,eos,
            ablate,gsm8k:test:2,wrong,correct,8,7,4,5,,6,length,eos,4
            ablate,gsm8k:test:3,correct,none,7,,3,2,3,4,eos,eos,2
            boost,gsm8k:test:0,correct,correct,7,7,5,6,5,7,eos,eos,5
            boost,gsm8k:test:1,correct,correct,7,7,3,4,4,5,eos,eos,3
            boost,gsm8k:test:2,wrong,wrong,8,8,4,5,,,length,length,4

            """)
    }

    @Test func summaryPairsEachConditionWithTheBaseline() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = try writeRun(scratch)
        let comparison = try InterventionComparison(bundle: out, conditions: ["ablate", "boost"], seed: 5)
        let ablate = comparison.conditions[0].summary
        #expect(ablate.condition == "ablate")
        #expect(ablate.problems == 4)
        #expect(ablate.accuracy == 2.0 / 4)           // problems 1 and 2
        #expect(ablate.baselineAccuracy == 3.0 / 4)   // problems 0, 1, 3
        #expect(ablate.deltaAccuracy == -1.0 / 4)
        #expect(ablate.mcnemarP == 1)                 // lost 2, gained 1: 2·(1 + 3)/8 > 1
        #expect(ablate.answersChanged == 3)
        #expect(ablate.identicalOutputs == 1)
        #expect(ablate.meanTokens == Double(8 + 3 + 5 + 2) / 4)
        #expect(ablate.deltaTokens == Double(3 + 0 + 1 - 1) / 4)
        #expect(ablate.thinkFinished == 3.0 / 4)      // problem 0 never closed </think>
        #expect(ablate.deltaThinkEnd == Double(0 + 1) / 2) // only 1 and 3 finished under both
        #expect(ablate.meanFirstDivergence == Double(2 + 4 + 2) / 3)
        // Repeats among ablate's 4-grams: 9999 twice in problem 0 (5 grams); problem 2 has 2 grams, none repeated.
        #expect(ablate.repeated4grams == 2.0 / 7)
    }

    @Test func summaryIntervalsAreThePairedBootstrapOfTheRunSeed() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = try writeRun(scratch)
        let ablate = try InterventionComparison(bundle: out, conditions: ["ablate"], seed: 77).conditions[0].summary
        let accuracy = PairedStatisticsTests.referenceInterval([-1, 0, 1, -1], seed: 77)
        let tokens = PairedStatisticsTests.referenceInterval([3, 0, 1, -1], seed: 77)
        #expect(ablate.deltaAccuracyLo == accuracy.lo && ablate.deltaAccuracyHi == accuracy.hi)
        #expect(ablate.deltaTokensLo == tokens.lo && ablate.deltaTokensHi == tokens.hi)
    }

    @Test func problemsMissingFromEitherBundleAreDroppedAndCounted() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = scratch.subdirectory("run")
        var baseline = Self.baseline
        baseline[1] = nil
        try I.writeRun(baseline: baseline, conditions: [("boost", Self.boost)], selected: 0..<4, out: out)
        let boost = try InterventionComparison(bundle: out, conditions: ["boost"], seed: 0).conditions[0]
        #expect(boost.pairs.map(\.baseline.id) == ["gsm8k:test:0", "gsm8k:test:2"])
        #expect(boost.droppedProblems == ["gsm8k:test:3", "gsm8k:test:1"])
        #expect(boost.summary.problems == 2)
    }

    @Test func summaryCSVReadsBackAsWritten() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = try writeRun(scratch)
        let comparison = try InterventionComparison.write(bundle: out, conditions: ["ablate", "boost"], seed: 3)
        let read = try InterventionComparison.readSummary(bundle: out)
        #expect(read == comparison.conditions.map(\.summary))
        let text = try String(contentsOfFile: (out as NSString).appendingPathComponent(InterventionComparison.summaryFile), encoding: .utf8)
        #expect(text.hasPrefix(InterventionComparison.summaryHeader + "\nablate,4,0.5,0.75,-0.25,"))
    }

    @Test func conditionWithoutPairsHasEmptyCells() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = scratch.subdirectory("run")
        try I.writeRun(baseline: Self.baseline, conditions: [("empty", [:])], selected: 0..<4, out: out)
        let summary = try InterventionComparison(bundle: out, conditions: ["empty"], seed: 0).conditions[0].summary
        #expect(summary.cells == ["empty", "0", "", "", "", "", "", "", "0", "0", "", "", "", "", "", "", "", ""])
    }

    @Test func theSameInputsWriteTheSameBytes() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = try writeRun(scratch)
        func files() throws -> [Data] {
            try InterventionComparison.write(bundle: out, conditions: ["ablate", "boost"], seed: 11)
            return try [InterventionComparison.pairsFile, InterventionComparison.summaryFile].map {
                try Data(contentsOf: URL(fileURLWithPath: (out as NSString).appendingPathComponent($0)))
            }
        }
        #expect(try files() == files())
    }

    @Test func aFinishedBundleIsComparedWithItsOwnConditionsAndSeed() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = try writeRun(scratch)
        let comparison = try #require(try InterventionComparison.write(bundle: out))
        #expect(comparison.conditions.map(\.name) == ["ablate", "boost"])
        let explicit = try InterventionComparison(bundle: out, conditions: ["ablate", "boost"], seed: 0)
        #expect(comparison.conditions.map(\.summary) == explicit.conditions.map(\.summary))
        #expect(FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent(InterventionComparison.pairsFile)))
    }

    @Test func aBundleWithoutConditionsWritesNoTables() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = scratch.subdirectory("plain")
        try I.writeBundle(Self.baseline, selected: 0..<4, to: out)
        #expect(try InterventionComparison.write(bundle: out) == nil)
        #expect(!FileManager.default.fileExists(atPath: InterventionLayout.root(in: out)))
    }

    @Test func conditionNamesComeFromConditionsJSONInItsOrder() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = try writeRun(scratch)
        #expect(try InterventionComparison.conditionNames(bundle: out) == ["ablate", "boost"])
        #expect(try InterventionComparison.runSeed(bundle: out) == 0)
    }

    @Test func aConditionNamedTwiceIsRefused() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = try writeRun(scratch)
        #expect(throws: RunDataError.self) { try InterventionComparison(bundle: out, conditions: ["ablate", "ablate"], seed: 0) }
    }

    @Test func aConditionBundleListingAProblemTwiceIsRefused() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = try writeRun(scratch)
        let path = (InterventionLayout.directory(of: "boost", in: out) as NSString).appendingPathComponent(BundleLayout.inferencesFile)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try (text + text.split(separator: "\n")[0] + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try InterventionComparison(bundle: out, conditions: ["boost"], seed: 0)
            Issue.record("a duplicate problem was accepted")
        } catch let error as RunDataError {
            #expect(error.subject == path && error.reason.hasPrefix("lists problem gsm8k:test:0 twice"))
        }
    }

    @Test func aMissingConditionBundleIsNamedInTheError() throws {
        let scratch = TemporaryDirectory("interventions")
        let out = try writeRun(scratch)
        do {
            _ = try InterventionComparison(bundle: out, conditions: ["ghost"], seed: 0)
            Issue.record("a missing condition bundle was accepted")
        } catch let error as RunDataError {
            #expect(error.subject.hasSuffix("interventions/ghost/inferences.jsonl"))
        }
    }
}
