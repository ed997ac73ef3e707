import Experiment
import Foundation
import Testing
@testable import ResultBundle

@Suite struct PairedStatisticsTests {
    /// P(X ≤ t) for X ~ Binomial(m, ½), from binomial coefficients summed exactly in integers.
    static func exactLowerTail(m: Int, t: Int) -> Double {
        var coefficient: UInt64 = 1, sum: UInt64 = 0
        for i in 0...t {
            if i > 0 { coefficient = coefficient * UInt64(m - i + 1) / UInt64(i) }
            sum += coefficient
        }
        return Double(sum) / pow(2, Double(m))
    }

    @Test(arguments: [(1, 6), (6, 1), (10, 2), (0, 5), (4, 9), (17, 23), (30, 31)])
    func mcnemarIsTheExactTwoSidedBinomialTestOfTheDiscordantPairs(b: Int, c: Int) {
        let expected = min(1, 2 * Self.exactLowerTail(m: b + c, t: min(b, c)))
        let observed = PairedStatistics.mcnemarP(b: b, c: c)
        #expect(abs(observed - expected) <= 1e-12 * expected, "b=\(b) c=\(c): \(observed) vs \(expected)")
    }

    @Test func mcnemarOfOneAgainstSixIsOneEighth() {
        // 2 · (C(7,0) + C(7,1)) / 2^7 = 16/128.
        #expect(PairedStatistics.mcnemarP(b: 1, c: 6) == 0.125)
    }

    @Test func mcnemarWithoutDiscordantPairsOrWithBalancedOnesIsOne() {
        #expect(PairedStatistics.mcnemarP(b: 0, c: 0) == 1)
        #expect(PairedStatistics.mcnemarP(b: 3, c: 3) == 1)
    }

    @Test func mcnemarStaysFiniteAndAgreesWithLogGammaPastTwoToThe1023() {
        // 2^2100 overflows a Double: checked against the tail summed in log space with lgamma.
        let b = 980, c = 1120, m = b + c
        var expected = 0.0
        for i in 0...b {
            expected += exp(lgamma(Double(m + 1)) - lgamma(Double(i + 1)) - lgamma(Double(m - i + 1)) - Double(m) * log(2.0))
        }
        expected *= 2
        let observed = PairedStatistics.mcnemarP(b: b, c: c)
        #expect(observed > 0 && observed < 1)
        #expect(abs(observed - expected) <= 1e-9 * expected, "\(observed) vs \(expected)")
    }

    /// The bootstrap written out plainly: B resamples of n indices from one SplitMix64, one
    /// series at a time (so the draws are replayed per series), percentiles by rank.
    static func referenceInterval(_ differences: [Int], seed: UInt64) -> (lo: Double, hi: Double) {
        var generator = SplitMix64(seed: seed)
        var means: [Double] = []
        for _ in 0..<10_000 {
            var sum = 0
            for _ in differences { sum += differences[Int(generator.next() % UInt64(differences.count))] }
            means.append(Double(sum) / Double(differences.count))
        }
        means.sort()
        // The 2.5th and 97.5th percentiles: the 250th and the 9,750th of the 10,000 sorted means.
        return (means[249], means[9749])
    }

    @Test func bootstrapIntervalIsThePercentileIntervalOfTenThousandSeededResamples() {
        let accuracy = [1, 0, 0, -1, 1, 1, 0, 0, 0, 1, -1, 0]
        let tokens = [12, -40, 3, 0, 0, 95, -7, 18, 22, -3, 5, 60]
        let intervals = PairedStatistics.bootstrapIntervals(differences: [accuracy, tokens], seed: 1234)
        let expectedAccuracy = Self.referenceInterval(accuracy, seed: 1234)
        let expectedTokens = Self.referenceInterval(tokens, seed: 1234)
        #expect(intervals[0]?.lo == expectedAccuracy.lo)
        #expect(intervals[0]?.hi == expectedAccuracy.hi)
        #expect(intervals[1]?.lo == expectedTokens.lo)
        #expect(intervals[1]?.hi == expectedTokens.hi)
        let mean = Double(tokens.reduce(0, +)) / Double(tokens.count)
        #expect(intervals[1]!.lo < mean && mean < intervals[1]!.hi)
    }

    @Test func bootstrapDependsOnTheSeed() {
        let tokens = [12, -40, 3, 0, 0, 95, -7, 18, 22, -3, 5, 60]
        let a = PairedStatistics.bootstrapIntervals(differences: [tokens], seed: 1)[0]!
        let b = PairedStatistics.bootstrapIntervals(differences: [tokens], seed: 2)[0]!
        #expect(a.lo != b.lo || a.hi != b.hi)
    }

    @Test func bootstrapOfAConstantDifferenceIsThatDifference() {
        let interval = PairedStatistics.bootstrapIntervals(differences: [[-4, -4, -4]], seed: 9)[0]!
        #expect(interval.lo == -4 && interval.hi == -4)
    }

    @Test func bootstrapWithoutProblemsHasNoInterval() {
        let intervals = PairedStatistics.bootstrapIntervals(differences: [[], []], seed: 0)
        #expect(intervals.count == 2 && intervals.allSatisfy { $0 == nil })
    }

    @Test func firstDivergenceIsTheFirstDifferingGeneratedIndex() {
        #expect(PairedStatistics.firstDivergence([5, 6, 7, 8], [5, 6, 9, 8]) == 2)
        #expect(PairedStatistics.firstDivergence([1, 2], [3, 2]) == 0)
    }

    @Test func firstDivergenceOfAPrefixIsTheShorterLength() {
        #expect(PairedStatistics.firstDivergence([5, 6, 7], [5, 6, 7, 8, 9]) == 3)
        #expect(PairedStatistics.firstDivergence([], [4]) == 0)
    }

    @Test func identicalOutputsHaveNoDivergence() {
        #expect(PairedStatistics.firstDivergence([5, 6, 7], [5, 6, 7]) == nil)
        #expect(PairedStatistics.firstDivergence([], []) == nil)
    }

    @Test func repeated4gramsCountsFourGramsSeenEarlierInTheSameOutput() {
        // 4-grams: 1234 2341 3412 4123 1234* 2341*: the last two repeat.
        let r = PairedStatistics.repeated4grams([1, 2, 3, 4, 1, 2, 3, 4, 1])
        #expect(r.repeated == 2 && r.total == 6)
    }

    @Test func aWaitWaitLoopRepeatsEveryFourGramAfterTheFirst() {
        let r = PairedStatistics.repeated4grams([7, 7, 7, 7, 7, 7])
        #expect(r.repeated == 2 && r.total == 3)
    }

    @Test func outputsWithoutRepeatsOrShorterThanFourTokensRepeatNothing() {
        let distinct = PairedStatistics.repeated4grams([1, 2, 3, 4, 5])
        #expect(distinct.repeated == 0 && distinct.total == 2)
        let short = PairedStatistics.repeated4grams([1, 2, 3])
        #expect(short.repeated == 0 && short.total == 0)
    }
}
