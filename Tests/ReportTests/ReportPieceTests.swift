import Experiment
import ResultBundle
import Foundation
import Testing
@testable import Report

@Suite struct ReportPieceTests {
    @Test func tokenTextMakesWhitespaceAndControlsVisible() {
        #expect(TokenText.label(" ", id: 220) == "␣:220")
        #expect(TokenText.visible("\n\t\r") == "↵⇥␍")
        #expect(TokenText.visible("") == "∅")
        #expect(TokenText.visible("a\u{00}\u{1B}\u{7F}\u{85}\u{FFFE}") == "a␀␛␡⟨U+0085⟩⟨U+FFFE⟩")
        #expect(TokenText.inline(" a\nb") == " a↵b")
        #expect(TokenText.label(String(repeating: "x", count: 40), id: 1) == String(repeating: "x", count: 17) + "…:1")
    }

    @Test func htmlEscapingCoversMarkupQuotesAndControls() {
        var out = HTMLBuffer()
        out.text("<a href=\"x\">&</a>\u{01}")
        out.raw("|")
        out.attribute("\"'<\n")
        #expect(String(decoding: out.bytes, as: UTF8.self) == "&lt;a href=\"x\"&gt;&amp;&lt;/a&gt;␁|&quot;'&lt;&#10;")
    }

    @Test func htmlEscapingKeepsTextAndReplacesC1ControlsAndNoncharacters() {
        var out = HTMLBuffer()
        // U+FDCF (EF B7 8F) is an ordinary character sharing its first bytes with the noncharacters.
        var input = String.UnicodeScalarView()
        for v: UInt32 in [0x61, 0xB7, 0x62, 0x20, 0x2192, 0x20, 0xFFFD, 0xFDCF, 0x7C, 0x85, 0x7C, 0xFDD0, 0x7C, 0xFFFF, 0x7C] {
            input.append(Unicode.Scalar(v)!)
        }
        out.text(String(input) + "x&y")
        #expect(String(decoding: out.bytes, as: UTF8.self) == "a·b → \u{FFFD}\u{FDCF}|⟨U+0085⟩|⟨U+FDD0⟩|⟨U+FFFF⟩|x&amp;y")
        var plain = HTMLBuffer()
        plain.attribute("tab\there")
        #expect(String(decoding: plain.bytes, as: UTF8.self) == "tab&#9;here")
    }

    @Test func chartCoordinatesHaveOneDecimalWithoutTrailingZero() {
        var out = HTMLBuffer()
        for x in [12.0, 12.04, 12.06, -3.25, 0.0, 202.96] { out.coord(x); out.raw(" ") }
        #expect(String(decoding: out.bytes, as: UTF8.self) == "12 12 12.1 -3.3 0 203 ")
    }

    @Test func fixedFormattingIsExactAndLocaleFree() {
        #expect(Format.fixed(3.14159, 3) == "3.142")
        #expect(Format.fixed(-0.05, 1) == "-0.1")
        #expect(Format.fixed(2, 2) == "2.00")
        #expect(Format.fixed(12345.678, 0) == "12346")
        var out = HTMLBuffer()
        out.int(-1234567)
        out.int(0)
        #expect(String(decoding: out.bytes, as: UTF8.self) == "-12345670")
    }

    @Test func logOddsRatioMatchesTheHaldaneFormula() {
        let lor = LogOddsRatio(firedCorrect: 8, correct: 10, firedWrong: 2, wrong: 10)
        let expected = log((8.5 / 2.5) / (2.5 / 8.5))
        let se = (1 / 8.5 + 1 / 2.5 + 1 / 2.5 + 1 / 8.5).squareRoot()
        print("log odds max difference:", abs(lor.estimate - expected), abs(lor.low - (expected - 1.959964 * se)))
        #expect(abs(lor.estimate - expected) < 1e-12)
        #expect(abs(lor.low - (expected - 1.959964 * se)) < 1e-12)
        #expect(lor.isSignificant)
        #expect(!LogOddsRatio(firedCorrect: 5, correct: 10, firedWrong: 5, wrong: 10).isSignificant)
        #expect(LogOddsRatio.sampleTooSmall(correct: 9, wrong: 50) != nil)
        #expect(LogOddsRatio.sampleTooSmall(correct: 10, wrong: 10) == nil)
    }

    @Test func positionBinsFollowTheirDefinitions() {
        #expect(PositionBins.think(0) == 10)
        #expect(PositionBins.think(-1) == 9 && PositionBins.think(-2) == 8 && PositionBins.think(-3) == 8 && PositionBins.think(-4) == 7)
        #expect(PositionBins.think(1) == 11 && PositionBins.think(511) == 19 && PositionBins.think(512) == 20 && PositionBins.think(99_999) == 20)
        #expect(PositionBins.think(-100_000) == 0)
        #expect(PositionBins.end(0) == 0 && PositionBins.end(1) == 1 && PositionBins.end(3) == 2 && PositionBins.end(1 << 20) == 15)
        #expect(PositionBins.thinkLabel(8) == "−2…3" && PositionBins.thinkLabel(0) == "≤−512" && PositionBins.thinkLabel(20) == "≥+512")
        #expect(PositionBins.endLabel(2) == "2…3" && PositionBins.endLabel(15) == "≥16384")
    }

    @Test func pairSelectionKeepsExactlyTheBestPairs() {
        var g = SplitMix64(seed: 3)
        var all: [ActivationPair] = []
        var selection = PairSelection(capacity: 50)
        for i in 0..<5_000 {
            let p = ActivationPair(act: Float(g.below(200)) / 8, feature: Int32(g.below(100)), problem: Int32(i / 100), position: Int32(i % 100))
            all.append(p)
            selection.offer(p)
        }
        #expect(selection.result() == Array(all.sorted(by: ActivationPair.beats).prefix(50)))
    }

    @Test func pairSelectionRanksTiesByTheFullOrder() {
        var selection = PairSelection(capacity: 30)
        var all: [ActivationPair] = []
        for i in 0..<1_000 {
            let p = ActivationPair(act: i % 7 == 0 ? 2 : 1, feature: Int32((i * 37) % 101), problem: Int32(i % 3), position: Int32(i))
            all.append(p)
            selection.offer(p)
        }
        #expect(selection.result() == Array(all.sorted(by: ActivationPair.beats).prefix(30)))
        var few = PairSelection(capacity: 30)
        for p in all.prefix(10) { few.offer(p) }
        #expect(few.result() == Array(all.prefix(10)).sorted(by: ActivationPair.beats))
    }

    @Test func logTicksAreWholeDecades() {
        let scale = ValueScale(values: [0, 1, 40, 12_000], log: true, pixels: 100)
        #expect(scale.pixels(0) == 0)
        #expect(scale.pixels(1) > 0 && scale.pixels(12_000) <= 100)
        #expect(scale.pixels(10) < scale.pixels(100))
        #expect(Ticks.linear(max: 9.3, count: 5) == [0, 2, 4, 6, 8])
        #expect(Ticks.niceCeiling(7.1) == 10 && Ticks.niceCeiling(0.21) == 0.25)
    }
}
