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
