import Foundation

/// Correct-vs-wrong comparison of one feature: the log odds ratio of "the feature fired in
/// the problem" between correctly and wrongly answered problems, with a 95% Wald interval.
/// Every cell gets +0.5 (Haldane–Anscombe), so features that fired in all or none of a group
/// still get a finite estimate.
public struct LogOddsRatio: Sendable, Equatable {
    public let estimate: Double
    public let low: Double
    public let high: Double

    /// Fewer problems than this in either group (correct, wrong) and the report says the
    /// sample is too small to compare them, and shows no ranking.
    public static let minimumProblemsPerGroup = 10
    /// A feature that fired in fewer problems than this (correct + wrong) gets no estimate.
    public static let minimumFiringProblems = 5

    public init(firedCorrect a: Int, correct: Int, firedWrong b: Int, wrong: Int) {
        let a1 = Double(a) + 0.5, a0 = Double(correct - a) + 0.5
        let b1 = Double(b) + 0.5, b0 = Double(wrong - b) + 0.5
        estimate = Foundation.log(a1 / a0) - Foundation.log(b1 / b0)
        let se = (1 / a1 + 1 / a0 + 1 / b1 + 1 / b0).squareRoot()
        low = estimate - 1.959964 * se
        high = estimate + 1.959964 * se
    }

    /// Whether the 95% interval excludes 0.
    public var isSignificant: Bool { low > 0 || high < 0 }

    /// Why no comparison can be made for these group sizes, or nil when it can.
    public static func sampleTooSmall(correct: Int, wrong: Int) -> String? {
        guard correct < minimumProblemsPerGroup || wrong < minimumProblemsPerGroup else { return nil }
        return "The sample is too small to compare correct and wrong answers: \(correct) correct and \(wrong) wrong problems; "
            + "at least \(minimumProblemsPerGroup) of each are needed for a meaningful interval."
    }
}

/// Bins of a position's distance to `</think>` and to the end of the generation, on log2
/// scales: the study had no such view; it shows whether a feature belongs to early
/// reasoning, the run-up to the answer, or the answer itself.
enum PositionBins {
    /// Signed distance d = position − think_end: bin 10 is the `</think>` token; 9…0 are
    /// d = −1, −2…−3, −4…−7, … ≤ −512; 11…20 are d = 1, 2…3, … ≥ 512.
    static let thinkCount = 21
    /// Distance to the last generated token: 0 (the last), 1, 2…3, 4…7, … ≥ 16384.
    static let endCount = 16

    @inline(__always)
    static func think(_ d: Int) -> Int {
        if d == 0 { return 10 }
        let magnitude = d.magnitude
        let j = min(10, Int(UInt.bitWidth - magnitude.leadingZeroBitCount))  // floor(log2) + 1
        return d < 0 ? 10 - j : 10 + j
    }

    @inline(__always)
    static func end(_ d: Int) -> Int {
        if d <= 0 { return 0 }
        return min(endCount - 1, Int(UInt.bitWidth - UInt(d).leadingZeroBitCount))
    }

    static func thinkLabel(_ bin: Int) -> String {
        if bin == 10 { return "0" }
        let j = abs(bin - 10)
        let sign = bin < 10 ? "−" : "+"
        if j == 10 { return (bin < 10 ? "≤−" : "≥+") + String(1 << 9) }
        let lo = 1 << (j - 1), hi = (1 << j) - 1
        return lo == hi ? sign + String(lo) : sign + String(lo) + "…" + String(hi)
    }

    static func endLabel(_ bin: Int) -> String {
        if bin == 0 { return "0" }
        if bin == endCount - 1 { return "≥" + String(1 << (bin - 1)) }
        let lo = 1 << (bin - 1), hi = (1 << bin) - 1
        return lo == hi ? String(lo) : String(lo) + "…" + String(hi)
    }
}

