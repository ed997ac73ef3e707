import SafeTensors
import Compute
import Foundation
import Testing
import TestSupport

/// The fast encoder (tl_sae_gemm panels + fused ReLU/top-k) against the naive reference, and
/// the invariances the worker relies on.
@Suite("SAE fast encoder")
struct SAEEncoderTests {
    /// A random SAE big enough for several panels and for the kernels to use the thread pool.
    static func randomSAE(_ scratch: TemporaryDirectory, dtype: TensorDType = .f32, activation: String = "topk",
                          dIn: Int = 192, numLatents: Int = 3072, k: Int = 24) throws -> SparseAutoencoder {
        try writeRandomSAE(checkpoint: scratch.path, hookpoint: "layers.1.mlp", dIn: dIn, numLatents: numLatents, k: k,
                           dtype: dtype, seed: 7, cfgOverrides: ["activation": activation])
        return try SparseAutoencoder(checkpoint: scratch.path, hookpoint: "layers.1.mlp")
    }

    static func inputs(rows: Int, dIn: Int, seed: UInt64 = 11) -> [Float] {
        var random = SplitMix64(seed: seed)
        return random.normalFloats(rows * dIn, scale: 0.5)
    }

    /// Rows agree when their index lists are equal, or differ only where the reference's
    /// neighbouring values are within `tolerance` (float32 vs double rounding at the k-th place).
    static func compare(_ fast: SAELatents, _ reference: SAELatents, tolerance: Float) -> (badRows: [Int], maxDifference: Float) {
        let k = fast.k
        var bad: [Int] = []
        var worst: Float = 0
        for r in 0..<fast.rows {
            let range = (r * k)..<((r + 1) * k)
            let fa = Array(fast.activations[range]), ra = Array(reference.activations[range])
            worst = max(worst, maxSAERowRelativeDifference(fa, ra, k: k))
            if fast.indices[range] == reference.indices[range] { continue }
            // Allow a swap only between values that are equal within tolerance.
            for slot in 0..<k where fast.indices[range.lowerBound + slot] != reference.indices[range.lowerBound + slot] {
                if abs(fa[slot] - ra[slot]) > tolerance * max(abs(ra[slot]), 1e-6) { bad.append(r); break }
            }
        }
        return (bad, worst)
    }

    @Test("fast f32 encoding matches the naive double-precision reference", arguments: ["topk", "groupmax"])
    func fastMatchesReference(activation: String) throws {
        let scratch = TemporaryDirectory("sae")
        let sae = try Self.randomSAE(scratch, activation: activation)
        sae.latentPanel = 1000  // several panels, the last one partial
        let rows = 9
        let x = Self.inputs(rows: rows, dIn: sae.dIn)
        let (bad, difference) = Self.compare(sae.encode(x, rows: rows), SAEReferenceEncoder.encode(sae, x, rows: rows), tolerance: 1e-5)
        print("SAE fast vs reference (\(activation)): max relative activation difference \(difference)")
        #expect(bad.isEmpty, "rows with different top-k: \(bad)")
        #expect(difference <= 1e-5)
    }

    @Test("fast bf16 encoding matches the naive reference on the widened weights")
    func fastBF16MatchesReference() throws {
        let scratch = TemporaryDirectory("sae")
        let sae = try Self.randomSAE(scratch, dtype: .bf16)
        #expect(sae.weightDType == .bf16)
        let rows = 9
        let x = Self.inputs(rows: rows, dIn: sae.dIn)
        let (bad, difference) = Self.compare(sae.encode(x, rows: rows), SAEReferenceEncoder.encode(sae, x, rows: rows), tolerance: 1e-5)
        print("SAE fast vs reference (bf16 weights): max relative activation difference \(difference)")
        #expect(bad.isEmpty, "rows with different top-k: \(bad)")
        #expect(difference <= 1e-5)
    }

    @Test("a row's latents do not depend on which rows share its batch", arguments: [TensorDType.f32, .bf16])
    func batchInvariance(dtype: TensorDType) throws {
        let scratch = TemporaryDirectory("sae")
        let sae = try Self.randomSAE(scratch, dtype: dtype)
        // More rows than one block (SparseAutoencoder.rowBlock) so the split lands mid-batch.
        let rows = SparseAutoencoder.rowBlock + 89
        let x = Self.inputs(rows: rows, dIn: sae.dIn)
        let whole = sae.encode(x, rows: rows)
        var start = 0
        for size in [1, 2, 3, 5, 8, 13, 16, 17, 31, 64, 100, 255] + Array(repeating: 7, count: 100) {
            guard start < rows else { break }
            let n = min(size, rows - start)
            let piece = sae.encode(Array(x[(start * sae.dIn)..<((start + n) * sae.dIn)]), rows: n)
            let range = (start * sae.k)..<((start + n) * sae.k)
            #expect(piece.indices[...] == whole.indices[range], "indices differ for rows \(start)..<\(start + n)")
            // Bitwise: the same float, not merely close.
            #expect(piece.activations.map(\.bitPattern)[...] == whole.activations.map(\.bitPattern)[range],
                    "activations differ for rows \(start)..<\(start + n)")
            start += n
        }
        #expect(start == rows)
    }

    @Test("results do not depend on the latent panel width or the thread count")
    func panelInvariance() throws {
        let scratch = TemporaryDirectory("sae")
        let sae = try Self.randomSAE(scratch)
        let rows = 40
        let x = Self.inputs(rows: rows, dIn: sae.dIn)
        let baseline = sae.encode(x, rows: rows)
        for panel in [1, 7, 256, 1024, 3072, 100_000] {
            sae.latentPanel = panel
            let other = sae.encode(x, rows: rows)
            #expect(other.indices == baseline.indices, "panel \(panel)")
            #expect(other.activations.map(\.bitPattern) == baseline.activations.map(\.bitPattern), "panel \(panel)")
        }
        // The pool is process-wide: suites running meanwhile just get other thread counts (no bits change).
        let before = Kernels.threadCount
        defer { Kernels.threadCount = before }
        for threads in [1, 3] {
            Kernels.threadCount = threads
            let other = sae.encode(x, rows: rows)
            #expect(other.activations.map(\.bitPattern) == baseline.activations.map(\.bitPattern), "threads \(threads)")
        }
    }

    /// The encoder's kernels follow `Kernels.path` (as THINKLENS_KERNELS steers the automatic
    /// choice). Other suites running meanwhile may see the portable path too: it gives the same bits.
    /// The cases run one at a time: run together, one case's "automatic" latents could come from
    /// another's forced portable path, and the last to restore `Kernels.path` could leave it forced.
    @Test("forcing the portable kernels through Kernels.path gives the automatic path's latents",
          .serialized, arguments: [("topk", TensorDType.f32), ("topk", .bf16), ("groupmax", .f32)])
    func portablePathMatchesAutomatic(activation: String, dtype: TensorDType) throws {
        let scratch = TemporaryDirectory("sae")
        let sae = try Self.randomSAE(scratch, dtype: dtype, activation: activation)
        let rows = 40
        let x = Self.inputs(rows: rows, dIn: sae.dIn)
        let automatic = sae.encode(x, rows: rows)
        let before = Kernels.path
        defer { Kernels.path = before }
        Kernels.path = .portable
        let portable = sae.encode(x, rows: rows)
        #expect(portable.indices == automatic.indices)
        #expect(portable.activations.map(\.bitPattern) == automatic.activations.map(\.bitPattern))
        #expect(portable.positiveCounts == automatic.positiveCounts)
    }

    @Test("encoding into caller buffers or reused latents equals the array convenience")
    func pointerAPIMatchesArrayAPI() throws {
        let scratch = TemporaryDirectory("sae")
        let sae = try Self.randomSAE(scratch, dIn: 32, numLatents: 256, k: 8)
        let rows = 5
        let x = Self.inputs(rows: rows, dIn: sae.dIn)
        var indices = [Int32](repeating: -7, count: rows * sae.k)
        var activations = [Float](repeating: -7, count: rows * sae.k)
        x.withUnsafeBufferPointer { xs in
            indices.withUnsafeMutableBufferPointer { ib in
                activations.withUnsafeMutableBufferPointer { ab in
                    sae.encode(xs.baseAddress!, rows: rows, indices: ib.baseAddress!, activations: ab.baseAddress!)
                }
            }
        }
        let latents = sae.encode(x, rows: rows)
        #expect(indices == latents.indices && activations == latents.activations)
        var reused = SAELatents(k: sae.k)
        for _ in 0..<2 {
            x.withUnsafeBufferPointer { sae.encode($0.baseAddress!, rows: rows, into: &reused) }
            #expect(reused == latents)
        }
    }

    @Test("reconstruction is b_dec plus the activation-weighted decoder rows")
    func reconstructionFormula() throws {
        let scratch = TemporaryDirectory("sae")
        let sae = try Self.randomSAE(scratch, dIn: 16, numLatents: 64, k: 4)
        let x = Self.inputs(rows: 2, dIn: sae.dIn)
        let latents = sae.encode(x, rows: 2)
        let xhat = try sae.reconstruct(latents)
        let file = try SAETensorFile(path: (sae.directory as NSString).appendingPathComponent("sae.safetensors"))
        let decoder = try file.floats("W_dec"), bDec = try file.floats("b_dec")
        var expected = [Float](repeating: 0, count: 2 * sae.dIn)
        for r in 0..<2 {
            for j in 0..<sae.dIn {
                var v = Double(bDec[j])
                for slot in 0..<sae.k {
                    v += Double(latents.activations[r * sae.k + slot]) * Double(decoder[Int(latents.indices[r * sae.k + slot]) * sae.dIn + j])
                }
                expected[r * sae.dIn + j] = Float(v)
            }
        }
        let difference = zip(xhat, expected).map { abs($0 - $1) }.max() ?? 0
        print("SAE reconstruction: max absolute difference \(difference)")
        #expect(difference <= 1e-5)
    }

    @Test("encoding scratch stays within 64 MB at the real size", arguments: [TensorDType.f32, .bf16])
    func scratchBound(dtype: TensorDType) {
        // The real SAE is 65,536 × 1536; scratch depends on d_in, k, the panel and the row block.
        let bytes = SparseAutoencoder.encodeScratchBytes(dIn: 1536, k: 32, latentPanel: SparseAutoencoder.defaultLatentPanel(dtype: dtype))
        print("SAE encode scratch at d_in 1536, \(dtype.rawValue): \(bytes) bytes")
        #expect(bytes <= 64 << 20)
    }
}
