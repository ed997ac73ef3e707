import GSM8K
import Testing
import TestSupport

@Suite struct AnswerCheckerTests {
    /// Model-style outputs, their extracted answer and verdict against the gold.
    static let table: [(output: String, gold: String, answer: String?, verdict: Verdict)] = [
        ("She sold 48/2 = 24 clips in May, so 48+24 = 72.\n</think>\n\nThe answer is \\boxed{72}.", "72", "72", .correct),
        ("**Final Answer**\n\\[\n\\boxed{18}\n\\]", "18", "18", .correct),
        ("Total cost: \\boxed{\\$1,080}", "1080", "1080", .correct),
        ("\\boxed{18.0}", "18", "18", .correct),
        ("\\boxed{18.00}", "18", "18", .correct),
        ("\\boxed{\\text{18 dollars}}", "18", "18", .correct),
        ("\\boxed{18 \\text{ apples}}", "18", "18", .correct),
        ("So she needs \\boxed{\\frac{1}{2}} of a cup.", "0.5", "0.5", .correct),
        ("\\boxed{\\dfrac{15}{2}}", "7.5", "7.5", .correct),
        ("First \\boxed{12}, but wait, correcting: \\boxed{14}", "14", "14", .correct),
        ("First \\boxed{14}, then on reflection \\boxed{12}", "14", "12", .wrong),
        ("The answer is 18.", "18", nil, .none),
        ("Let me compute 3 * 6 = 18, so the answer is \\boxed{1", "18", nil, .none),
        ("The temperature dropped to \\boxed{-5} degrees.", "-5", "-5", .correct),
        ("\\boxed{−5}", "-5", "-5", .correct),
        ("\\boxed{2.75}", "2.75", "2.75", .correct),
        ("\\boxed{0.25}", "25", "0.25", .wrong),
        ("\\boxed{25\\%}", "25", "25", .correct),
        ("\\boxed{x = 4}", "4", "4", .correct),
        ("\\boxed{1,000,000}", "1000000", "1000000", .correct),
        ("\\boxed{17}", "18", "17", .wrong),
        ("\\boxed{5 hours and 30 minutes}", "330", "5 hours and 30 minutes", .wrong),
        ("I should put the final answer within \\boxed{}. The answer is \\boxed{9}.", "9", "9", .correct),
        ("The final answer within \\boxed{}.", "9", nil, .none),
        ("\\boxed{\\$18.50}", "18.5", "18.5", .correct),
        ("\\boxed 7", "7", "7", .correct),
    ]

    @Test(arguments: table.indices)
    func verdictOnModelOutput(row: Int) {
        let entry = Self.table[row]
        let result = AnswerChecker.verdict(modelOutput: entry.output, gold: entry.gold)
        #expect(result.answer == entry.answer, "output: \(entry.output.debugDescription)")
        #expect(result.verdict == entry.verdict, "output: \(entry.output.debugDescription)")
    }

    @Test func extractsTheLastBoxedWithNestedBraces() {
        #expect(AnswerChecker.extractBoxed("\\boxed{1} then \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}")
        #expect(AnswerChecker.extractBoxed("\\boxed{\\{a\\}}") == "\\{a\\}")
        #expect(AnswerChecker.extractBoxed("no answer") == nil)
    }

    @Test func goldIsTheNumberAfterTheMarkerWithoutCommas() {
        #expect(AnswerChecker.goldAnswer(from: "Work...\n#### 1,234") == "1234")
        #expect(AnswerChecker.goldAnswer(from: "no marker") == nil)
    }

    @Test func verdictRawValuesAreTheBundleStrings() {
        #expect(Verdict.allCases.map(\.rawValue) == ["correct", "wrong", "none"])
    }
}
