/// What one generation of a run asks for: how many new tokens at most, how to sample, and the
/// run seed from which each problem's random stream is derived. Travels in every `assign`.
public struct GenerationParameters: Equatable, Sendable {
    public var maxNewTokens: Int
    public var sampling: SamplingParameters
    public var seed: UInt64

    public init(maxNewTokens: Int, sampling: SamplingParameters, seed: UInt64) {
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.seed = seed
    }
}
