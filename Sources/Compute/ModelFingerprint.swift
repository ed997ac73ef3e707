import CKernels
import Foundation

/// A stable identifier of a model directory's weights and architecture, e.g.
/// `qwen2-1b2c…`, carried in `Hello` and in bundle manifests so results of different
/// models never mix.
///
/// Covers config.json's architecture keys (as decoded, so formatting does not matter), every
/// tensor's name, dtype and shape, the full bytes of tensors up to 1 MiB (norms, biases) and
/// 64 evenly spaced 4 KiB samples of larger ones. For the 1.5B model that reads about 50 MB
/// of 3.5 GB, so start-up stays cheap while a retrained or re-exported model changes it.
/// It detects mix-ups, not tampering: the same non-cryptographic content hash as the SAE
/// fingerprint (`tl_sae_hash_*`).
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
}

/// Incremental use of the kernels' content hash; strings end with a zero byte so
/// concatenations cannot collide.
struct ContentHash {
    private var state = tl_sae_hash_seed()

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        state = tl_sae_hash_update(state, base, bytes.count)
    }

    mutating func add(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.append(0)
        bytes.withUnsafeBytes { add($0) }
    }

    /// Small tensors whole; larger ones as `samples` evenly spaced `sampleBytes` pieces from
    /// the first byte to the last, so fingerprinting a GB-sized file reads about a MB.
    mutating func addSampled(_ bytes: UnsafeRawBufferPointer, wholeUpTo: Int = 1 << 20, samples: Int = 64, sampleBytes: Int = 4096) {
        guard bytes.count > 0 else { return }
        if bytes.count <= wholeUpTo {
            add(bytes)
            return
        }
        let lastStart = bytes.count - sampleBytes
        for i in 0..<samples {
            let offset = lastStart * i / (samples - 1)
            add(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + sampleBytes)]))
        }
    }

    var hex: String {
        let s = String(tl_sae_hash_finish(state), radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

extension Qwen2Model {
    /// See `ModelFingerprint`; computed on each call, so callers keep the result.
    public func computeFingerprint() -> String {
        ModelFingerprint.compute(config: config, checkpoint: weights.checkpoint)
    }
}
