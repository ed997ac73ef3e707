/// The three figures that say how far one run of the engine is from a reference run of the same
/// sequence: the activation error at a hookpoint, where the greedy tokens first diverge, and how
/// many SAE top-k latents the two share. The bfloat16 KV cache is measured with them, against
/// torch in the parity tests and against the float32 cache in `thinklens bench generate`.
public enum ParityFigures {
    /// Largest and mean |observed − reference| over equally long activation arrays, with the
    /// reference's largest magnitude as the scale the error is judged against.
    public struct ActivationError: Equatable, Sendable, CustomStringConvertible {
        public var maxAbs: Float
        public var meanAbs: Double
        /// max |reference|.
        public var scale: Float
        public var count: Int

        /// maxAbs / scale: the error relative to the activations' size.
        public var relativeMax: Float { scale > 0 ? maxAbs / scale : maxAbs }

        public var description: String {
            "max abs error \(maxAbs) (\(relativeMax) of the reference's largest magnitude \(scale)), mean abs error \(meanAbs) over \(count) values"
        }
    }

    public static func activationError(_ observed: ArraySlice<Float>, reference: ArraySlice<Float>) -> ActivationError {
        precondition(observed.count == reference.count, "activationError: \(observed.count) observed values against \(reference.count) reference values")
        var maxAbs: Float = 0, scale: Float = 0, sum = 0.0
        for (x, y) in zip(observed, reference) {
            let difference = abs(x - y)
            maxAbs = max(maxAbs, difference)
            scale = max(scale, abs(y))
            sum += Double(difference)
        }
        return ActivationError(maxAbs: maxAbs, meanAbs: observed.isEmpty ? 0 : sum / Double(observed.count), scale: scale, count: observed.count)
    }

    public static func activationError(_ observed: [Float], reference: [Float]) -> ActivationError {
        activationError(observed[...], reference: reference[...])
    }

    /// The first index at which the two token sequences differ (a shorter one differs where it
    /// ends), or nil when they are identical.
    public static func firstDivergence(_ a: [Int32], _ b: [Int32]) -> Int? {
        if let index = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset { return index }
        return a.count == b.count ? nil : min(a.count, b.count)
    }

    /// The mean over rows of the share of row r's k latent indices that are also among the
    /// other's k: 1 when every row selects the same set (in any order).
    public static func topKAgreement(_ a: SAELatents, _ b: SAELatents) -> Double {
        precondition(a.k == b.k && a.rows == b.rows, "topKAgreement: \(a.rows) rows of k \(a.k) against \(b.rows) rows of k \(b.k)")
        guard a.rows > 0 else { return 1 }
        var total = 0.0
        for r in 0..<a.rows {
            let mine = Set(a.indices[(r * a.k)..<((r + 1) * a.k)])
            let shared = b.indices[(r * b.k)..<((r + 1) * b.k)].filter { mine.contains($0) }.count
            total += Double(shared) / Double(a.k)
        }
        return total / Double(a.rows)
    }
}
