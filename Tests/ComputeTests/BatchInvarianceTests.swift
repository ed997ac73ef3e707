import Experiment
import Foundation
import Testing
@testable import Compute

/// A sequence's tokens and activations must not depend on which sequences share its batch.
@Suite("Generation is batch-invariant")
struct BatchInvarianceTests {
    static let fixture = "gqa2-untied-f32"
    static let hookpoints: [Hookpoint] = [.mlp(1), .layer(4), .hiddenStates(0), .hiddenStates(6)]

    /// Five sampled requests of different prompt lengths and budgets; eos 2 may end some early.
    static func requests(vocab: Int) -> [GenerationRequest] {
        let sampling = SamplingParameters(temperature: 0.9, topK: 50, topP: 0.95)
        return (0..<5).map { i in
            let prompt = (0..<(3 + 4 * i)).map { Int32(4 + ($0 * 7 + i * 13) % (vocab - 4)) }
            return GenerationRequest(id: 100 + i, promptTokens: prompt, maxNewTokens: 10 + 3 * i, sampling: sampling,
                                     random: SequenceRandom(runSeed: 42, problemID: "problem-\(i)"), stopTokens: [2])
        }
    }

    struct Outcome {
        var results: [Int: GenerationResult] = [:]
        var sink = RecordingSink()
    }

    static func generate(_ requests: [GenerationRequest], model: Qwen2Model, slots: Int, prefillChunk: Int) throws -> Outcome {
        var outcome = Outcome()
        let generator = Generator(model: model, slots: slots, contextCapacity: 64, prefillChunk: prefillChunk,
                                  hookpoints: hookpoints, sink: outcome.sink)
        for request in requests { try generator.submit(request) }
        for result in generator.run() { outcome.results[result.id] = result }
        return outcome
    }

    @Test("tokens and activations alone equal those in batches of 2, 3 and 5", arguments: [(2, 5), (3, 2), (5, 64)])
    func aloneEqualsBatched(slots: Int, prefillChunk: Int) throws {
        let model = try Qwen2Fixtures.model(Self.fixture)
        let requests = Self.requests(vocab: model.config.vocabSize)
        var alone = Outcome()
        for request in requests {
            let single = try Self.generate([request], model: model, slots: 1, prefillChunk: 4)
            alone.results.merge(single.results) { a, _ in a }
            alone.sink.rows.merge(single.sink.rows) { a, _ in a }
        }
        let batched = try Self.generate(requests, model: model, slots: slots, prefillChunk: prefillChunk)
        #expect(batched.results == alone.results)
        var compared = 0
        for request in requests {
            for hookpoint in Self.hookpoints {
                let a = alone.sink.matrix(sequence: request.id, hookpoint: hookpoint)
                let b = batched.sink.matrix(sequence: request.id, hookpoint: hookpoint)
                let expectedPositions = request.promptTokens.count + (alone.results[request.id]?.generatedTokens.count ?? -1)
                #expect(a.count == expectedPositions, "every prompt and generated position has activations")
                #expect(a.map { $0.map(\.bitPattern) } == b.map { $0.map(\.bitPattern) }, "request \(request.id) \(hookpoint)")
                compared += a.count
            }
        }
        print("slots \(slots), prefill chunk \(prefillChunk): \(compared) activation rows bit-identical to the solo runs")
    }

    @Test("sampling reproduces the same tokens from the same (seed, problem id) and differs across problem ids")
    func samplingIsKeyedBySeedAndProblem() throws {
        let model = try Qwen2Fixtures.model(Self.fixture)
        var request = Self.requests(vocab: model.config.vocabSize)[4]
        request.stopTokens = []
        let first = try Self.generate([request], model: model, slots: 1, prefillChunk: 8).results[request.id]
        let again = try Self.generate([request], model: model, slots: 2, prefillChunk: 3).results[request.id]
        request.random = SequenceRandom(runSeed: 42, problemID: "another problem")
        let other = try Self.generate([request], model: model, slots: 1, prefillChunk: 8).results[request.id]
        #expect(first == again)
        #expect(first?.generatedTokens != other?.generatedTokens)
    }

    @Test("prompt rows are marked as prompt and carry their input tokens")
    func rowsDescribeTheirPositions() throws {
        let model = try Qwen2Fixtures.model(Self.fixture)
        let request = Self.requests(vocab: model.config.vocabSize)[1]
        let outcome = try Self.generate([request], model: model, slots: 1, prefillChunk: 3)
        let result = try #require(outcome.results[request.id])
        let info = try #require(outcome.sink.info[request.id])
        let inputs = request.promptTokens + result.generatedTokens
        for position in 0..<inputs.count {
            #expect(info[position]?.tokenID == inputs[position])
            #expect(info[position]?.isPrompt == (position < request.promptTokens.count))
        }
    }
}
