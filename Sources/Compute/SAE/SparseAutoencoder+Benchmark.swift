import Foundation

/// Hooks for `thinklens bench sae`, which times the pieces of encoding separately.
extension SparseAutoencoder {
    /// Runs only the encoder GEMM over every latent panel (no ReLU / top-k), on `x` [rows, dIn].
    public func encoderGEMMOnly(_ x: [Float], rows: Int) {
        precondition(x.count == rows * dIn)
        var indices = [Int32](repeating: 0, count: rows * k)
        var activations = [Float](repeating: 0, count: rows * k)
        x.withUnsafeBufferPointer { xs in
            indices.withUnsafeMutableBufferPointer { ib in
                activations.withUnsafeMutableBufferPointer { ab in
                    encode(xs.baseAddress!, rows: rows, indices: ib.baseAddress!, activations: ab.baseAddress!,
                           positiveCounts: nil, selecting: false)
                }
            }
        }
    }

    /// encoder.weight widened to float32 [numLatents, dIn] — a copy, for the OpenBLAS baseline.
    public func widenedEncoderWeight() -> [Float] {
        [Float](unsafeUninitializedCapacity: numLatents * dIn) { buffer, count in
            widenEncoderRows(0..<numLatents, into: buffer.baseAddress!)
            count = numLatents * dIn
        }
    }

    /// encoder.bias as float32 [numLatents].
    public var widenedEncoderBias: [Float] { encoderBias }
}
