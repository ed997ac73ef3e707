import Compute
import Experiment

/// `thinklens bench generate --kv-cache bf16`: what the bfloat16 cache changes on this model.
/// One prompt is decoded greedily twice, with a float32 and a bfloat16 cache, recording one
/// hookpoint; the figures are those the parity tests give against torch (ParityFigures): where
/// the greedy tokens first diverge, the activation error at the hookpoint, and, with an SAE for
/// the hookpoint, the share of top-k latents the two runs share.
///
/// Activations are compared only at positions whose tokens are the same in both runs (the
/// prompt and the generated tokens before the first divergence): past it the two runs read
/// different text, and their difference says nothing about the cache.
struct KVCacheComparison {
    let model: Qwen2Model
    let hookpoint: Hookpoint
    let sae: SparseAutoencoder?

    struct Result {
        var promptTokens: Int
        var newTokens: Int
        /// Index among the generated tokens of the first that differs; nil when all agree.
        var firstDivergence: Int?
        var error: ParityFigures.ActivationError
        /// Positions compared (the rows of `error`, and of the top-k agreement).
        var comparedPositions: Int
        var topKAgreement: Double?
    }

    func run(prompt: [Int32], newTokens: Int) throws -> Result {
        let exact = try generate(prompt: prompt, newTokens: newTokens, kvCache: .f32)
        let rounded = try generate(prompt: prompt, newTokens: newTokens, kvCache: .bf16)
        let divergence = ParityFigures.firstDivergence(exact.tokens, rounded.tokens)
        let width = model.config.hiddenSize
        let recorded = min(exact.activations.count, rounded.activations.count) / width
        let positions = min(recorded, prompt.count + (divergence ?? newTokens))
        let values = positions * width
        let error = ParityFigures.activationError(rounded.activations[..<values], reference: exact.activations[..<values])
        var agreement: Double?
        if let sae, positions > 0 {
            agreement = ParityFigures.topKAgreement(sae.encode(Array(rounded.activations[..<values]), rows: positions),
                                                    sae.encode(Array(exact.activations[..<values]), rows: positions))
        }
        return Result(promptTokens: prompt.count, newTokens: newTokens, firstDivergence: divergence, error: error,
                      comparedPositions: positions, topKAgreement: agreement)
    }

    private func generate(prompt: [Int32], newTokens: Int, kvCache: KVCacheDType) throws -> (tokens: [Int32], activations: [Float]) {
        let recorder = ActivationRecorder(hookpoints: [hookpoint])
        let generator = Generator(model: model, slots: 1, contextCapacity: prompt.count + newTokens, hookpoints: [hookpoint],
                                  sink: recorder, kvCache: kvCache)
        try generator.submit(GenerationRequest(id: 0, promptTokens: prompt, maxNewTokens: newTokens, sampling: .greedy,
                                               random: SequenceRandom(runSeed: 0, problemID: "kv-cache-comparison"), stopTokens: []))
        let result = generator.run().first!
        return (result.generatedTokens, recorder.recordings[0]?.values[hookpoint] ?? [])
    }
}
