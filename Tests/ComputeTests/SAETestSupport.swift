import Experiment
import SafeTensors
import Compute
import Foundation
import TestSupport

/// Fixtures made by scripts/make-sae-fixtures.py with EleutherAI's sparsify.
enum SAEFixtures {
    static let root = TestEnvironment.fixtures("sae").path
    static let hookpoint = "layers.3.mlp"

    static func checkpoint(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }

    static func sae(_ name: String) throws -> SparseAutoencoder {
        try SparseAutoencoder(checkpoint: checkpoint(name), hookpoint: hookpoint)
    }

    static func reference(_ name: String) throws -> SAETensorFile {
        try SAETensorFile(path: (checkpoint(name) as NSString).appendingPathComponent("reference.safetensors"))
    }

    /// Copies a fixture checkpoint into `directory` and returns the copy's path.
    static func copy(_ name: String, into directory: TemporaryDirectory) throws -> String {
        let destination = directory.file(name)
        try FileManager.default.copyItem(atPath: checkpoint(name), toPath: destination)
        return destination
    }
}

/// Reads whole tensors out of a safetensors file. A TensorView borrows the file's mapping
/// without retaining it, so every read here keeps the file alive until the copy is done.
struct SAETensorFile {
    let file: SafeTensorsFile

    init(path: String) throws { file = try SafeTensorsFile(path: path) }

    func floats(_ name: String) throws -> [Float] {
        try withExtendedLifetime(file) { try file.tensor(name).floats() }
    }

    func int32s(_ name: String) throws -> [Int32] {
        try withExtendedLifetime(file) { try file.tensor(name).int32s() }
    }

    func shape(_ name: String) throws -> [Int] { try file.tensor(name).shape }
}

/// Writes a random SAE in sparsify's format: unit-norm decoder rows, encoder tied to them
/// plus noise, slightly negative encoder bias.
@discardableResult
func writeRandomSAE(checkpoint: String, hookpoint: String, dIn: Int, numLatents: Int, k: Int,
                    dtype: TensorDType = .f32, seed: UInt64, cfgOverrides: [String: Any] = [:]) throws -> String {
    let folder = (checkpoint as NSString).appendingPathComponent(hookpoint)
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var random = SplitMix64(seed: seed)
    var decoder = random.normalFloats(numLatents * dIn)  // [numLatents, dIn]
    for r in 0..<numLatents {
        var norm: Float = 0
        for j in 0..<dIn { norm += decoder[r * dIn + j] * decoder[r * dIn + j] }
        norm = norm.squareRoot()
        for j in 0..<dIn { decoder[r * dIn + j] /= norm }
    }
    let noise = random.normalFloats(numLatents * dIn, scale: 0.3 / Float(dIn).squareRoot())
    let encoder = zip(decoder, noise).map { $0 + $1 }  // [numLatents, dIn]
    let bias = (0..<numLatents).map { _ in -0.02 - 0.02 * abs(random.normalFloat()) }  // [numLatents]
    let bDec = random.normalFloats(dIn, scale: 0.1)  // [dIn]
    var writer = SafeTensorsWriter()
    func add(_ name: String, _ shape: [Int], _ values: [Float]) {
        switch dtype {
        case .bf16:
            let bits = values.map { v -> UInt16 in
                let u = v.bitPattern
                return UInt16((u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
            }
            writer.add(name, dtype: .bf16, shape: shape, data: bits.withUnsafeBytes { Data($0) })
        case .f16:
            let halves = values.map { Float16($0).bitPattern }
            writer.add(name, dtype: .f16, shape: shape, data: halves.withUnsafeBytes { Data($0) })
        default:
            writer.add(name, shape: shape, floats: values)
        }
    }
    add("encoder.weight", [numLatents, dIn], encoder)
    add("encoder.bias", [numLatents], bias)
    add("b_dec", [dIn], bDec)
    add("W_dec", [numLatents, dIn], decoder)
    try writer.write(to: (folder as NSString).appendingPathComponent("sae.safetensors"))
    var cfg: [String: Any] = [
        "activation": "topk", "expansion_factor": 32, "normalize_decoder": true, "num_latents": numLatents,
        "k": k, "multi_topk": false, "skip_connection": false, "transcode": false, "d_in": dIn,
    ]
    for (key, value) in cfgOverrides { cfg[key] = value }
    try writeSAEConfigJSON(cfg, to: (folder as NSString).appendingPathComponent("cfg.json"))
    return folder
}

func writeSAEConfigJSON(_ object: [String: Any], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    try data.write(to: URL(fileURLWithPath: path))
}

func readSAEConfigJSON(_ path: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
}

/// Largest |a − b| / max(|b|, floor) over two equally long arrays.
func maxSAERelativeDifference(_ a: [Float], _ b: [Float], floor: Float = 1e-6) -> Float {
    zip(a, b).map { abs($0 - $1) / max(abs($1), floor) }.max() ?? 0
}

/// Largest |a − b| / max(|b|, largest |b| of the row), over rows of width k. Small activations
/// come from cancelling sums, whose float32 error scales with the row's terms, not with the
/// value: torch's own float32 result is up to 8e-5 relative off the exact value at 0.0007
/// while the row's top activation is ~1, so tolerances are stated relative to the row.
func maxSAERowRelativeDifference(_ a: [Float], _ b: [Float], k: Int) -> Float {
    var worst: Float = 0
    for r in 0..<(b.count / k) {
        let row = (r * k)..<((r + 1) * k)
        let scale = b[row].map { abs($0) }.max() ?? 0
        for i in row {
            worst = max(worst, abs(a[i] - b[i]) / max(abs(b[i]), scale, 1e-6))
        }
    }
    return worst
}
