import Experiment
import Foundation

/// Two-sided sign-flip permutation test of a mean of per-problem differences: under the null
/// hypothesis each difference is as likely positive as negative, so flipping signs at random
/// gives the null distribution of the mean.
///
/// - Exact when 2^problems ≤ 100,000: every sign pattern is enumerated, p = (patterns at least
///   as extreme) / 2^problems. Zero differences are unchanged by a flip, so patterns of the
///   non-zero ones give the same fraction.
/// - Otherwise up to 100,000 seeded random patterns, p = (1 + as extreme) / (1 + drawn).
///   Drawing stops early once `stopAfterExtreme` (20) patterns were as extreme (a sequential
///   Monte Carlo p-value after Besag and Clifford, 1991): such a p-value is clearly not small,
///   and the remaining draws would only refine it; without this the tests of a GSM8K-sized
///   run (65,536 features × 7,000 problems × 100,000 patterns) would take hours.
///
/// "As extreme": |Σ flipped| ≥ |Σ observed| within 1e-9 of Σ|d| (the sums are the same
/// numbers added in other orders, so rounding must not decide).
public enum SignFlipTest {
    public static let exactLimit = 100_000
    public static let draws = 100_000
    public static let stopAfterExtreme = 20

    public static func isExact(problems: Int) -> Bool { problems < 62 && (1 << problems) <= exactLimit }

    /// `nonZero`: the non-zero differences in problem order; `problems`: how many problems
    /// there are, zeros included. `generator` is used only when the test is sampled.
    public static func pValue(nonZero d: [Double], problems: Int, generator: inout SplitMix64) -> Double {
        let n = d.count
        if n == 0 { return 1 }
        var observed = 0.0, scale = 0.0
        for x in d { observed += x; scale += abs(x) }
        let bar = abs(observed) - 1e-9 * scale
        if isExact(problems: problems) {
            var extreme = 0
            for mask in 0..<(1 << n) {
                var s = 0.0
                for i in 0..<n { s += (mask >> i) & 1 == 0 ? d[i] : -d[i] }
                if abs(s) >= bar { extreme += 1 }
            }
            return Double(extreme) / Double(1 << n)
        }
        // A pattern is read 8 signs at a time: per block of 8 differences, the 256 sums of
        // its sign patterns are tabulated once (bit i set: d[i] flipped), so one draw costs
        // n/8 table reads. Blocks are added in order, so the sums are the same on every run.
        let blocks = (n + 7) / 8
        var table = [Double](repeating: 0, count: blocks * 256)
        for b in 0..<blocks {
            let base = b * 256
            for i in 0..<min(8, n - b * 8) { table[base] += d[b * 8 + i] }
            for mask in 1..<256 {
                let low = mask.trailingZeroBitCount
                let i = b * 8 + low
                table[base + mask] = table[base + (mask & (mask - 1))] - (i < n ? 2 * d[i] : 0)
            }
        }
        var extreme = 0, drawn = 0
        table.withUnsafeBufferPointer { table in
            while drawn < draws {
                var s = 0.0, bits: UInt64 = 0
                for b in 0..<blocks {
                    if b & 7 == 0 { bits = generator.next() }
                    s += table[b * 256 + Int((bits >> UInt64((b & 7) * 8)) & 0xFF)]
                }
                drawn += 1
                if abs(s) >= bar {
                    extreme += 1
                    if extreme >= stopAfterExtreme { break }
                }
            }
        }
        return Double(1 + extreme) / Double(1 + drawn)
    }
}

/// Two-sided permutation test of the correct-vs-wrong log odds ratio under shuffled
/// correct/wrong labels. The statistic depends on the labels only through a, the number of
/// problems labelled correct among the m where the feature fired, and a shuffle makes a
/// hypergeometric; so the p-value sums the exact probabilities of every a whose |log odds
/// ratio| is at least the observed one: the exact permutation p-value, at any sample size
/// (no sampling, so no seed is needed).
public struct LabelShuffleTest: Sendable {
    public let correct: Int
    public let wrong: Int
    /// log(i + 0.5) and log(i) for i in 0...correct + wrong + 1, so a test costs no logarithms.
    private let logHalf: [Double]
    private let logWhole: [Double]

    public init(correct: Int, wrong: Int) {
        self.correct = correct
        self.wrong = wrong
        logHalf = (0...(correct + wrong + 1)).map { Foundation.log(Double($0) + 0.5) }
        logWhole = (0...(correct + wrong + 1)).map { Foundation.log(Double($0)) }
    }

    /// The log odds ratio with a of the m fired problems labelled correct (as `LogOddsRatio`).
    @inline(__always)
    private func statistic(_ a: Int, fired m: Int) -> Double {
        (logHalf[a] - logHalf[correct - a]) - (logHalf[m - a] - logHalf[wrong - m + a])
    }

    public func pValue(firedCorrect a: Int, firedWrong b: Int) -> Double {
        let total = correct + wrong, fired = a + b
        let lo = max(0, correct + fired - total), hi = min(fired, correct)
        guard hi > lo else { return 1 }
        let observed = abs(statistic(a, fired: fired))
        let bar = observed - 1e-9 * max(1, observed)
        // log P(x) up to a constant, by the ratio P(x+1)/P(x) = (m−x)(nc−x) / ((x+1)(N−m−nc+x+1)).
        var logWeight = 0.0, top = 0.0
        var weights = [Double](repeating: 0, count: hi - lo + 1)
        for x in lo..<hi {
            logWeight += logWhole[fired - x] + logWhole[correct - x] - logWhole[x + 1] - logWhole[total - fired - correct + x + 1]
            weights[x - lo + 1] = logWeight
            top = max(top, logWeight)
        }
        var all = 0.0, extreme = 0.0
        for x in lo...hi {
            let w = Foundation.exp(weights[x - lo] - top)
            all += w
            if abs(statistic(x, fired: fired)) >= bar { extreme += w }
        }
        return min(1, extreme / all)
    }
}

/// Benjamini–Hochberg adjusted p-values (q-values): with the m p-values sorted ascending,
/// q₍ᵢ₎ = min over j ≥ i of m·p₍ⱼ₎ / j, at most 1. Rejecting q ≤ α controls the false
/// discovery rate at α for independent or positively dependent tests.
public enum BenjaminiHochberg {
    public static func adjust(_ p: [Double]) -> [Double] {
        let m = p.count
        let order = p.indices.sorted { p[$0] != p[$1] ? p[$0] < p[$1] : $0 < $1 }
        var q = [Double](repeating: 1, count: m)
        var running = 1.0
        for rank in stride(from: m, through: 1, by: -1) {
            let i = order[rank - 1]
            running = min(running, p[i] * Double(m) / Double(rank))
            q[i] = running
        }
        return q
    }
}
