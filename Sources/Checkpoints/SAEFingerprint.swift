import Foundation
import SafeTensors

/// A stable identifier of an SAE, e.g. `sae1-3f2a9c0d41b7e865`, recorded with results so a
/// run can say which SAE produced its latents.
///
/// Covers: the effective config (d_in, num_latents, k, activation, transcode,
/// skip_connection — not cfg.json's formatting or training-only keys), every tensor's name,
/// dtype and shape, the full bytes of tensors up to 1 MiB (encoder.bias, b_dec at the real
/// size) and 64 evenly spaced 4 KiB samples of larger ones (encoder.weight, W_dec, W_skip).
/// At 65,536 × 1536 F32 that reads about 1.3 MB of an 0.8 GB file, so start-up stays cheap,
/// while any retraining, re-export in another dtype or different checkpoint changes it.
/// Not a cryptographic hash: it detects mix-ups, not tampering.
public enum SAEFingerprint {
    /// Tensors up to this size are hashed whole; larger ones are sampled.
    static let wholeTensorBytes = 1 << 20
    /// Samples taken from each larger tensor, evenly spaced from its first to its last byte.
    static let samples = 64
    static let sampleBytes = 4096

    public static func compute(config: SAEConfig, weights file: SafeTensorsFile) -> String {
        var hash = ContentHash()
        hash.add("d_in=\(config.dIn) num_latents=\(config.numLatents) k=\(config.k) activation=\(config.activationKind.rawValue) transcode=\(config.transcode) skip=\(config.skipConnection)")
        for name in file.tensorNames {
            guard let view = try? file.tensor(name) else { continue }
            hash.add("\(name) \(view.dtype.rawValue) \(view.shape)")
            hash.addSampled(view.bytes, wholeUpTo: wholeTensorBytes, samples: samples, sampleBytes: sampleBytes)
        }
        return "sae1-" + hash.hex
    }
}
