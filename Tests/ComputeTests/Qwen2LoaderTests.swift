import SafeTensors
import Foundation
import Testing
import TestSupport
@testable import Compute

/// Model directories the engine cannot honour are refused with a message naming file and field/tensor.
@Suite("Qwen2 loading and refusals")
struct Qwen2LoaderTests {
    /// Edits a fixture's config.json in a scratch copy and returns the error loading it raises.
    static func loadError(editingConfigOf fixture: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let scratch = TemporaryDirectory("qwen2")
        let directory = try Qwen2Fixtures.copy(fixture, into: scratch)
        let path = (directory as NSString).appendingPathComponent("config.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        do {
            _ = try Qwen2Model(directory: directory)
            return "loaded without error"
        } catch {
            return String(describing: error)
        }
    }

    /// Rewrites a single-file fixture's weights through `edit` and returns the loading error.
    static func loadError(editingWeightsOf fixture: String, _ edit: (SafeTensorsFile, inout SafeTensorsWriter) throws -> Void) throws -> String {
        let scratch = TemporaryDirectory("qwen2")
        let directory = try Qwen2Fixtures.copy(fixture, into: scratch)
        let path = (directory as NSString).appendingPathComponent("model.safetensors")
        var writer = SafeTensorsWriter()
        do {
            let original = try SafeTensorsFile(path: path)
            try edit(original, &writer)
        }
        try writer.write(to: path)
        do {
            _ = try Qwen2Model(directory: directory)
            return "loaded without error"
        } catch {
            return String(describing: error)
        }
    }

    static func copy(_ file: SafeTensorsFile, into writer: inout SafeTensorsWriter, skipping: Set<String> = []) throws {
        for name in file.tensorNames where !skipping.contains(name) {
            let t = try file.tensor(name)
            writer.add(name, dtype: t.dtype, shape: t.shape, data: Data(t.bytes))
        }
    }

    @Test("every fixture loads with its declared shapes")
    func fixturesLoad() throws {
        for name in Qwen2Fixtures.names {
            let model = try Qwen2Fixtures.model(name)
            #expect(model.weights.layers.count == model.config.numHiddenLayers)
        }
        let tied = try Qwen2Fixtures.model("gqa4-tied-bf16-sharded")
        #expect(tied.weights.lmHead.base == tied.weights.embedTokens.base)
        #expect(tied.config.ropeTheta == 1_000_000)
        #expect(tied.generationConfig.eosTokenIDs == [2, 3])
    }

    @Test("a model_type other than qwen2 is refused")
    func refusesOtherModelType() throws {
        let message = try Self.loadError(editingConfigOf: "gqa2-untied-f32") { $0["model_type"] = "llama" }
        #expect(message.contains("config.json") && message.contains("model_type is 'llama'"), "\(message)")
    }

    @Test("rope_scaling is refused, in either config layout")
    func refusesRopeScaling() throws {
        let legacy = try Self.loadError(editingConfigOf: "gqa4-tied-bf16-sharded") { $0["rope_scaling"] = ["type": "yarn", "factor": 4.0] }
        #expect(legacy.contains("rope_scaling"), "\(legacy)")
        let modern = try Self.loadError(editingConfigOf: "gqa2-untied-f32") { $0["rope_parameters"] = ["rope_theta": 10000.0, "rope_type": "yarn"] }
        #expect(modern.contains("rope_type is 'yarn'"), "\(modern)")
    }

    @Test("sliding-window attention is refused")
    func refusesSlidingWindow() throws {
        let message = try Self.loadError(editingConfigOf: "gqa4-tied-bf16-sharded") { $0["use_sliding_window"] = true }
        #expect(message.contains("use_sliding_window"), "\(message)")
    }

    @Test("a head_dim other than hidden_size / num_attention_heads is refused")
    func refusesOddHeadDim() throws {
        let message = try Self.loadError(editingConfigOf: "gqa2-untied-f32") { $0["head_dim"] = 32 }
        #expect(message.contains("head_dim 32"), "\(message)")
    }

    @Test("a missing tensor is refused, naming it")
    func refusesMissingTensor() throws {
        let message = try Self.loadError(editingWeightsOf: "gqa2-untied-f32") { file, writer in
            try Self.copy(file, into: &writer, skipping: ["model.layers.3.mlp.up_proj.weight"])
        }
        #expect(message.contains("model.layers.3.mlp.up_proj.weight") && message.contains("missing"), "\(message)")
    }

    @Test("an extra tensor is refused, naming it")
    func refusesExtraTensor() throws {
        let message = try Self.loadError(editingWeightsOf: "gqa2-untied-f32") { file, writer in
            try Self.copy(file, into: &writer)
            writer.add("model.layers.6.input_layernorm.weight", shape: [64], floats: [Float](repeating: 1, count: 64))
        }
        #expect(message.contains("model.layers.6.input_layernorm.weight") && message.contains("unexpected"), "\(message)")
    }

    @Test("a tensor of the wrong shape is refused, naming file, tensor and shapes")
    func refusesWrongShape() throws {
        let message = try Self.loadError(editingWeightsOf: "gqa2-untied-f32") { file, writer in
            try Self.copy(file, into: &writer, skipping: ["model.layers.2.self_attn.k_proj.weight"])
            writer.add("model.layers.2.self_attn.k_proj.weight", shape: [64, 64], floats: [Float](repeating: 0, count: 64 * 64))
        }
        #expect(message.contains("model.safetensors") && message.contains("k_proj.weight") && message.contains("expected [32, 64]"), "\(message)")
    }

    @Test("an integer weight tensor is refused")
    func refusesWrongDType() throws {
        let message = try Self.loadError(editingWeightsOf: "gqa2-untied-f32") { file, writer in
            try Self.copy(file, into: &writer, skipping: ["model.norm.weight"])
            writer.add("model.norm.weight", shape: [64], int32s: [Int32](repeating: 1, count: 64))
        }
        #expect(message.contains("model.norm.weight") && message.contains("dtype I32"), "\(message)")
    }

    @Test("hookpoint names parse and out-of-range layers are refused")
    func hookpointParsing() throws {
        #expect(try Hookpoint(parsing: "layers.5.mlp", layerCount: 28) == .mlp(5))
        #expect(try Hookpoint(parsing: "layers.27", layerCount: 28) == .layer(27))
        #expect(try Hookpoint(parsing: "hidden_states.28", layerCount: 28) == .hiddenStates(28))
        #expect(throws: HookpointError.self) { try Hookpoint(parsing: "layers.28", layerCount: 28) }
        #expect(throws: HookpointError.self) { try Hookpoint(parsing: "layers.5.attn", layerCount: 28) }
    }
}
