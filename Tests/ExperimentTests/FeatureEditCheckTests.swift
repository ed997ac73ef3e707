import Testing
@testable import Experiment

/// `FeatureEdit.check`: an edit against a model's layer count and the SAEs at hand.
@Suite struct FeatureEditCheckTests {
    /// Two SAEs: layers.3 with 128 latents, layers.1.mlp with 65,536.
    static func latents(_ hookpoint: String) -> Int? {
        ["layers.3": 128, "layers.1.mlp": 65_536][hookpoint]
    }

    @Test func anEditInsideTheModelWithItsSAEAndFeaturePasses() throws {
        try FeatureEdit.parse("layers.1.mlp:65535:clamp=8").check(layerCount: 6, saeSource: "--sae S", latentCount: Self.latents)
        try FeatureEdit.parse("layers.3:0:ablate@generated").check(layerCount: 6, saeSource: "--sae S", latentCount: Self.latents)
    }

    @Test(arguments: [
        ("layers.6:1:ablate", "hookpoint layers.6 is past the last layer 5 of this 6-layer model"),
        ("layers.2.mlp:1:ablate", "no SAE for layers.2.mlp in --sae S: it needs a layers.2.mlp/ folder with cfg.json and sae.safetensors"),
        ("layers.3:128:scale=2", "feature 128 is past the last latent 127 of the layers.3 SAE (128 latents)"),
    ])
    func aBadEditIsRefusedNamingThePart(text: String, reason: String) throws {
        let edit = try FeatureEdit.parse(text)
        #expect(throws: InterventionError(text, reason)) {
            try edit.check(layerCount: 6, saeSource: "--sae S", latentCount: Self.latents)
        }
    }

    @Test func anEditBuiltWithAnotherNameIsRefusedAsNotAHookpoint() {
        let edit = FeatureEdit(hookpoint: "model.norm", feature: 1, operation: .ablate)
        #expect(edit.layer == nil)
        #expect(throws: InterventionError("model.norm:1:ablate", "'model.norm' is not a hookpoint (layers.N or layers.N.mlp)")) {
            try edit.check(layerCount: 6, saeSource: "--sae S", latentCount: Self.latents)
        }
    }
}
