import Checkpoints
import Foundation
import Testing
import TestSupport
@testable import Compute

/// The memory a process says it needs at start, and the refusal when the machine lacks it.
@Suite("Memory plan")
struct MemoryPlanTests {
    /// DeepSeek-R1-Distill-Qwen-1.5B's dimensions.
    static let r1 = Qwen2Configuration(vocabSize: 151_936, hiddenSize: 1536, intermediateSize: 8960, numHiddenLayers: 28,
                                       numAttentionHeads: 12, numKeyValueHeads: 2, maxPositionEmbeddings: 131_072)
    /// Its bf16 weights: 1,777,088,000 parameters × 2 bytes.
    static let r1WeightBytes = 3_554_176_000

    @Test func kvCacheTokenIsKeysAndValuesOfEveryKVHeadInEveryLayerInFloat32() {
        // 28 layers × (keys + values) × 2 KV heads × 128 head dim × 4 bytes.
        #expect(KVCache.bytesPerToken(config: Self.r1, dtype: .f32) == 28 * 2 * 2 * 128 * 4)
        #expect(KVCache.bytesPerToken(config: Self.r1, dtype: .f32) == 57_344)
    }

    @Test func kvCacheHoldsEverySlotAtTheFullContext() {
        let plan = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 8, contextTokens: 16_384)
        // 16,384 tokens × 56 KiB = 896 MiB per sequence (the "~0.9 GB"), 8 of them.
        #expect(plan.kvCacheBytes == 8 * 16_384 * 57_344)
        #expect(plan.kvCacheBytes == 7_516_192_768)
        #expect(plan.totalBytes == Self.r1WeightBytes + plan.kvCacheBytes + plan.workspaceBytes)
    }

    @Test func workspaceEstimateIsWhatTheWorkspaceAllocates() {
        let config = Qwen2Configuration(vocabSize: 300, hiddenSize: 48, intermediateSize: 80, numHiddenLayers: 3,
                                        numAttentionHeads: 6, numKeyValueHeads: 2)
        let workspace = Qwen2Workspace(config: config, maxRows: 5 + 64, slots: 5, capacity: 37)
        let plan = MemoryPlan(config: config, weightBytes: 0, slots: 5, contextTokens: 37, prefillChunk: 64)
        #expect(plan.workspaceBytes == workspace.workingByteCount)
        #expect(plan.kvCacheBytes == workspace.cache.byteCount)
    }

    @Test func weightsAreCountedOnceForAllProcesses() {
        let one = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 8, contextTokens: 4096)
        let three = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 8, contextTokens: 4096, processes: 3)
        #expect(three.totalBytes == Self.r1WeightBytes + 3 * one.perProcessBytes)
    }

    @Test func planThatFitsPasses() throws {
        let plan = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 8, contextTokens: 16_384 + 200)
        try plan.check(availableBytes: plan.totalBytes)
        try plan.check(availableBytes: 22_000_000_000)
    }

    @Test func unknownAvailableMemoryPasses() throws {
        let plan = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 64, contextTokens: 131_072)
        try plan.check(availableBytes: nil)
    }

    @Test func planThatDoesNotFitIsRefusedWithItsNumbersAndTheBatchThatFits() {
        let plan = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 8, contextTokens: 16_384)
        // 10 GB leaves 6.45 GB beside the weights: 6 sequences of 0.94 GB fit, 7 do not.
        let error = #expect(throws: MemoryPlanError.self) { try plan.check(availableBytes: 10_000_000_000) }
        #expect(error?.availableBytes == 10_000_000_000)
        let message = error?.description ?? ""
        #expect(message.contains("needed: 11.09 GB"))
        #expect(message.contains("weights 3.55 GB"))
        #expect(message.contains("KV cache 7.52 GB [8 slots × 16384 tokens × 57344 B/token, float32]"))
        #expect(message.contains("10.00 GB available (MemAvailable"))
        #expect(message.contains("at most --batch 6 fits"))
        #expect(message.contains("fewer --batch slots or a smaller --max-new-tokens"))
    }

    @Test func refusalSaysHowManyContextTokensFitAtTheRequestedBatch() {
        let plan = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 8, contextTokens: 16_384)
        let available = 10_000_000_000
        let error = #expect(throws: MemoryPlanError.self) { try plan.check(availableBytes: available) }
        // (10 GB − weights − workspace) / (8 slots × 57,344 B).
        let tokens = (available - Self.r1WeightBytes - plan.workspaceBytes) / (8 * 57_344)
        #expect(tokens == 14_005)
        #expect(error?.description.contains("at --batch 8 at most 14005 context tokens") == true)
    }

    @Test func refusalNamesFewerWorkersWhenSeveralProcessesShareTheMachine() {
        let plan = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 8, contextTokens: 16_384, processes: 2)
        let error = #expect(throws: MemoryPlanError.self) { try plan.check(availableBytes: 15_000_000_000) }
        #expect(error?.description.contains("or fewer --workers") == true)
        #expect(error?.description.contains("per process × 2 processes") == true)
    }

    @Test func oneSlotRefusalAsksOnlyForFewerNewTokens() {
        let plan = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 1, contextTokens: 131_072)
        let error = #expect(throws: MemoryPlanError.self) { try plan.check(availableBytes: 8_000_000_000) }
        #expect(error?.description.contains("Use a smaller --max-new-tokens (") == true)
        #expect(error?.description.contains("--batch slots") == false)
    }

    @Test func weightsLargerThanTheMachineLeaveNoBatchToSuggest() {
        let plan = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 1, contextTokens: 1)
        let error = #expect(throws: MemoryPlanError.self) { try plan.check(availableBytes: 1_000_000_000) }
        #expect(error?.description.contains("the weights alone do not fit") == true)
    }

    @Test func weightFilesAreTheModelsSafetensorsCountedThroughSymbolicLinks() throws {
        let scratch = TemporaryDirectory("memory-plan")
        let blob = scratch.file("blob")
        try Data(count: 3000).write(to: URL(fileURLWithPath: blob))
        let model = scratch.file("model")
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: model + "/model-00001-of-00002.safetensors", withDestinationPath: blob)
        try Data(count: 500).write(to: URL(fileURLWithPath: model + "/model-00002-of-00002.safetensors"))
        try Data(count: 70).write(to: URL(fileURLWithPath: model + "/reference.safetensors"))
        let files = MemoryPlan.modelWeightFiles(directory: model)
        #expect(files == [model + "/model-00001-of-00002.safetensors", model + "/model-00002-of-00002.safetensors"])
        #expect(MemoryPlan.fileBytes(files) == 3500)
        #expect(MemoryPlan.fileBytes([model + "/missing.safetensors"]) == 0)
    }

    @Test func aBFloat16KVCacheTokenTakesHalfTheBytes() {
        // 28 layers × (keys + values) × 2 KV heads × 128 head dim × 2 bytes.
        #expect(KVCache.bytesPerToken(config: Self.r1, dtype: .bf16) == 28 * 2 * 2 * 128 * 2)
        #expect(KVCache.bytesPerToken(config: Self.r1, dtype: .bf16) == 28_672)
        let plan = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 8, contextTokens: 16_384, kvCache: .bf16)
        #expect(plan.kvCacheBytes == 8 * 16_384 * 28_672)
        #expect(plan.kvCacheBytes == 3_758_096_384)
        #expect(plan.totalBytes == Self.r1WeightBytes + plan.kvCacheBytes + plan.workspaceBytes)
    }

    @Test func theBFloat16PlanIsWhatTheWorkspaceAllocates() {
        let config = Qwen2Configuration(vocabSize: 300, hiddenSize: 48, intermediateSize: 80, numHiddenLayers: 3,
                                        numAttentionHeads: 6, numKeyValueHeads: 2)
        let workspace = Qwen2Workspace(config: config, maxRows: 5 + 64, slots: 5, capacity: 37, kvCache: .bf16)
        let plan = MemoryPlan(config: config, weightBytes: 0, slots: 5, contextTokens: 37, prefillChunk: 64, kvCache: .bf16)
        #expect(plan.kvCacheBytes == workspace.cache.byteCount)
        #expect(plan.kvCacheBytes == 5 * 37 * 3 * 2 * 2 * 8 * 2)
    }

    @Test func aBFloat16PlanSaysSoAndItsRefusalCountsItsBytes() {
        let plan = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 8, contextTokens: 16_384, kvCache: .bf16)
        #expect(plan.summary.contains("KV cache 3.76 GB [8 slots × 16384 tokens × 28672 B/token, bfloat16]"))
        // 6 GB leaves 2.45 GB beside the weights: 5 sequences of 0.47 GB fit, 6 do not.
        let error = #expect(throws: MemoryPlanError.self) { try plan.check(availableBytes: 6_000_000_000) }
        #expect(error?.description.contains("× 28672 B/token, bfloat16]") == true)
        #expect(error?.description.contains("at most --batch 5 fits") == true)
        // 10 GB refuses the float32 cache at these settings (11.09 GB) and holds the bfloat16 one (7.33 GB).
        let float32 = MemoryPlan(config: Self.r1, weightBytes: Self.r1WeightBytes, slots: 8, contextTokens: 16_384)
        #expect(throws: MemoryPlanError.self) { try float32.check(availableBytes: 10_000_000_000) }
        #expect(throws: Never.self) { try plan.check(availableBytes: 10_000_000_000) }
    }
}
