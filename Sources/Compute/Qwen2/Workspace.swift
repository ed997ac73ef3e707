import Checkpoints
import Experiment
import Foundation

/// All working memory of the forward pass, allocated once for up to `maxRows` rows per step and
/// `slots` sequences of up to `capacity` positions, the KV cache in `kvCache`'s format.
public final class Qwen2Workspace: @unchecked Sendable {
    public let maxRows: Int
    public let slots: Int
    public let capacity: Int
    public let cache: KVCache
    let rotary: RotaryTable

    let hidden: FloatBuffer        // [maxRows, hidden]: the residual stream
    let normed: FloatBuffer        // [maxRows, hidden]: RMSNorm output (block input, then final norm)
    let qkv: FloatBuffer           // [maxRows, qWidth + 2 * kvWidth]: q | k | v per row
    let attention: FloatBuffer     // [maxRows, qWidth]: attention output before o_proj
    let projected: FloatBuffer     // [maxRows, hidden]: o_proj output, then down_proj (MLP) output
    let gateUp: FloatBuffer        // [maxRows, 2 * intermediate]: gate | up per row
    let logitInputs: FloatBuffer   // [slots, hidden]: final-normed rows that need logits
    /// Scratch of the feature-edit pass (grows to the largest edited step, then is reused).
    let edits: FeatureEditPass
    /// [slots, vocab]: next-token logits, row `ForwardBatch.logitIndex[r]`.
    public let logits: FloatBuffer

    public init(config: Qwen2Configuration, maxRows: Int, slots: Int, capacity: Int, kvCache: KVCacheDType = .standard) {
        precondition(maxRows >= 1 && slots >= 1 && capacity >= 1)
        self.maxRows = maxRows
        self.slots = slots
        self.capacity = capacity
        let h = config.hiddenSize
        cache = KVCache(config: config, slots: slots, capacity: capacity, dtype: kvCache)
        rotary = RotaryTable(headDim: config.attentionHeadDim, theta: config.ropeTheta, capacity: capacity)
        hidden = FloatBuffer(count: maxRows * h)
        normed = FloatBuffer(count: maxRows * h)
        qkv = FloatBuffer(count: maxRows * (config.queryWidth + 2 * config.keyValueWidth))
        attention = FloatBuffer(count: maxRows * config.queryWidth)
        projected = FloatBuffer(count: maxRows * h)
        gateUp = FloatBuffer(count: maxRows * 2 * config.intermediateSize)
        logitInputs = FloatBuffer(count: slots * h)
        logits = FloatBuffer(count: slots * config.vocabSize)
        edits = FeatureEditPass(layerCount: config.numHiddenLayers)
    }

    /// Bytes of the buffers above (the rotary table included, the KV cache not), as allocated.
    public var workingByteCount: Int {
        let floats = [hidden, normed, qkv, attention, projected, gateUp, logitInputs, logits, rotary.cos, rotary.sin].reduce(0) { $0 + $1.count }
        return floats * MemoryLayout<Float>.stride
    }

    /// What `workingByteCount` will be for these sizes, worked out before allocating anything
    /// (the memory check at start uses it).
    public static func workingByteCount(config: Qwen2Configuration, maxRows: Int, slots: Int, capacity: Int) -> Int {
        let h = config.hiddenSize
        let perRow = 3 * h + (config.queryWidth + 2 * config.keyValueWidth) + config.queryWidth + 2 * config.intermediateSize
        let rotary = 2 * capacity * (config.attentionHeadDim / 2)
        let floats = maxRows * perRow + slots * h + slots * config.vocabSize + rotary
        return floats * MemoryLayout<Float>.stride
    }

    /// Logits of row `index` of the last step: [vocab].
    public func logits(at index: Int, vocab: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: logits.pointer + index * vocab, count: vocab)
    }
}
