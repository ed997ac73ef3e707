import Experiment
import SafeTensors
@testable import Compute
import Foundation
import TestSupport
@testable import Tokenizer

/// A tiny but complete run setup, written at test time in the real formats: a byte-level
/// tokenizer.json with DeepSeek-R1's 22 added tokens, a random-weight Qwen2 model directory
/// (config.json, generation_config.json, model.safetensors) and a sparsify SAE checkpoint.
/// Small enough that a debug-build worker starts in a moment and a problem takes a second.
struct RunFixture {
    let root: String
    var model: String { root + "/model" }
    /// Same architecture and tokenizer, different weights: its workers must be rejected.
    var otherModel: String { root + "/other-model" }
    var sae: String { root + "/sae" }
    static let hookpoints = ["layers.1.mlp", "layers.2.mlp"]

    static let addedTokens = R1TokenizerFixture.addedTokens
    static let vocabulary = 256 + addedTokens.count   // byte tokens, then the added tokens
    static let eos = 256
    static let bos = 259

    /// Built once per test process.
    static let shared: RunFixture = {
        let root = makeTemporaryDirectory("run-fixture")
        removeAtExit(root)
        let fixture = RunFixture(root: root)
        do {
            try fixture.writeModel(at: fixture.model, seed: 1)
            try fixture.writeModel(at: fixture.otherModel, seed: 99)
            for (i, h) in hookpoints.enumerated() {
                try fixture.writeSAE(at: fixture.sae + "/" + h, seed: UInt64(10 + i))
            }
        } catch {
            fatalError("could not write the run fixture under \(root): \(error)")
        }
        return fixture
    }()

    // MARK: Writers

    func writeModel(at dir: String, seed: UInt64) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let hidden = 32, intermediate = 64, layers = 3, heads = 4, kvHeads = 2
        let headDim = hidden / heads
        let config = """
        {"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","vocab_size":\(Self.vocabulary),"hidden_size":\(hidden),\
        "intermediate_size":\(intermediate),"num_hidden_layers":\(layers),"num_attention_heads":\(heads),\
        "num_key_value_heads":\(kvHeads),"rms_norm_eps":1e-6,"rope_theta":10000.0,"max_position_embeddings":1024,\
        "tie_word_embeddings":false,"torch_dtype":"float32","use_sliding_window":false,"hidden_act":"silu",\
        "bos_token_id":\(Self.bos),"eos_token_id":\(Self.eos)}
        """
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let generation = #"{"do_sample":true,"temperature":0.6,"top_p":0.95,"bos_token_id":\#(Self.bos),"eos_token_id":\#(Self.eos)}"#
        try generation.write(toFile: dir + "/generation_config.json", atomically: true, encoding: .utf8)
        try tokenizerJSON().write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)

        var rng = Self.random(seed: seed)
        var w = SafeTensorsWriter()
        func matrix(_ name: String, _ rows: Int, _ cols: Int, scale: Float) {
            w.add(name, shape: [rows, cols], floats: (0..<(rows * cols)).map { _ in rng.standardNormal() * scale })
        }
        func vector(_ name: String, _ n: Int, mean: Float, scale: Float) {
            w.add(name, shape: [n], floats: (0..<n).map { _ in mean + rng.standardNormal() * scale })
        }
        matrix("model.embed_tokens.weight", Self.vocabulary, hidden, scale: 1)
        for l in 0..<layers {
            let p = "model.layers.\(l)."
            vector(p + "input_layernorm.weight", hidden, mean: 1, scale: 0.1)
            matrix(p + "self_attn.q_proj.weight", heads * headDim, hidden, scale: 0.2)
            vector(p + "self_attn.q_proj.bias", heads * headDim, mean: 0, scale: 0.1)
            matrix(p + "self_attn.k_proj.weight", kvHeads * headDim, hidden, scale: 0.2)
            vector(p + "self_attn.k_proj.bias", kvHeads * headDim, mean: 0, scale: 0.1)
            matrix(p + "self_attn.v_proj.weight", kvHeads * headDim, hidden, scale: 0.2)
            vector(p + "self_attn.v_proj.bias", kvHeads * headDim, mean: 0, scale: 0.1)
            matrix(p + "self_attn.o_proj.weight", hidden, heads * headDim, scale: 0.2)
            vector(p + "post_attention_layernorm.weight", hidden, mean: 1, scale: 0.1)
            matrix(p + "mlp.gate_proj.weight", intermediate, hidden, scale: 0.2)
            matrix(p + "mlp.up_proj.weight", intermediate, hidden, scale: 0.2)
            matrix(p + "mlp.down_proj.weight", hidden, intermediate, scale: 0.2)
        }
        vector("model.norm.weight", hidden, mean: 1, scale: 0.1)
        matrix("lm_head.weight", Self.vocabulary, hidden, scale: 0.5)
        w.metadata = ["format": "pt"]
        try w.write(to: dir + "/model.safetensors")
    }

    func writeSAE(at dir: String, seed: UInt64) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let dIn = 32, latents = 256, k = 8
        try #"{"d_in":\#(dIn),"num_latents":\#(latents),"k":\#(k),"activation":"topk","normalize_decoder":true,"multi_topk":false,"skip_connection":false,"transcode":false}"#
            .write(toFile: dir + "/cfg.json", atomically: true, encoding: .utf8)
        var rng = Self.random(seed: seed)
        var decoder = (0..<(latents * dIn)).map { _ in rng.standardNormal() }
        for r in 0..<latents {  // unit-norm decoder rows, as sparsify keeps them
            let norm = sqrt((0..<dIn).reduce(Float(0)) { $0 + decoder[r * dIn + $1] * decoder[r * dIn + $1] })
            for j in 0..<dIn { decoder[r * dIn + j] /= norm }
        }
        var w = SafeTensorsWriter()
        w.add("encoder.weight", shape: [latents, dIn], floats: decoder.map { $0 + rng.standardNormal() * 0.05 })
        w.add("encoder.bias", shape: [latents], floats: (0..<latents).map { _ in rng.standardNormal() * 0.01 })
        w.add("W_dec", shape: [latents, dIn], floats: decoder)
        w.add("b_dec", shape: [dIn], floats: (0..<dIn).map { _ in rng.standardNormal() * 0.01 })
        try w.write(to: dir + "/sae.safetensors")
    }

    func tokenizerJSON() -> String { R1TokenizerFixture.json() }

    /// The fixture's weights are standard normals drawn from this generator; the seed offset
    /// keeps them the values the fixture has always had.
    static func random(seed: UInt64) -> SplitMix64 { SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15) }
}
