import Foundation

/// The slow, obviously-correct encoder the fast path is tested against: every
/// pre-activation in double, ReLU, a full sort by (value descending, index ascending).
public enum SAEReferenceEncoder {
    /// - Parameter x: [rows, dIn].
    public static func encode(_ sae: SparseAutoencoder, _ x: [Float], rows: Int) -> SAELatents {
        let d = sae.dIn, n = sae.numLatents, k = sae.k
        var weightRow = [Float](repeating: 0, count: d)  // [dIn] one widened encoder row
        var pre = [Double](repeating: 0, count: rows * n)  // [rows, numLatents]
        weightRow.withUnsafeMutableBufferPointer { w in
            for latent in 0..<n {
                sae.widenEncoderRows(latent..<(latent + 1), into: w.baseAddress!)
                for r in 0..<rows {
                    var sum = 0.0
                    for j in 0..<d {
                        sum += Double(x[r * d + j] - sae.decoderBias[j]) * Double(w[j])
                    }
                    pre[r * n + latent] = max(0, sum + Double(sae.encoderBias[latent]))
                }
            }
        }
        var indices: [Int32] = [], activations: [Float] = [], positives: [Int32] = []
        for r in 0..<rows {
            let row = pre[(r * n)..<((r + 1) * n)]
            let chosen: [Int]
            switch sae.activation {
            case .topk:
                chosen = Array((0..<n).sorted { a, b in
                    let va = row[r * n + a], vb = row[r * n + b]
                    return va != vb ? va > vb : a < b
                }.prefix(k))
            case .groupmax:
                let size = n / k
                chosen = (0..<k).map { g in
                    var best = g * size
                    for latent in (g * size)..<((g + 1) * size) where row[r * n + latent] > row[r * n + best] { best = latent }
                    return best
                }.sorted { a, b in
                    let va = row[r * n + a], vb = row[r * n + b]
                    return va != vb ? va > vb : a < b
                }
            }
            indices += chosen.map { Int32($0) }
            activations += chosen.map { Float(row[r * n + $0]) }
            positives.append(Int32(chosen.filter { row[r * n + $0] > 0 }.count))
        }
        return SAELatents(k: k, indices: indices, activations: activations, positiveCounts: positives)
    }
}
