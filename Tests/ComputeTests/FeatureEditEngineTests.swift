import Experiment
import Foundation
import Testing
@testable import Compute

/// How the engine applies feature edits: exactly where and to whom they apply, and nowhere else.
@Suite("Feature edits in the engine")
struct FeatureEditEngineTests {
    static let hookpoints: [Hookpoint] = [.layer(0), .mlp(1), .layer(3), .mlp(4), .hiddenStates(6)]

    /// The fixture's features that fire most on its prompt: (layers.1.mlp feature, layers.3 feature).
    static func features() throws -> (mlp: Int, layer: Int) {
        let multi = try #require(try InterventionFixtures.cases().first { $0.name == "multi" })
        let edits = try FeatureEdit.parseList(multi.edits)
        return (edits[0].feature, edits[2].feature)
    }

    static func request(_ id: Int, problem: String, edits: [BoundFeatureEdit] = [], vocab: Int) -> GenerationRequest {
        let prompt = (0..<(5 + 3 * (id % 4))).map { Int32(4 + ($0 * 11 + id * 7) % (vocab - 4)) }
        return GenerationRequest(id: id, promptTokens: prompt, maxNewTokens: 12, sampling: SamplingParameters(temperature: 0.9, topK: 50, topP: 0.95),
                                 random: SequenceRandom(runSeed: 7, problemID: problem), stopTokens: [2], edits: edits)
    }

    struct Outcome {
        var results: [Int: GenerationResult] = [:]
        var sink = RecordingSink()

        /// Every captured row of `sequence` as bit patterns, by hookpoint.
        func bits(_ sequence: Int) -> [String: [[UInt32]]] {
            var out: [String: [[UInt32]]] = [:]
            for hookpoint in FeatureEditEngineTests.hookpoints {
                out[hookpoint.description] = sink.matrix(sequence: sequence, hookpoint: hookpoint).map { $0.map(\.bitPattern) }
            }
            return out
        }
    }

    static func generate(_ requests: [GenerationRequest], model: Qwen2Model, slots: Int = 1, prefillChunk: Int = 4) throws -> Outcome {
        var outcome = Outcome()
        let generator = Generator(model: model, slots: slots, contextCapacity: 64, prefillChunk: prefillChunk,
                                  hookpoints: hookpoints, sink: outcome.sink)
        for request in requests { try generator.submit(request) }
        for result in generator.run() { outcome.results[result.id] = result }
        return outcome
    }

    @Test("scale=1 and add=0 leave every token and activation bit for bit as without edits",
          arguments: ["scale=1", "add=0", "scale=1 at both"])
    func neutralEditsChangeNothing(kind: String) throws {
        let model = try Qwen2Fixtures.model(InterventionFixtures.model)
        let saes = try InterventionFixtures.saes()
        let (mlpFeature, layerFeature) = try Self.features()
        let text = switch kind {
        case "scale=1": "layers.1.mlp:\(mlpFeature):scale=1"
        case "add=0": "layers.3:\(layerFeature):add=0"
        default: "layers.1.mlp:\(mlpFeature):scale=1+layers.3:\(layerFeature):scale=1"
        }
        let edits = try InterventionFixtures.bind(text, model: model, saes: saes)
        let vocab = model.config.vocabSize
        let plain = try Self.generate([Self.request(1, problem: "a", vocab: vocab)], model: model)
        let neutral = try Self.generate([Self.request(1, problem: "a", edits: edits, vocab: vocab)], model: model)
        #expect(neutral.results == plain.results)
        #expect(neutral.bits(1) == plain.bits(1))

        // The feature does fire here, so the edit ran with c > 0 and still changed nothing.
        let captured = plain.sink.matrix(sequence: 1, hookpoint: .mlp(1)).flatMap { $0 }
        let latents = saes["layers.1.mlp"]!.encode(captured, rows: captured.count / 64)
        let firing = zip(latents.indices, latents.activations).filter { $0.0 == Int32(mlpFeature) && $0.1 > 0 }.count
        #expect(firing > 0, "feature \(mlpFeature) is in the top-k at some positions")
    }

    /// Five sequences under different conditions: none, clamp, a multi-edit at two layers, @generated, none.
    static func mixedRequests(model: Qwen2Model, saes: [String: SparseAutoencoder]) throws -> [GenerationRequest] {
        let cases = try InterventionFixtures.cases()
        let vocab = model.config.vocabSize
        return try [nil, "clamp", "multi", "generated", nil].enumerated().map { i, name in
            let text = name.map { n in cases.first { $0.name == n }!.edits } ?? ""
            return request(10 + i, problem: "problem-\(i % 3)", edits: try InterventionFixtures.bind(text, model: model, saes: saes), vocab: vocab)
        }
    }

    @Test("each sequence's tokens and activations are the same alone as in a batch mixing conditions",
          arguments: [(2, 3), (3, 5), (5, 64)])
    func mixedBatchesEqualSoloRuns(slots: Int, prefillChunk: Int) throws {
        let model = try Qwen2Fixtures.model(InterventionFixtures.model)
        let requests = try Self.mixedRequests(model: model, saes: try InterventionFixtures.saes())
        let batched = try Self.generate(requests, model: model, slots: slots, prefillChunk: prefillChunk)
        for request in requests {
            let alone = try Self.generate([request], model: model)
            #expect(batched.results[request.id] == alone.results[request.id], "request \(request.id) tokens")
            #expect(batched.bits(request.id) == alone.bits(request.id), "request \(request.id) activations")
        }
        // The conditions do differ, so the comparison above is not between identical runs.
        #expect(batched.results[10]?.generatedTokens != batched.results[11]?.generatedTokens)
    }

    @Test("a batch mixing conditions gives the same bits with 1 and 3 kernel threads")
    func mixedBatchesAreThreadCountInvariant() throws {
        let model = try Qwen2Fixtures.model(InterventionFixtures.model)
        let requests = try Self.mixedRequests(model: model, saes: try InterventionFixtures.saes())
        let before = Kernels.threadCount
        defer { Kernels.threadCount = before }
        Kernels.threadCount = 1
        let one = try Self.generate(requests, model: model, slots: 3, prefillChunk: 5)
        Kernels.threadCount = 3
        let three = try Self.generate(requests, model: model, slots: 3, prefillChunk: 5)
        #expect(one.results == three.results)
        for request in requests { #expect(one.bits(request.id) == three.bits(request.id), "request \(request.id)") }
    }

    @Test("an @generated edit leaves every prompt position untouched and acts from the first generated input")
    func generatedOnlySparesThePrompt() throws {
        let model = try Qwen2Fixtures.model(InterventionFixtures.model)
        let saes = try InterventionFixtures.saes()
        let (mlpFeature, _) = try Self.features()
        let edits = try InterventionFixtures.bind("layers.1.mlp:\(mlpFeature):clamp=30@generated", model: model, saes: saes)
        let vocab = model.config.vocabSize
        let plain = try Self.generate([Self.request(4, problem: "g", vocab: vocab)], model: model)
        let edited = try Self.generate([Self.request(4, problem: "g", edits: edits, vocab: vocab)], model: model)
        let promptLength = Self.request(4, problem: "g", vocab: vocab).promptTokens.count
        for (name, rows) in edited.bits(4) {
            #expect(Array(rows.prefix(promptLength)) == Array(plain.bits(4)[name]!.prefix(promptLength)), "\(name) at prompt positions")
        }
        let firstGenerated = edited.sink.matrix(sequence: 4, hookpoint: .mlp(1))[promptLength]
        #expect(firstGenerated != plain.sink.matrix(sequence: 4, hookpoint: .mlp(1))[promptLength])
    }

    @Test("a capture at an edited hookpoint records x' = x + (v − c) · W_dec[f], what the model used")
    func capturesRecordTheEditedValues() throws {
        let model = try Qwen2Fixtures.model(InterventionFixtures.model)
        let saes = try InterventionFixtures.saes()
        let sae = saes["layers.1.mlp"]!
        let (mlpFeature, _) = try Self.features()
        let clamp: Float = 12.5
        let edits = try InterventionFixtures.bind("layers.1.mlp:\(mlpFeature):clamp=12.5", model: model, saes: saes)
        let vocab = model.config.vocabSize
        let plain = try Self.generate([Self.request(2, problem: "c", vocab: vocab)], model: model)
        let edited = try Self.generate([Self.request(2, problem: "c", edits: edits, vocab: vocab)], model: model)
        // The MLP input at layer 1 does not depend on an edit of layer 1's MLP output at the same
        // or earlier positions, so over the prompt x is the plain run's capture.
        let promptLength = Self.request(2, problem: "c", vocab: vocab).promptTokens.count
        let x = plain.sink.matrix(sequence: 2, hookpoint: .mlp(1)).prefix(promptLength)
        let latents = sae.encode(x.flatMap { $0 }, rows: promptLength)
        let w = try #require(sae.decoderRow(mlpFeature))
        let observed = edited.sink.matrix(sequence: 2, hookpoint: .mlp(1)).prefix(promptLength)
        for (p, (row, got)) in zip(x, observed).enumerated() {
            let slots = (p * sae.k)..<((p + 1) * sae.k)
            let c = zip(latents.indices[slots], latents.activations[slots]).first { $0.0 == Int32(mlpFeature) }?.1 ?? 0
            let expected = (0..<row.count).map { row[$0] + (clamp - c) * w[$0] }
            #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "position \(p), c = \(c)")
        }
    }

    @Test("a feature the cheap screen calls inactive has c = 0 in the encoder's top-k, so skipping its encoding changes nothing")
    func theInactivityScreenAgreesWithTheEncoder() throws {
        let model = try Qwen2Fixtures.model(InterventionFixtures.model)
        let saes = try InterventionFixtures.saes()
        let plain = try Self.generate([Self.request(5, problem: "s", vocab: model.config.vocabSize)], model: model)
        var screened = 0, pairs = 0
        for (name, hookpoint) in [("layers.1.mlp", Hookpoint.mlp(1)), ("layers.3", .layer(3))] {
            let sae = saes[name]!
            let rows = plain.sink.matrix(sequence: 5, hookpoint: hookpoint)
            let latents = sae.encode(rows.flatMap { $0 }, rows: rows.count)
            let edits = try BoundFeatureEdit.bind((0..<sae.numLatents).map { FeatureEdit(hookpoint: name, feature: $0, operation: .ablate) },
                                                  layerCount: 6, hiddenSize: 64, saes: saes, saeSource: "the fixture SAEs")
            for (r, row) in rows.enumerated() {
                let slots = (r * sae.k)..<((r + 1) * sae.k)
                for bound in edits where row.withUnsafeBufferPointer({ bound.isCertainlyInactive(on: $0.baseAddress!) }) {
                    let c = zip(latents.indices[slots], latents.activations[slots]).first { $0.0 == Int32(bound.edit.feature) }?.1 ?? 0
                    #expect(c == 0, "\(name) row \(r) feature \(bound.edit.feature)")
                    screened += 1
                }
                pairs += edits.count
            }
        }
        print("screen: \(screened) of \(pairs) (row, feature) pairs certainly inactive")
        #expect(screened > pairs / 4, "the screen spares a real share of encodings")
    }

    @Test("bad edits are refused before anything runs, naming the part", arguments: [
        ("layers.6.mlp:1:ablate", "past the last layer 5 of this 6-layer model"),
        ("layers.2.mlp:1:ablate", "no SAE for layers.2.mlp in the fixture SAEs"),
        ("layers.3:128:ablate", "feature 128 is past the last latent 127 of the layers.3 SAE (128 latents)"),
    ])
    func badEditsAreRefused(text: String, reason: String) throws {
        let model = try Qwen2Fixtures.model(InterventionFixtures.model)
        let saes = try InterventionFixtures.saes()
        do {
            _ = try InterventionFixtures.bind(text, model: model, saes: saes)
            Issue.record("\(text) was accepted")
        } catch let error as InterventionError {
            #expect(error.text == text)
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }
}
