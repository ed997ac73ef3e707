import Checkpoints
import Foundation
import Testing
import TestSupport

/// An SAE folder that is not complete is named with the file it lacks.
@Suite struct SAECheckpointTests {
    static let fixtures = TestEnvironment.fixtures("sae/f32").path

    @Test func aCompleteFolderOpens() throws {
        let checkpoint = try SAECheckpoint(checkpoint: Self.fixtures, hookpoint: "layers.3.mlp")
        #expect(checkpoint.config.dIn > 0)
        #expect(try checkpoint.fingerprint().hasPrefix("sae1-"))
    }

    @Test func aMissingCfgJSONIsNamed() throws {
        let directory = TemporaryDirectory("sae-checkpoint")
        let folder = directory.subdirectory("layers.3.mlp")
        try FileManager.default.copyItem(atPath: Self.fixtures + "/layers.3.mlp/sae.safetensors", toPath: folder + "/sae.safetensors")
        let error = #expect(throws: SAEError.self) { try SAECheckpoint(checkpoint: directory.path, hookpoint: "layers.3.mlp") }
        #expect(error?.path.hasSuffix("layers.3.mlp/cfg.json") == true)
        #expect(SAECheckpoint.incompleteHookpoints(in: directory.path) == ["layers.3.mlp"])
        #expect(SAECheckpoint.hookpoints(in: directory.path).isEmpty)
    }

    @Test func aMissingWeightsFileIsNamed() throws {
        let directory = TemporaryDirectory("sae-checkpoint")
        let folder = directory.subdirectory("layers.3.mlp")
        try FileManager.default.copyItem(atPath: Self.fixtures + "/layers.3.mlp/cfg.json", toPath: folder + "/cfg.json")
        let error = #expect(throws: SAEError.self) { try SAECheckpoint(checkpoint: directory.path, hookpoint: "layers.3.mlp") }
        #expect(error?.path.hasSuffix("layers.3.mlp/sae.safetensors") == true)
    }

    @Test func anAbsentHookpointListsTheOnesThere() throws {
        let error = #expect(throws: SAEError.self) { try SAECheckpoint(checkpoint: Self.fixtures, hookpoint: "layers.9.mlp") }
        #expect(error?.reason.contains("available hookpoints: layers.3.mlp") == true)
    }
}
