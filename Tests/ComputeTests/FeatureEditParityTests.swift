import Experiment
import Foundation
import Testing
@testable import Compute

/// Feature edits in the engine against an independent implementation: transformers forward hooks
/// encoding with sparsify's own SparseCoder (scripts/make-intervention-fixtures.py).
@Suite("Feature edits: parity with transformers + sparsify")
struct FeatureEditParityTests {
    static let caseNames = ["baseline", "ablate", "clamp", "scale", "add", "multi", "generated"]

    @Test("greedy tokens and the activations downstream of the edits match the reference", arguments: caseNames)
    func editedGenerationMatches(name: String) throws {
        let model = try Qwen2Fixtures.model(InterventionFixtures.model)
        let saes = try InterventionFixtures.saes()
        let reference = try InterventionFixtures.reference()
        let editText = try #require(try InterventionFixtures.cases().first { $0.name == name }).edits
        let edits = try InterventionFixtures.bind(editText, model: model, saes: saes)
        let prompt = try reference.tensor("prompt_ids").int32s()
        let expectedSequence = try reference.tensor("\(name).sequence_ids").int32s()

        let final = Hookpoint.hiddenStates(model.config.numHiddenLayers)
        let edited = Array(Set(edits.map(\.hookpoint))).sorted { $0.description < $1.description }
        let sink = RecordingSink()
        let generator = Generator(model: model, slots: 1, contextCapacity: expectedSequence.count, prefillChunk: 4,
                                  hookpoints: [final] + edited, sink: sink)
        try generator.submit(GenerationRequest(id: 3, promptTokens: prompt, maxNewTokens: expectedSequence.count - prompt.count,
                                               sampling: .greedy, random: SequenceRandom(runSeed: 0, problemID: "p"),
                                               stopTokens: [], edits: edits))
        let result = try #require(generator.run().first)
        #expect(result.generatedTokens == Array(expectedSequence[prompt.count...]), "\(name) (\(editText)): greedy tokens")

        for hookpoint in [final] + edited {
            let expected = try reference.tensor("\(name).\(hookpoint)")
            let width = expected.shape[1], flat = expected.floats()
            let rows = (0..<expected.shape[0]).map { Array(flat[($0 * width)..<(($0 + 1) * width)]) }
            let observed = sink.matrix(sequence: 3, hookpoint: hookpoint)
            #expect(observed.count == rows.count, "\(name) \(hookpoint): \(observed.count) positions captured")
            guard observed.count == rows.count else { continue }
            let (difference, scale) = maxDifference(observed, rows)
            print("\(name) (\(editText.isEmpty ? "no edits" : editText)) \(hookpoint): max abs error \(difference), reference scale \(scale)")
            #expect(difference <= Qwen2ParityTests.relativeTolerance * scale, "\(name) \(hookpoint): max abs error \(difference), scale \(scale)")
        }
    }

    @Test("every edited case changes the greedy output, so the parity above tests the edit")
    func editedCasesDifferFromTheBaseline() throws {
        let reference = try InterventionFixtures.reference()
        let baseline = try reference.tensor("baseline.sequence_ids").int32s()
        for name in Self.caseNames.dropFirst() {
            #expect(try reference.tensor("\(name).sequence_ids").int32s() != baseline, "\(name)")
        }
    }
}
