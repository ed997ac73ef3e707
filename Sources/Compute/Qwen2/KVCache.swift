import Checkpoints
import CKernels
import Experiment
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keys and values of every slot's sequence, allocated once for `slots` sequences of up to
/// `capacity` positions, in float32 or bfloat16 (`dtype`). A slot is reused by the next
/// sequence without clearing: positions are always written before they are read.
///
/// A bfloat16 cache rounds each key and value once, when it is stored (round to nearest, ties
/// to even, as torch's `.to(torch.bfloat16)`); attention widens the stored values back to
/// float32 exactly, so every kernel path still gives the same bits.
public final class KVCache: @unchecked Sendable {
    public let slots: Int
    public let layers: Int
    public let keyValueHeads: Int
    public let capacity: Int
    public let headDim: Int
    public let dtype: KVCacheDType
    /// [slots, layers, 2 (keys, values), kvHeads, capacity, headDim] elements of `dtype`,
    /// allocated zeroed (calloc: untouched pages cost no memory).
    private let storage: UnsafeMutableRawPointer
    private let elementCount: Int

    init(config: Qwen2Configuration, slots: Int, capacity: Int, dtype: KVCacheDType) {
        self.slots = slots
        self.layers = config.numHiddenLayers
        self.keyValueHeads = config.numKeyValueHeads
        self.capacity = capacity
        self.headDim = config.attentionHeadDim
        self.dtype = dtype
        elementCount = slots * layers * 2 * keyValueHeads * capacity * headDim
        storage = calloc(max(elementCount, 1), dtype.bytesPerElement)!
    }

    deinit { free(storage) }

    public var byteCount: Int { elementCount * dtype.bytesPerElement }

    /// Bytes one position of one sequence takes over all layers: keys and values of every KV
    /// head. [layers, 2, kvHeads, headDim] × 4 (float32) or × 2 (bfloat16).
    public static func bytesPerToken(config: Qwen2Configuration, dtype: KVCacheDType) -> Int {
        config.numHiddenLayers * 2 * config.numKeyValueHeads * config.attentionHeadDim * dtype.bytesPerElement
    }

    /// Copies the first `length` positions of `source`'s keys and values, in every layer, into
    /// `destination`, as stored (no rounding again). Lets a benchmark give many slots a long
    /// context with one prefill.
    public func copyPositions(_ length: Int, from source: Int, to destination: Int) {
        precondition(length <= capacity && source < slots && destination < slots)
        let blockBytes = headBlock * dtype.bytesPerElement
        for layer in 0..<layers {
            let from = keys(slot: source, layer: layer), to = keys(slot: destination, layer: layer)
            // Keys then values, each [kvHeads, capacity, headDim]: copy each head's used prefix.
            for block in 0..<(2 * keyValueHeads) {
                (to + block * blockBytes).copyMemory(from: from + block * blockBytes, byteCount: length * headDim * dtype.bytesPerElement)
            }
        }
    }

    private var headBlock: Int { capacity * headDim }

    /// [kvHeads, capacity, headDim] keys of one slot and layer, as `dtype` elements.
    func keys(slot: Int, layer: Int) -> UnsafeMutableRawPointer {
        storage + ((slot * layers + layer) * 2) * keyValueHeads * headBlock * dtype.bytesPerElement
    }

    /// [kvHeads, capacity, headDim] values of one slot and layer, as `dtype` elements.
    func values(slot: Int, layer: Int) -> UnsafeMutableRawPointer {
        keys(slot: slot, layer: layer) + keyValueHeads * headBlock * dtype.bytesPerElement
    }

    /// Stores one position's keys and values, each [kvHeads, headDim] float32, rounding them
    /// to bfloat16 in a bfloat16 cache.
    func store(slot: Int, layer: Int, position: Int, keys newKeys: UnsafePointer<Float>, values newValues: UnsafePointer<Float>) {
        precondition(position < capacity, "position \(position) is past the KV cache capacity \(capacity)")
        let k = keys(slot: slot, layer: layer), v = values(slot: slot, layer: layer)
        for head in 0..<keyValueHeads {
            let offset = head * headBlock + position * headDim
            switch dtype {
            case .f32:
                (k.assumingMemoryBound(to: Float.self) + offset).update(from: newKeys + head * headDim, count: headDim)
                (v.assumingMemoryBound(to: Float.self) + offset).update(from: newValues + head * headDim, count: headDim)
            case .bf16:
                tl_bf16_from_f32_array(newKeys + head * headDim, Int64(headDim), k.assumingMemoryBound(to: UInt16.self) + offset)
                tl_bf16_from_f32_array(newValues + head * headDim, Int64(headDim), v.assumingMemoryBound(to: UInt16.self) + offset)
            }
        }
    }

    /// Which half of a position's entry: its key or its value.
    public enum Part: Sendable { case key, value }

    /// One stored element read back as float32 (a bfloat16 one widened exactly): what attention
    /// sees for `head`, `position`, `index` of a slot and layer.
    public func element(_ part: Part, slot: Int, layer: Int, head: Int, position: Int, index: Int) -> Float {
        precondition(slot < slots && layer < layers && head < keyValueHeads && position < capacity && index < headDim)
        let base = part == .key ? keys(slot: slot, layer: layer) : values(slot: slot, layer: layer)
        let offset = head * headBlock + position * headDim + index
        switch dtype {
        case .f32: return base.assumingMemoryBound(to: Float.self)[offset]
        case .bf16: return Float(bitPattern: UInt32(base.assumingMemoryBound(to: UInt16.self)[offset]) << 16)
        }
    }
}

extension KVCacheDType {
    /// tl_attention's kv_dtype for a cache of this format.
    var kernelDType: Int32 {
        switch self {
        case .f32: return Int32(TL_DTYPE_F32)
        case .bf16: return Int32(TL_DTYPE_BF16)
        }
    }
}
