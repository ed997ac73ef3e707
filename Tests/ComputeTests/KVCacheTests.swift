import Checkpoints
import Experiment
import Testing
@testable import Compute

/// What the KV cache keeps: float32 exactly, bfloat16 rounded once when stored (to nearest, ties
/// to even, as torch's `.to(torch.bfloat16)`), and copies of positions as stored.
@Suite("KV cache")
struct KVCacheTests {
    /// 3 layers, 2 KV heads of head dim 8.
    static let config = Qwen2Configuration(vocabSize: 300, hiddenSize: 48, intermediateSize: 80, numHiddenLayers: 3,
                                           numAttentionHeads: 6, numKeyValueHeads: 2)

    /// Reads back [kvHeads × headDim] of one position's keys or values.
    static func readBack(_ cache: KVCache, _ part: KVCache.Part, slot: Int, layer: Int, position: Int) -> [Float] {
        (0..<cache.keyValueHeads).flatMap { head in
            (0..<cache.headDim).map { cache.element(part, slot: slot, layer: layer, head: head, position: position, index: $0) }
        }
    }

    @Test func aFloat32CacheReadsBackExactlyWhatWasStored() {
        let cache = KVCache(config: Self.config, slots: 2, capacity: 5, dtype: .f32)
        let keys = (0..<16).map { Float(1) + Float($0) * 0x1p-20 }
        let values = keys.map { -$0 / 3 }
        cache.store(slot: 1, layer: 2, position: 4, keys: keys, values: values)
        #expect(Self.readBack(cache, .key, slot: 1, layer: 2, position: 4) == keys)
        #expect(Self.readBack(cache, .value, slot: 1, layer: 2, position: 4) == values)
    }

    @Test func aBFloat16CacheRoundsToNearestWithTiesToEven() {
        let cache = KVCache(config: Self.config, slots: 1, capacity: 3, dtype: .bf16)
        // Near 1 bfloat16's step is 2⁻⁷.
        var keys = [Float](repeating: 0, count: 16)
        keys[0] = 1 + 0x1p-8              // halfway between 1 and 1 + 2⁻⁷: to the even 1
        keys[1] = 1 + 3 * 0x1p-8          // halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: to the even 1 + 2⁻⁶
        keys[2] = 1 + 0x1p-8 + 0x1p-16    // just past halfway: up to 1 + 2⁻⁷
        keys[3] = -2.0                    // exact in bfloat16
        keys[4] = 3.14159265              // π: 3.140625 (0x4049)
        keys[5] = 1e-3                    // 0.00099945068359375 (0x3a83)
        keys[6] = .infinity
        keys[7] = -0.0
        keys[8] = 65504                   // 65536 (0x4780)
        let values = keys.map { -$0 }
        cache.store(slot: 0, layer: 1, position: 2, keys: keys, values: values)
        let expected: [Float] = [1, 1 + 0x1p-6, 1 + 0x1p-7, -2, 3.140625, 0.00099945068359375, .infinity, -0.0, 65536]
            + [Float](repeating: 0, count: 7)
        let readKeys = Self.readBack(cache, .key, slot: 0, layer: 1, position: 2)
        #expect(readKeys == expected)
        #expect(readKeys[7].sign == .minus)
        #expect(Self.readBack(cache, .value, slot: 0, layer: 1, position: 2) == expected.map { -$0 })
    }

    @Test func aBFloat16CacheKeepsNaNAsNaN() {
        let cache = KVCache(config: Self.config, slots: 1, capacity: 1, dtype: .bf16)
        let keys = [Float](repeating: .nan, count: 16)
        cache.store(slot: 0, layer: 0, position: 0, keys: keys, values: keys)
        #expect(Self.readBack(cache, .key, slot: 0, layer: 0, position: 0).allSatisfy { $0.isNaN })
    }

    @Test func aBFloat16CacheTakesHalfTheBytes() {
        let float32 = KVCache(config: Self.config, slots: 3, capacity: 10, dtype: .f32)
        let bfloat16 = KVCache(config: Self.config, slots: 3, capacity: 10, dtype: .bf16)
        #expect(float32.byteCount == 3 * 10 * KVCache.bytesPerToken(config: Self.config, dtype: .f32))
        #expect(bfloat16.byteCount == 3 * 10 * KVCache.bytesPerToken(config: Self.config, dtype: .bf16))
        #expect(bfloat16.byteCount * 2 == float32.byteCount)
        #expect(KVCache.bytesPerToken(config: Self.config, dtype: .bf16) == 3 * 2 * 2 * 8 * 2)
    }

    @Test("copied positions match the source slot in every layer", arguments: KVCacheDType.allCases)
    func copiedPositionsMatchTheSourceSlot(dtype: KVCacheDType) {
        let cache = KVCache(config: Self.config, slots: 3, capacity: 10, dtype: dtype)
        let width = Self.config.keyValueWidth
        for layer in 0..<3 {
            for position in 0..<4 {
                let keys = (0..<width).map { Float(1000 * layer + 100 * position + $0) + 0.3 }
                let values = keys.map { -$0 }
                cache.store(slot: 0, layer: layer, position: position, keys: keys, values: values)
            }
        }
        cache.copyPositions(4, from: 0, to: 2)
        for layer in 0..<3 {
            for position in 0..<4 {
                for part in [KVCache.Part.key, .value] {
                    #expect(Self.readBack(cache, part, slot: 2, layer: layer, position: position)
                        == Self.readBack(cache, part, slot: 0, layer: layer, position: position))
                }
            }
        }
        // Slot 2's fifth position and slot 1 were not touched.
        #expect(Self.readBack(cache, .key, slot: 2, layer: 0, position: 4).allSatisfy { $0 == 0 })
        #expect(Self.readBack(cache, .key, slot: 1, layer: 2, position: 0).allSatisfy { $0 == 0 })
    }
}
