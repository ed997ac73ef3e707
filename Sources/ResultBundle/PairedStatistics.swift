import Experiment
import Foundation

/// The paired statistics of an intervention run: each problem is run under the baseline and
/// under the condition with the same random stream, so each problem gives one paired
/// difference and the tests and intervals are over problems. Pure functions of their inputs:
/// the same bytes on any machine for the same pairs and seed.
public enum PairedStatistics {
    /// Resamples of the paired bootstrap.
    public static let bootstrapResamples = 10_000
    /// Ranks (from 0) of the interval's ends among the sorted resampled means: the 2.5th and
    /// 97.5th percentiles as the features' bootstrap takes them (`HookpointStatistics`),
    /// ⌈0.025·B⌉ − 1 and ⌈0.975·B⌉ − 1: the 250th and the 9,750th of 10,000.
    public static let bootstrapRanks = (low: 249, high: 9_749)

    /// Exact two-sided McNemar test: under the null hypothesis each of the `b + c` discordant
    /// pairs (baseline right and condition wrong: `b`; the reverse: `c`) goes either way with
    /// probability ½, so p = min(1, 2·P(X ≤ min(b, c))) for X ~ Binomial(b + c, ½); 1 when no
    /// pair is discordant.
    public static func mcnemarP(b: Int, c: Int) -> Double {
        precondition(b >= 0 && c >= 0, "discordant counts are never negative")
        let m = b + c, t = min(b, c)
        guard m > 0 else { return 1 }
        // Σ C(m, i) for i ≤ t, upwards: C(m, i) = C(m, i-1)·(m-i+1)/i, exact while below 2^53
        // (every case a test can count by hand is exact). Powers of two are split off into
        // `exponent` so nothing overflows, and 2^-m is applied at the end by exponent
        // arithmetic alone: no logarithms, so the same bits on every platform.
        var term = 1.0, sum = 1.0, exponent = 0
        for i in stride(from: 1, through: t, by: 1) {
            term = term * Double(m - i + 1) / Double(i)
            sum += term
            if sum > 0x1p500 {
                term = term * 0x1p-500
                sum = sum * 0x1p-500
                exponent += 500
            }
        }
        return min(1, 2 * scalbn(sum, exponent - m))
    }

    /// Paired bootstrap over problems: `bootstrapResamples` resamples, each of `n` problems
    /// drawn with replacement as `SplitMix64(seed:).below(n)` in order (one generator for all
    /// resamples, started afresh for every call), and for each series the mean difference of
    /// every resample. Returns per series the 95% interval (`bootstrapRanks`), or nil when
    /// there are no problems. All series share the same draws, and since the differences are
    /// integers their sums are exact: the interval depends only on the pairs and the seed.
    public static func bootstrapIntervals(differences series: [[Int]], seed: UInt64) -> [(lo: Double, hi: Double)?] {
        let n = series.first?.count ?? 0
        precondition(series.allSatisfy { $0.count == n }, "every series has one difference per problem")
        guard n > 0 else { return series.map { _ in nil } }
        let count = series.count
        // Problem-major, so one draw reads its differences from adjacent slots.
        var differences = [Int](repeating: 0, count: n * count)
        for (s, values) in series.enumerated() { for (i, v) in values.enumerated() { differences[i * count + s] = v } }
        var means = [Double](repeating: 0, count: count * bootstrapResamples)  // series-major
        var sums = [Int](repeating: 0, count: count)
        var generator = SplitMix64(seed: seed)
        differences.withUnsafeBufferPointer { d in
            sums.withUnsafeMutableBufferPointer { sum in
                means.withUnsafeMutableBufferPointer { mean in
                    for resample in 0..<bootstrapResamples {
                        for s in 0..<count { sum[s] = 0 }
                        for _ in 0..<n {
                            let row = generator.below(n) * count
                            for s in 0..<count { sum[s] += d[row + s] }
                        }
                        for s in 0..<count { mean[s * bootstrapResamples + resample] = Double(sum[s]) / Double(n) }
                    }
                }
            }
        }
        return (0..<count).map { s in
            let sorted = means[(s * bootstrapResamples)..<((s + 1) * bootstrapResamples)].sorted()
            return (sorted[bootstrapRanks.low], sorted[bootstrapRanks.high])
        }
    }

    /// The first generated index at which two outputs differ (where one is a prefix of the
    /// other, the length of the shorter); nil when they are identical.
    public static func firstDivergence(_ a: [Int32], _ b: [Int32]) -> Int? {
        let common = min(a.count, b.count)
        for i in 0..<common where a[i] != b[i] { return i }
        return a.count == b.count ? nil : common
    }

    /// Of an output's 4-grams (tokens i…i+3, overlapping, `max(0, count − 3)` of them), how
    /// many repeat a 4-gram that starts earlier in the same output.
    public static func repeated4grams(_ tokens: [Int32]) -> (repeated: Int, total: Int) {
        guard tokens.count >= 4 else { return (0, 0) }
        struct Gram: Hashable { let a, b, c, d: Int32 }
        var seen = Set<Gram>()
        var repeated = 0
        for i in 0...(tokens.count - 4) {
            if !seen.insert(Gram(a: tokens[i], b: tokens[i + 1], c: tokens[i + 2], d: tokens[i + 3])).inserted { repeated += 1 }
        }
        return (repeated, tokens.count - 3)
    }
}
