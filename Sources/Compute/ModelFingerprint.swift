import Foundation

/// A stable identifier of a model directory's weights and architecture, e.g.
/// `qwen2-1b2c…`, carried in `Hello` and in bundle manifests so results of different
/// models never mix.
///
/// Covers config.json's architecture keys (as decoded, so formatting does not matter), every
/// tensor's name, dtype and shape, the full bytes of tensors up to 1 MiB (norms, biases) and
/// 64 evenly spaced 4 KiB samples of larger ones. For the 1.5B model that reads about 50 MB
/// of 3.5 GB, so start-up stays cheap while a retrained or re-exported model changes it.
/// It detects mix-ups, not tampering (FNV-1a, not a cryptographic hash).
public enum ModelFingerprint {
    static let wholeTensorBytes = 1 << 20
    static let samples = 64
    static let sampleBytes = 4096

    public static func compute(config: Qwen2Configuration, checkpoint: SafeTensorsCheckpoint) -> String {
        var hash = FNV1a64()
        hash.add("model_type=\(config.modelType) vocab=\(config.vocabSize) hidden=\(config.hiddenSize) intermediate=\(config.intermediateSize) layers=\(config.numHiddenLayers) heads=\(config.numAttentionHeads) kv_heads=\(config.numKeyValueHeads) eps=\(config.rmsNormEps) theta=\(config.ropeTheta) tied=\(config.tieWordEmbeddings)")
        for name in checkpoint.tensorNames.sorted() {
            guard let view = try? checkpoint.tensor(name) else { continue }
            hash.add("\(name) \(view.dtype.rawValue) \(view.shape)")
            let bytes = view.bytes
            guard bytes.count > 0 else { continue }
            if bytes.count <= wholeTensorBytes {
                hash.add(bytes)
            } else {
                let lastStart = bytes.count - sampleBytes
                for i in 0..<samples {
                    let offset = lastStart * i / (samples - 1)
                    hash.add(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + sampleBytes)]))
                }
            }
        }
        return "qwen2-" + hash.hex
    }
}

/// 64-bit FNV-1a; strings are hashed with a terminating zero so concatenations cannot collide.
struct FNV1a64 {
    private(set) var state: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var h = state
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        state = h
    }

    mutating func add(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.append(0)
        bytes.withUnsafeBytes { add($0) }
    }

    var hex: String {
        let s = String(state, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

extension Qwen2Model {
    /// See `ModelFingerprint`; computed on each call, so callers keep the result.
    public func computeFingerprint() -> String {
        ModelFingerprint.compute(config: config, checkpoint: weights.checkpoint)
    }
}
