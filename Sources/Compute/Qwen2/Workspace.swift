import Checkpoints
import Foundation

/// The rows one forward step processes: any mix of sequences (slots), each with one or more
/// consecutive positions. Arrays keep their capacity between steps, so a step does not allocate.
public struct ForwardBatch {
    /// Slot (KV-cache row) of each row.
    public internal(set) var slots: [Int] = []
    /// Sequence, position, input token and prompt flag of each row; also what sinks receive.
    public internal(set) var rows: [ActivationRow] = []
    /// For each row, the index of its logits in `Qwen2Workspace.logits`, or -1 when none are needed.
    public internal(set) var logitIndex: [Int] = []
    public internal(set) var logitCount = 0

    public var count: Int { rows.count }

    public init(capacity: Int) {
        slots.reserveCapacity(capacity)
        rows.reserveCapacity(capacity)
        logitIndex.reserveCapacity(capacity)
    }

    public mutating func removeAll() {
        slots.removeAll(keepingCapacity: true)
        rows.removeAll(keepingCapacity: true)
        logitIndex.removeAll(keepingCapacity: true)
        logitCount = 0
    }

    /// Adds one position of the sequence in `slot`; `wantsLogits` asks for next-token logits.
    public mutating func append(slot: Int, row: ActivationRow, wantsLogits: Bool) {
        slots.append(slot)
        rows.append(row)
        logitIndex.append(wantsLogits ? logitCount : -1)
        if wantsLogits { logitCount += 1 }
    }
}

/// Rotary-embedding angles for every position up to the KV-cache capacity, computed as
/// transformers does in float32: inv_freq[i] = 1 / θ^(2i/d), angle = position · inv_freq[i].
struct RotaryTable {
    let half: Int
    let cos: FloatBuffer   // [capacity, headDim / 2]
    let sin: FloatBuffer   // [capacity, headDim / 2]

    init(headDim: Int, theta: Double, capacity: Int) {
        half = headDim / 2
        cos = FloatBuffer(count: capacity * half)
        sin = FloatBuffer(count: capacity * half)
        for i in 0..<half {
            let exponent = Float(2 * i) / Float(headDim)
            let inverseFrequency = 1 / Float(Foundation.pow(theta, Double(exponent)))
            for position in 0..<capacity {
                let angle = Float(position) * inverseFrequency
                cos[position * half + i] = Float(Foundation.cos(Double(angle)))
                sin[position * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
    }
}

/// All working memory of the forward pass, allocated once for up to `maxRows` rows per step and
/// `slots` sequences of up to `capacity` positions.
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
    /// [slots, vocab]: next-token logits, row `ForwardBatch.logitIndex[r]`.
    public let logits: FloatBuffer

    public init(config: Qwen2Configuration, maxRows: Int, slots: Int, capacity: Int) {
        precondition(maxRows >= 1 && slots >= 1 && capacity >= 1)
        self.maxRows = maxRows
        self.slots = slots
        self.capacity = capacity
        let h = config.hiddenSize
        cache = KVCache(config: config, slots: slots, capacity: capacity)
        rotary = RotaryTable(headDim: config.attentionHeadDim, theta: config.ropeTheta, capacity: capacity)
        hidden = FloatBuffer(count: maxRows * h)
        normed = FloatBuffer(count: maxRows * h)
        qkv = FloatBuffer(count: maxRows * (config.queryWidth + 2 * config.keyValueWidth))
        attention = FloatBuffer(count: maxRows * config.queryWidth)
        projected = FloatBuffer(count: maxRows * h)
        gateUp = FloatBuffer(count: maxRows * 2 * config.intermediateSize)
        logitInputs = FloatBuffer(count: slots * h)
        logits = FloatBuffer(count: slots * config.vocabSize)
    }

    /// Logits of row `index` of the last step: [vocab].
    public func logits(at index: Int, vocab: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: logits.pointer + index * vocab, count: vocab)
    }
}
