import Checkpoints
/// Keys and values of every slot's sequence, allocated once for `slots` sequences of up to
/// `capacity` positions. A slot is reused by the next sequence without clearing: positions are
/// always written before they are read.
public final class KVCache: @unchecked Sendable {
    public let slots: Int
    public let layers: Int
    public let keyValueHeads: Int
    public let capacity: Int
    public let headDim: Int
    /// [slots, layers, 2 (keys, values), kvHeads, capacity, headDim]
    let storage: FloatBuffer

    init(config: Qwen2Configuration, slots: Int, capacity: Int) {
        self.slots = slots
        self.layers = config.numHiddenLayers
        self.keyValueHeads = config.numKeyValueHeads
        self.capacity = capacity
        self.headDim = config.attentionHeadDim
        storage = FloatBuffer(count: slots * layers * 2 * keyValueHeads * capacity * headDim)
    }

    public var byteCount: Int { storage.count * MemoryLayout<Float>.stride }

    /// Bytes one position of one sequence takes over all layers: keys and values of every KV
    /// head, float32. [layers, 2, kvHeads, headDim] × 4.
    public static func bytesPerToken(config: Qwen2Configuration) -> Int {
        config.numHiddenLayers * 2 * config.numKeyValueHeads * config.attentionHeadDim * MemoryLayout<Float>.stride
    }

    /// Copies the first `length` positions of `source`'s keys and values, in every layer, into
    /// `destination`. Lets a benchmark give many slots a long context with one prefill.
    public func copyPositions(_ length: Int, from source: Int, to destination: Int) {
        precondition(length <= capacity && source < slots && destination < slots)
        for layer in 0..<layers {
            let from = keys(slot: source, layer: layer), to = keys(slot: destination, layer: layer)
            // Keys then values, each [kvHeads, capacity, headDim]: copy each head's used prefix.
            for block in 0..<(2 * keyValueHeads) {
                (to + block * headBlock).update(from: from + block * headBlock, count: length * headDim)
            }
        }
    }

    private var headBlock: Int { capacity * headDim }

    /// [kvHeads, capacity, headDim] keys of one slot and layer.
    func keys(slot: Int, layer: Int) -> UnsafeMutablePointer<Float> {
        storage.pointer + ((slot * layers + layer) * 2) * keyValueHeads * headBlock
    }

    /// [kvHeads, capacity, headDim] values of one slot and layer.
    func values(slot: Int, layer: Int) -> UnsafeMutablePointer<Float> {
        keys(slot: slot, layer: layer) + keyValueHeads * headBlock
    }

    /// Stores one position's keys and values, each [kvHeads, headDim].
    func store(slot: Int, layer: Int, position: Int, keys newKeys: UnsafePointer<Float>, values newValues: UnsafePointer<Float>) {
        precondition(position < capacity, "position \(position) is past the KV cache capacity \(capacity)")
        let k = keys(slot: slot, layer: layer), v = values(slot: slot, layer: layer)
        for head in 0..<keyValueHeads {
            (k + head * headBlock + position * headDim).update(from: newKeys + head * headDim, count: headDim)
            (v + head * headBlock + position * headDim).update(from: newValues + head * headDim, count: headDim)
        }
    }
}
