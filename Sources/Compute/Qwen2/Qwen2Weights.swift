import Checkpoints
import SafeTensors
import CKernels
import Foundation

/// A weight matrix left where it lies in the memory-mapped checkpoint, in its own dtype; the
/// kernels widen it to float32 as they stream it. Valid while the checkpoint is alive.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    /// [rows, columns] row-major.
    public let base: UnsafeRawPointer
    public let dtype: TensorDType
    public let rows: Int
    public let columns: Int

    init(_ view: TensorView) {
        name = view.name
        base = view.bytes.baseAddress!
        dtype = view.dtype
        rows = view.shape[0]
        columns = view.shape[1]
    }

    var kernelDType: Int32 {
        switch dtype {
        case .bf16: return Int32(TL_DTYPE_BF16)
        case .f16: return Int32(TL_DTYPE_F16)
        default: return Int32(TL_DTYPE_F32)
        }
    }

    public var byteCount: Int { rows * columns * dtype.byteSize }

    /// Row `index` widened to float32 into `destination` ([columns]).
    func widenRow(_ index: Int, into destination: UnsafeMutablePointer<Float>) {
        let start = base + index * columns * dtype.byteSize
        switch dtype {
        case .bf16:
            for i in 0..<columns {
                destination[i] = Float(bitPattern: UInt32(start.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        case .f16:
            for i in 0..<columns { destination[i] = Float(halfBits: start.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        default:
            memcpy(destination, start, columns * 4)
        }
    }
}

/// One decoder block's parameters, named as in the Hugging Face checkpoint.
public struct Qwen2LayerWeights: @unchecked Sendable {
    public let inputLayerNorm: FloatBuffer          // [hidden]
    public let qProj: WeightMatrix                  // [heads * headDim, hidden]
    public let qBias: FloatBuffer                   // [heads * headDim]
    public let kProj: WeightMatrix                  // [kvHeads * headDim, hidden]
    public let kBias: FloatBuffer                   // [kvHeads * headDim]
    public let vProj: WeightMatrix                  // [kvHeads * headDim, hidden]
    public let vBias: FloatBuffer                   // [kvHeads * headDim]
    public let oProj: WeightMatrix                  // [hidden, heads * headDim]
    public let postAttentionLayerNorm: FloatBuffer  // [hidden]
    public let gateProj: WeightMatrix           // [intermediate, hidden]
    public let upProj: WeightMatrix             // [intermediate, hidden]
    public let downProj: WeightMatrix           // [hidden, intermediate]
}

/// All parameters of a Qwen2ForCausalLM. Matrices stay memory-mapped (shared between processes
/// through the page cache); only the small vectors (norms, biases) are copied as float32.
public struct Qwen2Weights: @unchecked Sendable {
    public let embedTokens: WeightMatrix   // [vocab, hidden]
    public let layers: [Qwen2LayerWeights]
    public let finalNorm: FloatBuffer      // [hidden]
    public let lmHead: WeightMatrix        // [vocab, hidden]; embedTokens when tie_word_embeddings
    /// Keeps the mapping alive as long as the matrices are used.
    public let checkpoint: SafeTensorsCheckpoint

    static let floatTypes: Set<TensorDType> = [.bf16, .f16, .f32]

    /// Every tensor name and shape a checkpoint for `config` must have, in checkpoint order.
    public static func expectedTensors(for config: Qwen2Configuration) -> [(name: String, shape: [Int])] {
        let h = config.hiddenSize, q = config.queryWidth, kv = config.keyValueWidth, i = config.intermediateSize
        var list: [(String, [Int])] = [("model.embed_tokens.weight", [config.vocabSize, h])]
        for l in 0..<config.numHiddenLayers {
            let p = "model.layers.\(l)."
            list += [
                (p + "input_layernorm.weight", [h]),
                (p + "self_attn.q_proj.weight", [q, h]), (p + "self_attn.q_proj.bias", [q]),
                (p + "self_attn.k_proj.weight", [kv, h]), (p + "self_attn.k_proj.bias", [kv]),
                (p + "self_attn.v_proj.weight", [kv, h]), (p + "self_attn.v_proj.bias", [kv]),
                (p + "self_attn.o_proj.weight", [h, q]),
                (p + "post_attention_layernorm.weight", [h]),
                (p + "mlp.gate_proj.weight", [i, h]), (p + "mlp.up_proj.weight", [i, h]),
                (p + "mlp.down_proj.weight", [h, i]),
            ]
        }
        list.append(("model.norm.weight", [h]))
        if !config.tieWordEmbeddings { list.append(("lm_head.weight", [config.vocabSize, h])) }
        return list
    }

    /// Checks the checkpoint holds exactly the tensors the config implies, with the right
    /// shapes and float dtypes, and maps them.
    public init(checkpoint: SafeTensorsCheckpoint, config: Qwen2Configuration) throws {
        let expected = Self.expectedTensors(for: config)
        let expectedNames = Set(expected.map(\.name))
        let present = checkpoint.tensorNames
        if let extra = present.subtracting(expectedNames).sorted().first {
            let hint = extra == "lm_head.weight" && config.tieWordEmbeddings
                ? "config.json says tie_word_embeddings is true, yet the checkpoint has its own lm_head.weight; fix tie_word_embeddings"
                : "not part of a Qwen2 model with this config.json (\(config.numHiddenLayers) layers, tie_word_embeddings \(config.tieWordEmbeddings)); wrong config or a different architecture?"
            throw SafeTensorsError(file: checkpoint.directory, tensor: extra, reason: "unexpected tensor: \(hint)")
        }
        for (name, shape) in expected {
            guard present.contains(name) else {
                throw SafeTensorsError(file: checkpoint.directory, tensor: name, reason: "missing from the checkpoint (config.json implies shape \(shape))")
            }
            _ = try checkpoint.tensor(name, shape: shape, dtypes: Self.floatTypes)
        }
        func matrix(_ name: String) throws -> WeightMatrix { WeightMatrix(try checkpoint.tensor(name)) }
        func vector(_ name: String) throws -> FloatBuffer { FloatBuffer(try checkpoint.tensor(name).floats()) }

        embedTokens = try matrix("model.embed_tokens.weight")
        var layers: [Qwen2LayerWeights] = []
        for l in 0..<config.numHiddenLayers {
            let p = "model.layers.\(l)."
            layers.append(Qwen2LayerWeights(
                inputLayerNorm: try vector(p + "input_layernorm.weight"),
                qProj: try matrix(p + "self_attn.q_proj.weight"), qBias: try vector(p + "self_attn.q_proj.bias"),
                kProj: try matrix(p + "self_attn.k_proj.weight"), kBias: try vector(p + "self_attn.k_proj.bias"),
                vProj: try matrix(p + "self_attn.v_proj.weight"), vBias: try vector(p + "self_attn.v_proj.bias"),
                oProj: try matrix(p + "self_attn.o_proj.weight"),
                postAttentionLayerNorm: try vector(p + "post_attention_layernorm.weight"),
                gateProj: try matrix(p + "mlp.gate_proj.weight"), upProj: try matrix(p + "mlp.up_proj.weight"),
                downProj: try matrix(p + "mlp.down_proj.weight")))
        }
        self.layers = layers
        finalNorm = try vector("model.norm.weight")
        lmHead = config.tieWordEmbeddings ? embedTokens : try matrix("lm_head.weight")
        self.checkpoint = checkpoint
    }

    /// Bytes of all matrices as stored (the figure the memory goal is measured against).
    public var matrixBytes: Int {
        var total = embedTokens.byteCount + (lmHead.base == embedTokens.base ? 0 : lmHead.byteCount)
        for l in layers {
            total += l.qProj.byteCount + l.kProj.byteCount + l.vProj.byteCount + l.oProj.byteCount
            total += l.gateProj.byteCount + l.upProj.byteCount + l.downProj.byteCount
        }
        return total
    }
}
