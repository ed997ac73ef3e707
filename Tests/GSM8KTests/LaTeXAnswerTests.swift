import GSM8K
import Testing
import TestSupport

/// The LaTeX answer check (gold answers that are not GSM8K's "#### N"), one rule per test.
@Suite struct LaTeXAnswerTests {
    func verdict(_ boxed: String, gold: String) -> Verdict {
        AnswerChecker.verdict(modelOutput: "So the answer is \\boxed{\(boxed)}.", writtenGold: gold).verdict
    }

    @Test func leftRightAndThinSpacesAreIgnored() {
        #expect(verdict("\\left( 1,\\! -2 \\right)", gold: "(1, -2)") == .correct)
        #expect(verdict("3\\,\\sqrt{2}", gold: "3\\sqrt{2}") == .correct)
    }

    @Test func dfracAndTfracAreFrac() {
        #expect(LaTeXNormalizer.normalize("\\dfrac{3}{4}").text == "\\frac{3}{4}")
        #expect(LaTeXNormalizer.normalize("\\tfrac{3}{4}").text == "\\frac{3}{4}")
    }

    @Test func bracelessFractionAndRootArgumentsGetBraces() {
        #expect(LaTeXNormalizer.normalize("\\frac12").text == "\\frac{1}{2}")
        #expect(LaTeXNormalizer.normalize("\\frac1{2}").text == "\\frac{1}{2}")
        #expect(LaTeXNormalizer.normalize("\\frac{\\pi}2").text == "\\frac{\\pi}{2}")
        #expect(LaTeXNormalizer.normalize("2\\sqrt3").text == "2\\sqrt{3}")
    }

    @Test func degreesAreDropped() {
        #expect(verdict("45^\\circ", gold: "45") == .correct)
        #expect(verdict("45^{\\circ}", gold: "45^\\circ") == .correct)
        #expect(verdict("45", gold: "45^{\\circ}") == .correct)
    }

    @Test func percentSignIsDroppedAndRemembered() {
        let normalized = LaTeXNormalizer.normalize("25\\%")
        #expect(normalized.text == "25")
        #expect(normalized.isPercent)
        #expect(!LaTeXNormalizer.normalize("0.25").isPercent)
    }

    @Test func aDecimalStandsForAPercentageOnlyWhenTheGoldIsThePercentage() {
        #expect(verdict("0.25", gold: "25\\%") == .correct)
        #expect(verdict("25", gold: "25\\%") == .correct)
        #expect(verdict("25\\%", gold: "0.25") == .wrong)
    }

    @Test func textAndMboxUnitsAfterANumberAreDropped() {
        #expect(LaTeXNormalizer.normalize("5\\text{ cm}").text == "5")
        #expect(LaTeXNormalizer.normalize("5\\mbox{ cm}^2").text == "5")
        #expect(LaTeXNormalizer.normalize("48 square units").text == "48")
        #expect(verdict("6\\text{ cm}", gold: "5\\text{ cm}") == .wrong)
    }

    @Test func textThatIsTheWholeAnswerIsUnwrapped() {
        #expect(LaTeXNormalizer.normalize("\\text{(C)}").text == "(C)")
        #expect(verdict("\\textbf{Monday}", gold: "\\text{Monday}") == .correct)
        #expect(verdict("Tuesday", gold: "\\text{Monday}") == .wrong)
    }

    @Test func dollarSignsAreDropped() {
        #expect(verdict("\\$18.90", gold: "18.9") == .correct)
        #expect(verdict("$18.90$", gold: "\\$18.90") == .correct)
    }

    @Test func thousandsSeparatorsAreDroppedFromAWholeNumber() {
        #expect(LaTeXNormalizer.normalize("1,000,000").text == "1000000")
        #expect(LaTeXNormalizer.normalize("12{,}600").text == "12600")
        #expect(LaTeXNormalizer.normalize("1,2").text == "1,2")
    }

    @Test func aTrailingPeriodAndSurroundingSpacesAreDropped() {
        #expect(LaTeXNormalizer.normalize("  \\frac{1}{3}. ").text == "\\frac{1}{3}")
    }

    @Test func numbersCompareByValueToSixDecimals() {
        #expect(verdict("0.75", gold: "\\frac{3}{4}") == .correct)
        #expect(verdict("0.333333", gold: "\\frac{1}{3}") == .correct)
        #expect(verdict("0.33", gold: "\\frac{1}{3}") == .wrong)
        #expect(verdict("1000001", gold: "1000000") == .wrong)
    }

    @Test func rootsAndPiEvaluate() {
        #expect(verdict("\\sqrt{12}", gold: "2\\sqrt{3}") == .correct)
        #expect(verdict("\\frac{1}{2}\\sqrt{3}", gold: "\\frac{\\sqrt{3}}{2}") == .correct)
        #expect(verdict("\\sqrt[3]{8}", gold: "2") == .correct)
        #expect(verdict("\\pi \\cdot 6", gold: "6\\pi") == .correct)
        #expect(verdict("3\\pi", gold: "6\\pi") == .wrong)
    }

    @Test func aWholeNumberBeforeAFractionIsAMixedNumber() {
        #expect(verdict("2\\frac{1}{4}", gold: "\\frac{9}{4}") == .correct)
    }

    @Test func expressionsWithVariablesCompareByValue() {
        #expect(verdict("(x+1)^2", gold: "x^2 + 2x + 1") == .correct)
        #expect(verdict("(x-1)^2", gold: "x^2 + 2x + 1") == .wrong)
        #expect(verdict("2y + 1", gold: "2x + 1") == .wrong)
    }

    @Test func aSimpleLeftSideIsDropped() {
        #expect(verdict("x = 4", gold: "4") == .correct)
        #expect(verdict("4", gold: "y = 4") == .correct)
        #expect(verdict("x = 5", gold: "4") == .wrong)
    }

    @Test func tuplesCompareElementWiseInOrder() {
        #expect(verdict("(1, -2)", gold: "(1,-2)") == .correct)
        #expect(verdict("(-2, 1)", gold: "(1, -2)") == .wrong)
        #expect(verdict("(1, 2)", gold: "(1, 2, 3)") == .wrong)
    }

    @Test func intervalBracketsMatterExceptAtInfinity() {
        #expect(verdict("(-\\infty, 3]", gold: "(-\\infty, 3]") == .correct)
        #expect(verdict("(-\\infty, 3)", gold: "(-\\infty, 3]") == .wrong)
        #expect(verdict("[-\\infty, 3]", gold: "(-\\infty, 3]") == .correct)
        #expect(verdict("[2, 5]", gold: "[2, 5)") == .wrong)
    }

    @Test func setsAndBareListsCompareInAnyOrder() {
        #expect(verdict("\\{3, 2, 1\\}", gold: "\\{1, 2, 3\\}") == .correct)
        #expect(verdict("3, 1", gold: "1, 3") == .correct)
        #expect(verdict("\\{1, 2\\}", gold: "\\{1, 2, 3\\}") == .wrong)
    }

    @Test func unionsOfIntervalsCompareInAnyOrder() {
        #expect(verdict("(1, \\infty) \\cup (-\\infty, -1)", gold: "(-\\infty, -1) \\cup (1, \\infty)") == .correct)
        #expect(verdict("(-\\infty, -1] \\cup [1, \\infty)", gold: "(-\\infty, -1) \\cup (1, \\infty)") == .wrong)
    }

    @Test func matricesCompareEntryByEntry() {
        let gold = "\\begin{pmatrix} 3 & -1 \\\\ 0 & 2 \\end{pmatrix}"
        #expect(verdict("\\begin{pmatrix}3&-1\\\\0&2\\end{pmatrix}", gold: gold) == .correct)
        #expect(verdict("\\begin{pmatrix}3&1\\\\0&2\\end{pmatrix}", gold: gold) == .wrong)
    }

    @Test func otherwiseTheNormalisedSpellingsMustBeEqual() {
        #expect(verdict("\\text{even}", gold: "even") == .correct)
        #expect(verdict("odd", gold: "even") == .wrong)
    }

    @Test func theAnswerReportedIsTheNormalisedBoxedContent() {
        let check = AnswerChecker.verdict(modelOutput: "\\boxed{\\dfrac12}", writtenGold: "0.5")
        #expect(check.answer == "\\frac{1}{2}")
        #expect(check.verdict == .correct)
    }

    @Test func noBoxedAnswerIsVerdictNone() {
        let check = AnswerChecker.verdict(modelOutput: "I think it is 1/2", writtenGold: "\\frac{1}{2}")
        #expect(check.answer == nil)
        #expect(check.verdict == .none)
    }

    @Test func aBoxedGoldIsUnwrapped() {
        #expect(GoldAnswer(written: "The answer is $\\boxed{\\frac{1}{2}}$") == .latex("\\frac{1}{2}"))
        #expect(verdict("0.5", gold: "\\boxed{\\frac{1}{2}}") == .correct)
    }

    @Test func gsm8kGoldIsTheNumberAfterTheMarker() {
        #expect(GoldAnswer(written: "She pays 2 * 540 = 1080\n#### 1,080") == .number("1080"))
        #expect(GoldAnswer(written: " 2\\sqrt{3} ") == .latex("2\\sqrt{3}"))
    }

    /// A gold written as GSM8K writes it gets today's numeric verdict, for every row of the
    /// GSM8K checker's own table.
    @Test(arguments: AnswerCheckerTests.table.indices)
    func gsm8kGoldKeepsTheNumericVerdict(row: Int) {
        let entry = AnswerCheckerTests.table[row]
        let numeric = AnswerChecker.verdict(modelOutput: entry.output, gold: entry.gold)
        let written = AnswerChecker.verdict(modelOutput: entry.output, writtenGold: "Reasoning...\n#### \(entry.gold)")
        #expect(written.answer == numeric.answer)
        #expect(written.verdict == numeric.verdict)
    }
}

/// The checker reads whatever a model writes: random LaTeX-like text must give a verdict,
/// never a crash or a hang.
@Suite struct LaTeXAnswerRobustnessTests {
    static let pieces = ["\\boxed{", "}", "{", "\\frac", "\\sqrt", "[", "]", "(", ")", "\\{", "\\}", ",", "1", "23", "0.5", "-",
                         "+", "^", "x", "\\pi", "\\infty", "\\cup", "=", "\\text{", " cm", "\\%", "\\$", "^\\circ", "\\left",
                         "\\right", "\\\\", "&", "\\begin{pmatrix}", "\\end{pmatrix}", ".", " ", "\\dfrac", "\\cdot", "e9", "π"]

    @Test func randomLaTeXGetsAVerdict() {
        var random = SplitMix64(seed: 16)
        func below(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
        for _ in 0..<3000 {
            var output = "\\boxed{"
            for _ in 0..<below(40) { output += Self.pieces[below(Self.pieces.count)] }
            var gold = ""
            for _ in 0..<(1 + below(12)) { gold += Self.pieces[below(Self.pieces.count)] }
            let check = AnswerChecker.verdict(modelOutput: output + "}", writtenGold: gold)
            #expect((check.answer == nil) == (check.verdict == .none), "output \(output) gold \(gold)")
        }
    }

    @Test func deeplyNestedAnswersAreReadAsText() {
        let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        #expect(AnswerChecker.verdict(modelOutput: "\\boxed{\(deep)}", writtenGold: "1").verdict == .wrong)
        let tuples = String(repeating: "(1,", count: 2000) + "1" + String(repeating: ")", count: 2000)
        #expect(AnswerChecker.verdict(modelOutput: "\\boxed{\(tuples)}", writtenGold: "(1, 1)").verdict == .wrong)
        let long = Array(repeating: "1", count: 20000).joined(separator: "+")
        #expect(AnswerChecker.verdict(modelOutput: "\\boxed{\(long)}", writtenGold: "20000").verdict == .wrong)
    }
}

/// Findings of the `answer` fuzz target (Fuzz/README.md), each a regression test.
@Suite struct LaTeXAnswerFuzzFindingTests {
    /// A sequence in mismatched brackets that is no interval, "(4, y, 3]", was unequal to
    /// itself: tuples only accepted ( ) and [ ] pairs, even when both sides wrote the same.
    @Test func aSequenceInOddBracketsEqualsItself() {
        let text = "\\cup (4, y, 3] \\cup (4, 5)"
        #expect(AnswerChecker.verdict(modelOutput: "\\boxed{\(text)}", writtenGold: text).verdict == .correct)
        #expect(AnswerChecker.verdict(modelOutput: "\\boxed{(4, y, 3]}", writtenGold: "(4, y, 3)").verdict == .wrong)
    }
}
