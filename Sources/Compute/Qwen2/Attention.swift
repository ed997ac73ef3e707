import Checkpoints
import CKernels

/// Qwen2 self-attention for a batch of rows: q/k/v projections with bias, rotate-half rotary
/// embedding, grouped-query causal attention over the KV cache, o_proj without bias.
enum Qwen2Attention {
    /// Reads `normed` ([rows, hidden]) and leaves the o_proj output in `workspace.projected`.
    static func forward(layer: Int, weights: Qwen2LayerWeights, config: Qwen2Configuration,
                        batch: ForwardBatch, workspace ws: Qwen2Workspace) {
        let rows = batch.count
        let hidden = config.hiddenSize
        let qWidth = config.queryWidth, kvWidth = config.keyValueWidth
        let qkvWidth = qWidth + 2 * kvWidth
        let headDim = config.attentionHeadDim
        let qkv = ws.qkv.pointer  // [rows, qWidth | kvWidth | kvWidth]

        Kernels.linear(ws.normed.pointer, rows: rows, k: hidden, ldx: hidden,
                       LinearOutput(matrix: weights.qProj, bias: weights.qBias.pointer, y: qkv, ldy: qkvWidth),
                       LinearOutput(matrix: weights.kProj, bias: weights.kBias.pointer, y: qkv + qWidth, ldy: qkvWidth),
                       LinearOutput(matrix: weights.vProj, bias: weights.vBias.pointer, y: qkv + qWidth + kvWidth, ldy: qkvWidth))

        // Rotate q and k at each row's position, then store k and v: all of a step's positions
        // are in the cache before any row attends, and the causal limit keeps later ones unseen.
        let rotary = ws.rotary
        for r in 0..<rows {
            let position = batch.rows[r].position
            let q = qkv + r * qkvWidth, k = q + qWidth, v = k + kvWidth
            let cosRow = rotary.cos.pointer + position * rotary.half
            let sinRow = rotary.sin.pointer + position * rotary.half
            tl_rope(q, Int32(config.numAttentionHeads), Int32(headDim), cosRow, sinRow)
            tl_rope(k, Int32(config.numKeyValueHeads), Int32(headDim), cosRow, sinRow)
            ws.cache.store(slot: batch.slots[r], layer: layer, position: position, keys: k, values: v)
        }

        let scale = 1 / Float(headDim).squareRoot()
        withUnsafeTemporaryAllocation(of: tl_attention_query.self, capacity: rows) { queries in
            for r in 0..<rows {
                let slot = batch.slots[r]
                queries[r] = tl_attention_query(q: qkv + r * qkvWidth,
                                                keys: UnsafeRawPointer(ws.cache.keys(slot: slot, layer: layer)),
                                                values: UnsafeRawPointer(ws.cache.values(slot: slot, layer: layer)),
                                                length: Int64(batch.rows[r].position + 1),
                                                out: ws.attention.pointer + r * qWidth)
            }
            tl_attention(queries.baseAddress, Int64(rows), Int64(ws.capacity), Int32(config.numAttentionHeads),
                         Int32(config.numKeyValueHeads), Int32(headDim), scale, ws.cache.dtype.kernelDType,
                         Kernels.path.rawValue)
        }

        Kernels.linear(ws.attention.pointer, rows: rows, k: qWidth, ldx: qWidth,
                       LinearOutput(matrix: weights.oProj, bias: nil, y: ws.projected.pointer, ldy: hidden))
    }
}
