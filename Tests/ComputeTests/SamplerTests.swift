import Checkpoints
import Experiment
import Foundation
import Testing
@testable import Compute

@Suite("Sampling")
struct SamplerTests {
    @Test("Philox4x32-10 matches the Random123 known-answer vectors")
    func philoxKnownAnswers() {
        let zero = Philox4x32.block(counter: (0, 0, 0, 0), key: (0, 0))
        #expect([zero.0, zero.1, zero.2, zero.3] == [0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8])
        let ones = Philox4x32.block(counter: (.max, .max, .max, .max), key: (.max, .max))
        #expect([ones.0, ones.1, ones.2, ones.3] == [0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD])
        let pi = Philox4x32.block(counter: (0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344), key: (0xA409_3822, 0x299F_31D0))
        #expect([pi.0, pi.1, pi.2, pi.3] == [0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1])
    }

    @Test("draws are a pure function of (seed, problem id, step) and lie in [0, 1)")
    func drawsArePure() {
        let a = SequenceRandom(runSeed: 7, problemID: "gsm8k-test-12")
        let b = SequenceRandom(runSeed: 7, problemID: "gsm8k-test-12")
        let draws = (0..<1000).map { a.uniform(step: $0) }
        #expect(draws == (0..<1000).map { b.uniform(step: $0) })
        #expect(draws.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(Set(draws).count == 1000)
        #expect(SequenceRandom(runSeed: 8, problemID: "gsm8k-test-12").uniform(step: 0) != draws[0])
        #expect(SequenceRandom(runSeed: 7, problemID: "gsm8k-test-13").uniform(step: 0) != draws[0])
    }

    @Test("temperature 0 is greedy and takes the first of tied maxima")
    func greedyTakesFirstMaximum() {
        let logits: [Float] = [0.5, 3, 1, 3]
        let sampler = Sampler(vocabularySize: 4)
        let token = logits.withUnsafeBufferPointer { sampler.sample($0, parameters: .greedy, uniform: 0.99) }
        #expect(token == 1)
    }

    @Test("top-k keeps only the k largest logits")
    func topKFilters() {
        let logits: [Float] = [5, 1, 4, 0, 3, 2]
        let sampler = Sampler(vocabularySize: 6)
        let parameters = SamplingParameters(temperature: 1, topK: 2, topP: 1)
        var seen = Set<Int32>()
        for i in 0..<200 {
            seen.insert(logits.withUnsafeBufferPointer { sampler.sample($0, parameters: parameters, uniform: Double(i) / 200) })
        }
        #expect(seen == [0, 2])
    }

    @Test("top-p keeps the smallest set whose probability exceeds top_p, at least one token")
    func topPFilters() {
        // Probabilities 0.5, 0.3, 0.15, 0.05 (ids 0..3): top_p 0.75 keeps {0, 1}; 0.1 keeps {0}.
        let logits: [Float] = [0.5, 0.3, 0.15, 0.05].map { Float(Foundation.log($0)) }
        let sampler = Sampler(vocabularySize: 4)
        func support(_ topP: Double) -> Set<Int32> {
            var seen = Set<Int32>()
            for i in 0..<400 {
                seen.insert(logits.withUnsafeBufferPointer {
                    sampler.sample($0, parameters: SamplingParameters(temperature: 1, topK: 0, topP: topP), uniform: Double(i) / 400)
                })
            }
            return seen
        }
        #expect(support(0.75) == [0, 1])
        #expect(support(0.1) == [0])
        #expect(support(1.0) == [0, 1, 2, 3])
    }

    @Test("the draw inverts the renormalised distribution in token-id order")
    func drawInvertsDistribution() {
        let logits: [Float] = [0.25, 0.25, 0.5].map { Float(Foundation.log($0)) }
        let sampler = Sampler(vocabularySize: 3)
        let p = SamplingParameters(temperature: 1)
        func draw(_ u: Double) -> Int32 { logits.withUnsafeBufferPointer { sampler.sample($0, parameters: p, uniform: u) } }
        #expect(draw(0.1) == 0)
        #expect(draw(0.3) == 1)
        #expect(draw(0.6) == 2)
    }

    @Test("generation_config.json eos may be one id or a list, and unset keys take transformers' defaults")
    func generationConfigDecoding() throws {
        let single = try JSONDecoder().decode(GenerationConfiguration.self, from: Data(#"{"eos_token_id": 5, "do_sample": true, "temperature": 0.6, "top_p": 0.95}"#.utf8))
        #expect(single.eosTokenIDs == [5])
        #expect(single.topK == 50)
        #expect(SamplingParameters.resolve(temperature: nil, topP: nil, topK: nil, defaults: single.samplingDefaults) == SamplingParameters(temperature: 0.6, topK: 50, topP: 0.95))
        let list = try JSONDecoder().decode(GenerationConfiguration.self, from: Data(#"{"eos_token_id": [2, 3]}"#.utf8))
        #expect(list.eosTokenIDs == [2, 3])
        #expect(SamplingParameters.resolve(temperature: nil, topP: nil, topK: nil, defaults: list.samplingDefaults).isGreedy)
    }
}
