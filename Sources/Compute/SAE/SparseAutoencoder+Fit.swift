import Checkpoints
import CKernels
import Foundation

/// The fit check: how much of the activations' variance the SAE's reconstruction misses.
/// A worker runs it on its first sequences; an FVU above about 0.5 means the SAE does not
/// fit these activations (e.g. residual-stream states fed to an SAE trained on MLP outputs).
extension SparseAutoencoder {
    /// FVU above this is reported loudly by callers.
    public static let poorFitFVU = 0.5

    /// sparsify's `decode` (plus the skip connection of `forward`):
    /// x̂ = Σⱼ actⱼ · W_dec[idxⱼ] + b_dec (+ x · W_skipᵀ when `skip_connection`).
    /// - Parameter x: [rows, dIn], needed only for SAEs with a skip connection.
    /// - Returns: [rows, dIn].
    public func reconstruct(_ latents: SAELatents, x: [Float]? = nil) throws -> [Float] {
        guard let decoderWeight else {
            throw SAEError(path: directory, reason: "sae.safetensors has no W_dec, so it cannot reconstruct (the fit check needs the decoder)")
        }
        let rows = latents.rows, d = dIn
        var out = [Float](repeating: 0, count: rows * d)
        var decoderRow = [Float](repeating: 0, count: d)  // [dIn] one widened W_dec row
        out.withUnsafeMutableBufferPointer { o in
            decoderRow.withUnsafeMutableBufferPointer { w in
                for r in 0..<rows {
                    let dst = o.baseAddress! + r * d
                    for j in 0..<d { dst[j] = decoderBias[j] }
                    for slot in 0..<latents.k {
                        let act = latents.activations[r * latents.k + slot]
                        if act == 0 { continue }
                        let latent = Int(latents.indices[r * latents.k + slot])
                        Self.widenRows(of: decoderWeight, latent..<(latent + 1), columns: d, into: w.baseAddress!)
                        for j in 0..<d { dst[j] += act * w[j] }
                    }
                }
            }
        }
        if config.skipConnection {
            guard let skipWeight else {
                throw SAEError(path: directory, reason: "cfg.json has skip_connection: true but sae.safetensors has no W_skip [\(d), \(d)]")
            }
            guard let x, x.count == rows * d else {
                throw SAEError(path: directory, reason: "this SAE has a skip connection: reconstruct needs the input x [\(rows), \(d)]")
            }
            var skip = [Float](repeating: 0, count: d * d)  // [dIn, dIn] widened W_skip
            skip.withUnsafeMutableBufferPointer { Self.widenRows(of: skipWeight, 0..<d, columns: d, into: $0.baseAddress!) }
            // out[rows, d] += x[rows, d] · W_skipᵀ
            x.withUnsafeBufferPointer { xs in
                skip.withUnsafeBufferPointer { ws in
                    out.withUnsafeMutableBufferPointer { o in
                        BLAS.gemmABt(m: rows, n: d, k: d, a: xs.baseAddress!, lda: d, b: ws.baseAddress!, ldb: d,
                                     c: o.baseAddress!, ldc: d, alpha: 1, beta: 1)
                    }
                }
            }
        }
        return out
    }

    /// FVU of this SAE on `x` ([rows, dIn]): encodes, reconstructs, compares.
    public func fractionOfVarianceUnexplained(_ x: [Float], rows: Int) throws -> Double {
        try fractionOfVarianceUnexplained(x, rows: rows, latents: encode(x, rows: rows))
    }

    /// FVU from latents already computed for `x`.
    public func fractionOfVarianceUnexplained(_ x: [Float], rows: Int, latents: SAELatents) throws -> Double {
        let reconstruction = try reconstruct(latents, x: x)
        return Self.fractionOfVarianceUnexplained(x: x, reconstruction: reconstruction, rows: rows, columns: dIn)
    }

    /// sparsify's definition over a batch: Σ‖x − x̂‖² / Σ‖x − mean(x)‖², the mean taken over
    /// rows (`(y - y.mean(0)).pow(2).sum()`). Accumulated in double.
    public static func fractionOfVarianceUnexplained(x: [Float], reconstruction: [Float], rows: Int, columns: Int) -> Double {
        precondition(x.count == rows * columns && reconstruction.count == x.count)
        guard rows > 0 else { return .nan }
        var mean = [Double](repeating: 0, count: columns)
        for r in 0..<rows { for j in 0..<columns { mean[j] += Double(x[r * columns + j]) } }
        for j in 0..<columns { mean[j] /= Double(rows) }
        var residual = 0.0, total = 0.0
        for r in 0..<rows {
            for j in 0..<columns {
                let v = Double(x[r * columns + j])
                let e = v - Double(reconstruction[r * columns + j])
                let c = v - mean[j]
                residual += e * e
                total += c * c
            }
        }
        return residual / total
    }
}
