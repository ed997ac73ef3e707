/// How the next token is chosen, as Hugging Face `generate` does with a generation config:
/// logits / temperature, then top-k, then top-p (nucleus), then a draw; temperature 0 is greedy.
public struct SamplingParameters: Sendable, Equatable {
    public var temperature: Float
    /// Keep the k highest logits (ties with the k-th kept, as transformers' TopKLogitsWarper); 0 = off.
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability exceeds top_p; 1 = off.
    public var topP: Double

    public init(temperature: Float, topK: Int = 0, topP: Double = 1) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }

    public static let greedy = SamplingParameters(temperature: 0)
    public var isGreedy: Bool { temperature <= 0 }
}

extension SamplingParameters {
    /// The one rule by which `generate`, `run` and the coordinator settle sampling: a flag given
    /// on the command line wins; otherwise the model's generation_config.json decides, where
    /// `do_sample: false` means greedy (temperature 0) and top-p / top-k are still recorded as
    /// the config gives them. Values are carried as given (top-p as the Double parsed from the
    /// flag), so every command hands the sampler the same numbers transformers would use.
    public static func resolve(temperature: Double?, topP: Double?, topK: Int?, defaults: SamplingDefaults) -> SamplingParameters {
        let t = temperature ?? (defaults.doSample ? defaults.temperature : 0)
        return SamplingParameters(temperature: Float(t), topK: topK ?? defaults.topK, topP: topP ?? defaults.topP)
    }
}

/// What a model's generation_config.json says about sampling (transformers' defaults where a
/// key is absent: greedy, temperature 1, top-k 50, top-p 1).
public struct SamplingDefaults: Equatable, Sendable {
    public var doSample: Bool
    public var temperature: Double
    public var topP: Double
    public var topK: Int

    public init(doSample: Bool = false, temperature: Double = 1, topP: Double = 1, topK: Int = 50) {
        self.doSample = doSample
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
    }
}
