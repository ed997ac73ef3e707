import Checkpoints
import Compute
import Foundation
import SafeTensors
import Testing
import TestSupport

/// The coordinator fingerprints the model and SAEs from their files (it never loads them for
/// inference); workers fingerprint what they loaded. Both must agree, or every worker is refused.
@Suite struct FingerprintAgreementTests {
    @Test(arguments: ["gqa2-untied-f32", "gqa4-tied-bf16-sharded", "gqa3-untied-f16-odd"])
    func theModelsFingerprintFromFilesEqualsTheLoadedModels(name: String) throws {
        let directory = TestEnvironment.fixtures("qwen2").appendingPathComponent(name).path
        #expect(try ModelFingerprint.compute(directory: directory) == (try Qwen2Model(directory: directory)).computeFingerprint())
    }

    @Test(arguments: ["f32", "bf16-expansion", "skip", "groupmax", "ties"])
    func theSAEsFingerprintFromFilesEqualsTheLoadedSAEs(name: String) throws {
        let checkpoint = TestEnvironment.fixtures("sae/\(name)").path
        #expect(try SAECheckpoint(checkpoint: checkpoint, hookpoint: "layers.3.mlp").fingerprint()
            == (try SparseAutoencoder(checkpoint: checkpoint, hookpoint: "layers.3.mlp")).fingerprint)
    }
}
