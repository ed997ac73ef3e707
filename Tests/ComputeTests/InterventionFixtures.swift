import Experiment
import Foundation
import SafeTensors
import TestSupport
@testable import Compute

/// The feature-edit fixtures written by scripts/make-intervention-fixtures.py: two sparsify SAEs
/// for the gqa2-untied-f32 model (layers.1.mlp and layers.3) and transformers' outputs under edits.
enum InterventionFixtures {
    static let directory = TestEnvironment.fixtures("interventions")
    static let model = "gqa2-untied-f32"
    static let saeDirectory = directory.appendingPathComponent("sae").path
    static let hookpoints = ["layers.1.mlp", "layers.3"]

    struct Case: Decodable {
        let name: String
        let edits: String
    }

    static func cases() throws -> [Case] {
        try JSONDecoder().decode([Case].self, from: Data(contentsOf: directory.appendingPathComponent("cases.json")))
    }

    static func reference() throws -> SafeTensorsFile {
        try SafeTensorsFile(path: directory.appendingPathComponent("reference.safetensors").path)
    }

    /// Both fixture SAEs by hookpoint name.
    static func saes() throws -> [String: SparseAutoencoder] {
        var saes: [String: SparseAutoencoder] = [:]
        for name in hookpoints { saes[name] = try SparseAutoencoder(checkpoint: saeDirectory, hookpoint: name, expectedDIn: 64) }
        return saes
    }

    /// `text` (EDIT(+EDIT)*, or "" for none) parsed and bound to the fixture model and SAEs.
    static func bind(_ text: String, model: Qwen2Model, saes: [String: SparseAutoencoder]) throws -> [BoundFeatureEdit] {
        guard !text.isEmpty else { return [] }
        return try BoundFeatureEdit.bind(try FeatureEdit.parseList(text), layerCount: model.config.numHiddenLayers,
                                         hiddenSize: model.config.hiddenSize, saes: saes, saeSource: "the fixture SAEs")
    }
}
