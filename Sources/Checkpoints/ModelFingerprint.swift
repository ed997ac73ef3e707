import Foundation
import SafeTensors

/// A stable identifier of a model directory's weights and architecture, e.g.
/// `qwen2-1b2c…`, carried in `Hello` and in bundle manifests so results of different
/// models never mix.
///
/// Covers config.json's architecture keys (as decoded, so formatting does not matter), every
/// tensor's name, dtype and shape, the full bytes of tensors up to 1 MiB (norms, biases) and
/// 64 evenly spaced 4 KiB samples of larger ones. For the 1.5B model that reads about 50 MB
/// of 3.5 GB, so start-up stays cheap while a retrained or re-exported model changes it.
/// It detects mix-ups, not tampering (`ContentHash`). Computed from the files alone, so a
/// coordinator fingerprints a model without loading it for inference.
public enum ModelFingerprint {
    static let wholeTensorBytes = 1 << 20
    static let samples = 64
    static let sampleBytes = 4096

    public static func compute(config: Qwen2Configuration, checkpoint: SafeTensorsCheckpoint) -> String {
        var hash = ContentHash()
        hash.add("model_type=\(config.modelType) vocab=\(config.vocabSize) hidden=\(config.hiddenSize) intermediate=\(config.intermediateSize) layers=\(config.numHiddenLayers) heads=\(config.numAttentionHeads) kv_heads=\(config.numKeyValueHeads) eps=\(config.rmsNormEps) theta=\(config.ropeTheta) tied=\(config.tieWordEmbeddings)")
        for name in checkpoint.tensorNames.sorted() {
            guard let view = try? checkpoint.tensor(name) else { continue }
            hash.add("\(name) \(view.dtype.rawValue) \(view.shape)")
            hash.addSampled(view.bytes, wholeUpTo: wholeTensorBytes, samples: samples, sampleBytes: sampleBytes)
        }
        return "qwen2-" + hash.hex
    }

    /// The fingerprint of the model in `directory` (config.json and its safetensors).
    public static func compute(directory: String) throws -> String {
        let config = try Qwen2Configuration.load(contentsOf: (directory as NSString).appendingPathComponent("config.json"))
        return compute(config: config, checkpoint: try SafeTensorsCheckpoint(directory: directory))
    }
}
