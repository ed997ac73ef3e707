import Compute
import Experiment
import Foundation
import Protocol
import Testing
import TestSupport
@testable import Worker

/// What the worker streams for a task besides its latents: the SAE's fit on the task's rows.
@Suite struct LatentStreamerTests {
    static let skipSAE = TestEnvironment.fixtures("sae/skip").path

    @Test func theFitOfAnSAEWithASkipConnectionIsMeasuredFromItsInput() throws {
        let sae = try SparseAutoencoder(checkpoint: Self.skipSAE, hookpoint: "layers.3.mlp")
        #expect(sae.config.skipConnection)
        let spec = HookpointSpec(capture: "layers.3.mlp", sae: "layers.3.mlp")
        let streamer = LatentStreamer(streams: [.init(spec: spec, capture: .mlp(3), sae: sae)])
        let assign = Assign(taskID: 1, attempt: 1, problemID: "p", promptIDs: [],
                            generation: GenerationParameters(maxNewTokens: 8, sampling: .greedy, seed: 0),
                            hookpoints: [spec], includePrompt: false)
        streamer.begin(sequence: 0, assign: assign)
        var random = SplitMix64(seed: 5)
        let rowCount = 12
        let x = random.normalFloats(rowCount * sae.dIn)
        let rows = (0..<rowCount).map { ActivationRow(sequenceID: 0, position: $0, tokenID: 7, isPrompt: false) }
        rows.withUnsafeBufferPointer { r in
            x.withUnsafeBufferPointer { v in streamer.receive(hookpoint: .mlp(3), rows: r, values: v, width: sae.dIn) }
        }
        let result = try #require(streamer.finish(sequence: 0))
        let streamed = try #require(result.fvu["layers.3.mlp"], "the skip-connection SAE's FVU is missing")
        let direct = try sae.fractionOfVarianceUnexplained(x, rows: rowCount)
        #expect(abs(streamed - direct) <= 1e-9 * max(1, abs(direct)), "streamed \(streamed), direct \(direct)")
        #expect(streamer.fitUnavailable.isEmpty)
    }

    /// A condition of a run with `--intervention-latents none` shares its batch's captures but
    /// streams nothing; the task beside it streams all its rows.
    @Test func aTaskThatStreamsNoLatentsSendsNoChunksWhileItsBatchNeighbourSendsAll() throws {
        let sae = try SparseAutoencoder(checkpoint: Self.skipSAE, hookpoint: "layers.3.mlp")
        let spec = HookpointSpec(capture: "layers.3.mlp", sae: "layers.3.mlp")
        let streamer = LatentStreamer(streams: [.init(spec: spec, capture: .mlp(3), sae: sae)], chunkTokens: 64)
        func assign(_ id: UInt64, streams: Bool) -> Assign {
            Assign(taskID: id, attempt: 1, problemID: "p\(id)", promptIDs: [],
                   generation: GenerationParameters(maxNewTokens: 8, sampling: .greedy, seed: 0),
                   hookpoints: [spec], includePrompt: false, streamsLatents: streams)
        }
        streamer.begin(sequence: 0, assign: assign(1, streams: true))
        streamer.begin(sequence: 1, assign: assign(2, streams: false))
        var random = SplitMix64(seed: 9)
        let x = random.normalFloats(6 * sae.dIn)
        let rows = (0..<6).map { ActivationRow(sequenceID: $0 % 2, position: $0 / 2, tokenID: 7, isPrompt: false) }
        rows.withUnsafeBufferPointer { r in
            x.withUnsafeBufferPointer { v in streamer.receive(hookpoint: .mlp(3), rows: r, values: v, width: sae.dIn) }
        }
        let silent = try #require(streamer.finish(sequence: 1))
        let streaming = try #require(streamer.finish(sequence: 0))
        let chunks = streamer.outbox.compactMap { if case .latentChunk(let c) = $0 { return c } else { return nil } }
        #expect(chunks.allSatisfy { $0.taskID == 1 })
        #expect(chunks.map(\.tokens.count).reduce(0, +) == 3)
        #expect(silent.fvu.isEmpty && streaming.fvu["layers.3.mlp"] != nil)
    }
}
