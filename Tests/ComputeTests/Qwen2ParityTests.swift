import Foundation
import Testing
@testable import Compute

/// The engine against transformers' float32 reference on the committed fixtures.
@Suite("Qwen2 parity with Hugging Face transformers")
struct Qwen2ParityTests {
    /// Tolerance relative to the reference's scale (its largest magnitude), per the issue.
    static let relativeTolerance: Float = 1e-4

    @Test("hookpoint activations at every prompt and generated position match the reference", arguments: Qwen2Fixtures.names)
    func activationsMatch(fixture: String) throws {
        let model = try Qwen2Fixtures.model(fixture)
        let reference = try Qwen2Fixtures.reference(fixture)
        let sequence = try reference.tensor("sequence_ids").int32s()
        let prompt = try reference.tensor("prompt_ids").int32s()
        let layers = model.config.numHiddenLayers
        let sink = RecordingSink()
        let generator = Generator(model: model, slots: 1, contextCapacity: sequence.count, prefillChunk: 8,
                                  hookpoints: allHookpoints(layers: layers), sink: sink)
        try generator.submit(GenerationRequest(id: 7, promptTokens: prompt, maxNewTokens: sequence.count - prompt.count,
                                               sampling: .greedy, random: SequenceRandom(runSeed: 0, problemID: "p"), stopTokens: []))
        _ = generator.run()

        var worst: Float = 0
        for hookpoint in allHookpoints(layers: layers) {
            let expected = try reference.tensor(hookpoint.description)
            let hidden = expected.shape[1]
            let flat = expected.floats()
            let rows = (0..<expected.shape[0]).map { Array(flat[($0 * hidden)..<(($0 + 1) * hidden)]) }
            let observed = sink.matrix(sequence: 7, hookpoint: hookpoint)
            #expect(observed.count == sequence.count, "\(hookpoint): \(observed.count) positions captured")
            guard observed.count == rows.count else { continue }
            let (difference, scale) = maxDifference(observed, rows)
            worst = max(worst, difference / scale)
            #expect(difference <= Self.relativeTolerance * scale, "\(fixture) \(hookpoint): max abs error \(difference), reference scale \(scale)")
        }
        print("\(fixture): worst activation error relative to reference scale \(worst) over \(sequence.count) positions")
    }

    @Test("logits at the last prompt position match the reference", arguments: Qwen2Fixtures.names)
    func lastLogitsMatch(fixture: String) throws {
        let model = try Qwen2Fixtures.model(fixture)
        let reference = try Qwen2Fixtures.reference(fixture)
        let prompt = try reference.tensor("prompt_ids").int32s()
        let expected = try reference.tensor("last_logits").floats()
        let workspace = Qwen2Workspace(config: model.config, maxRows: prompt.count, slots: 1, capacity: prompt.count)
        var batch = ForwardBatch(capacity: prompt.count)
        for (position, token) in prompt.enumerated() {
            batch.append(slot: 0, row: ActivationRow(sequenceID: 0, position: position, tokenID: token, isPrompt: true),
                         wantsLogits: position == prompt.count - 1)
        }
        model.forward(batch, workspace: workspace)
        let observed = Array(workspace.logits(at: 0, vocab: model.config.vocabSize))
        let (difference, scale) = maxDifference([observed], [expected])
        print("\(fixture): last-position logits max abs error \(difference) (reference scale \(scale))")
        #expect(difference <= Self.relativeTolerance * scale)
    }

    @Test("greedy decoding reproduces the reference tokens", arguments: Qwen2Fixtures.names)
    func greedyTokensMatch(fixture: String) throws {
        let model = try Qwen2Fixtures.model(fixture)
        let reference = try Qwen2Fixtures.reference(fixture)
        let sequence = try reference.tensor("sequence_ids").int32s()
        let prompt = try reference.tensor("prompt_ids").int32s()
        let generator = Generator(model: model, slots: 1, contextCapacity: sequence.count)
        try generator.submit(GenerationRequest(id: 0, promptTokens: prompt, maxNewTokens: sequence.count - prompt.count,
                                               sampling: .greedy, random: SequenceRandom(runSeed: 0, problemID: "p"), stopTokens: []))
        let result = try #require(generator.run().first)
        #expect(result.generatedTokens == Array(sequence[prompt.count...]))
        #expect(result.stopReason == .maxNewTokens)
    }
}
