import Checkpoints
import SafeTensors
import Compute
import Foundation
import Testing
import TestSupport

@Suite("SAE loading and refusals")
struct SAELoadingTests {
    /// Copies the f32 fixture, lets `edit` change its cfg.json, and returns the load error.
    func loadError(expectedDIn: Int? = nil, editing edit: (inout [String: Any]) -> Void) throws -> SAEError? {
        let scratch = TemporaryDirectory("sae")
        let checkpoint = try SAEFixtures.copy("f32", into: scratch)
        let cfgPath = ((checkpoint as NSString).appendingPathComponent(SAEFixtures.hookpoint) as NSString).appendingPathComponent("cfg.json")
        var cfg = try readSAEConfigJSON(cfgPath)
        edit(&cfg)
        try writeSAEConfigJSON(cfg, to: cfgPath)
        do {
            _ = try SparseAutoencoder(checkpoint: checkpoint, hookpoint: SAEFixtures.hookpoint, expectedDIn: expectedDIn)
            return nil
        } catch let error as SAEError {
            return error
        }
    }

    @Test("the fixture's cfg.json is read as sparsify writes it")
    func readsConfig() throws {
        let sae = try SAEFixtures.sae("f32")
        #expect(sae.dIn == 64 && sae.numLatents == 1024 && sae.k == 16)
        #expect(sae.activation == .topk && sae.weightDType == .f32 && sae.hasDecoder)
        #expect(sae.hookpoint == SAEFixtures.hookpoint)
    }

    @Test("unknown cfg.json keys are ignored and missing optional keys take sparsify's defaults")
    func toleratesUnknownAndMissingKeys() throws {
        let error = try loadError { cfg in
            cfg["some_future_option"] = [1, 2, 3]
            cfg["signed"] = true
            cfg.removeValue(forKey: "activation")
            cfg.removeValue(forKey: "transcode")
            cfg.removeValue(forKey: "multi_topk")
        }
        #expect(error == nil)
    }

    @Test("a transcoder is refused as an autoencoder")
    func refusesTranscoder() throws {
        let error = try #require(try loadError { $0["transcode"] = true })
        #expect(error.description.contains("cfg.json") && error.reason.contains("transcode"))
    }

    @Test("an activation other than topk or groupmax is refused")
    func refusesUnknownActivation() throws {
        let error = try #require(try loadError { $0["activation"] = "jumprelu" })
        #expect(error.reason.contains("jumprelu"))
    }

    @Test("k larger than num_latents is refused")
    func refusesOversizedK() throws {
        let error = try #require(try loadError { $0["k"] = 4096 })
        #expect(error.reason.contains("k = 4096") && error.reason.contains("1024"))
    }

    @Test("d_in different from the model's hidden size is refused")
    func refusesWrongHiddenSize() throws {
        let error = try #require(try loadError(expectedDIn: 1536) { _ in })
        #expect(error.reason.contains("64") && error.reason.contains("1536"))
    }

    @Test("a cfg.json that disagrees with the tensor shapes is refused, naming the tensor")
    func refusesShapeMismatch() throws {
        let error = try #require(try loadError { $0["num_latents"] = 2048 })
        #expect(error.path.hasSuffix("sae.safetensors") && error.reason.contains("encoder.weight"))
    }

    @Test("num_latents 0 falls back to d_in × expansion_factor, and a mismatch there is refused too")
    func expansionFactorMismatch() throws {
        let error = try #require(try loadError { cfg in
            cfg["num_latents"] = 0
            cfg["expansion_factor"] = 8
        })
        #expect(error.reason.contains("[512, 64]"))
    }

    /// Found by `scripts/fuzz config`: d_in × the default expansion_factor (32) overflowed and trapped.
    @Test("a d_in whose product with expansion_factor overflows is refused")
    func refusesOverflowingLatentCount() throws {
        let scratch = TemporaryDirectory("sae")
        let path = scratch.path + "/cfg.json"
        try Data(#"{\#n "d_in":2147836482147483648}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: SAEError(path: path, reason: "num_latents is 0 and d_in 2147836482147483648 × expansion_factor 32 overflows")) {
            _ = try SAEConfig.load(path: path)
        }
    }

    @Test("a cfg.json without d_in is refused")
    func refusesMissingDIn() throws {
        let error = try #require(try loadError { $0.removeValue(forKey: "d_in") })
        #expect(error.reason.contains("d_in"))
    }

    @Test("groupmax with num_latents not a multiple of k is refused")
    func refusesUnevenGroups() throws {
        let error = try #require(try loadError { cfg in
            cfg["activation"] = "groupmax"
            cfg["k"] = 24
        })
        #expect(error.reason.contains("multiple"))
    }

    @Test("an unknown hookpoint is refused with the list of available ones")
    func refusesUnknownHookpoint() throws {
        #expect {
            _ = try SparseAutoencoder(checkpoint: SAEFixtures.checkpoint("f32"), hookpoint: "layers.10.mlp")
        } throws: { error in
            (error as? SAEError)?.reason.contains("available hookpoints: layers.3.mlp") == true
        }
    }

    @Test("a missing tensor is refused, naming it")
    func refusesMissingTensor() throws {
        let scratch = TemporaryDirectory("sae")
        let folder = try writeRandomSAE(checkpoint: scratch.path, hookpoint: "h", dIn: 8, numLatents: 32, k: 4, seed: 1)
        let path = (folder as NSString).appendingPathComponent("sae.safetensors")
        let file = try SAETensorFile(path: path)
        var writer = SafeTensorsWriter()
        for name in file.file.tensorNames where name != "encoder.bias" {
            writer.add(name, shape: try file.shape(name), floats: try file.floats(name))
        }
        try writer.write(to: path)
        #expect {
            _ = try SparseAutoencoder(checkpoint: scratch.path, hookpoint: "h")
        } throws: { error in
            (error as? SAEError)?.reason.contains("'encoder.bias' is missing") == true
        }
    }

    @Test("an F16 SAE is refused: sparsify checkpoints are F32 or BF16")
    func refusesF16() throws {
        let scratch = TemporaryDirectory("sae")
        try writeRandomSAE(checkpoint: scratch.path, hookpoint: "h", dIn: 8, numLatents: 32, k: 4, dtype: .f16, seed: 1)
        #expect {
            _ = try SparseAutoencoder(checkpoint: scratch.path, hookpoint: "h")
        } throws: { error in
            (error as? SAEError)?.reason.contains("F16") == true
        }
    }

    @Test("without W_dec, encoding works and reconstruction is refused")
    func encodesWithoutDecoder() throws {
        let scratch = TemporaryDirectory("sae")
        let folder = try writeRandomSAE(checkpoint: scratch.path, hookpoint: "h", dIn: 8, numLatents: 32, k: 4, seed: 1)
        let path = (folder as NSString).appendingPathComponent("sae.safetensors")
        let file = try SAETensorFile(path: path)
        var writer = SafeTensorsWriter()
        for name in file.file.tensorNames where name != "W_dec" {
            writer.add(name, shape: try file.shape(name), floats: try file.floats(name))
        }
        try writer.write(to: path)
        let sae = try SparseAutoencoder(checkpoint: scratch.path, hookpoint: "h")
        #expect(!sae.hasDecoder)
        let x = [Float](repeating: 0.5, count: 16)
        let latents = sae.encode(x, rows: 2)
        #expect(latents.rows == 2)
        #expect(throws: SAEError.self) { try sae.fractionOfVarianceUnexplained(x, rows: 2, latents: latents) }
    }

    @Test("the fingerprint is stable across loads and changes with the weights")
    func fingerprint() throws {
        let first = try SAEFixtures.sae("f32").fingerprint
        #expect(first == (try SAEFixtures.sae("f32").fingerprint))
        #expect(first.hasPrefix("sae1-") && first.count == 21)
        #expect(first != (try SAEFixtures.sae("ties").fingerprint))
        let scratch = TemporaryDirectory("sae")
        try writeRandomSAE(checkpoint: scratch.path, hookpoint: "h", dIn: 8, numLatents: 32, k: 4, seed: 1)
        let a = try SparseAutoencoder(checkpoint: scratch.path, hookpoint: "h").fingerprint
        try writeRandomSAE(checkpoint: scratch.path, hookpoint: "h", dIn: 8, numLatents: 32, k: 4, seed: 2)
        let b = try SparseAutoencoder(checkpoint: scratch.path, hookpoint: "h").fingerprint
        #expect(a != b)
    }
}
