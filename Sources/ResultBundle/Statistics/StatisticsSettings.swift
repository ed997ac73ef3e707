import Experiment

/// What the statistics depend on besides the bundle: the reasoning words, ReasonScore's α and
/// the run seed every random stream starts from.
public struct StatisticsSettings: Sendable, Equatable {
    public static let defaultAlpha = 0.7
    public var words: ReasoningWords
    public var alpha: Double
    public var seed: UInt64

    public init(words: ReasoningWords = .standard, alpha: Double = defaultAlpha, seed: UInt64) {
        self.words = words
        self.alpha = alpha
        self.seed = seed
    }

    /// The run seed of a manifest (`generation.seed`; 0 when absent).
    public static func seed(of manifest: RunManifest) -> UInt64 {
        UInt64(bitPattern: Int64(manifest.generation["seed"]?.intValue ?? 0))
    }
}
