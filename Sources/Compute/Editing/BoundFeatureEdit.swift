import Experiment

/// A `FeatureEdit` ready for the forward pass: its hookpoint resolved to the model's tap point,
/// the SAE that encodes it, and the feature's decoder row widened to float32 once.
public struct BoundFeatureEdit: Sendable {
    public let edit: FeatureEdit
    /// `.mlp(N)` or `.layer(N)`.
    public let hookpoint: Hookpoint
    public let sae: SparseAutoencoder
    /// W_dec[feature] as stored, widened to float32: [dIn]
    let decoderRow: [Float]
    /// encoder.weight[feature] widened to float32: [dIn]; with `encoderBias`, for `isCertainlyInactive`.
    let encoderRow: [Float]
    let encoderBias: Float

    /// Binds `edits` in the order written, checking each against the model (`layerCount`,
    /// `hiddenSize`) and the SAEs at hand (hookpoint name → SAE); `saeSource` names where the
    /// SAEs come from (`--sae DIR`) in errors. Throws before anything runs, naming the edit.
    public static func bind(_ edits: [FeatureEdit], layerCount: Int, hiddenSize: Int,
                            saes: [String: SparseAutoencoder], saeSource: String) throws(InterventionError) -> [BoundFeatureEdit] {
        var bound: [BoundFeatureEdit] = []
        for edit in edits {
            try edit.check(layerCount: layerCount, saeSource: saeSource) { saes[$0]?.numLatents }
            let sae = saes[edit.hookpoint]!
            guard sae.dIn == hiddenSize else {
                throw InterventionError(edit.description, "the \(edit.hookpoint) SAE has d_in \(sae.dIn) but the model's hidden size is \(hiddenSize)")
            }
            guard let row = sae.decoderRow(edit.feature) else {
                throw InterventionError(edit.description, "the \(edit.hookpoint) SAE in \(sae.directory) has no W_dec, and an edit adds (v − c) · W_dec[feature]")
            }
            let layer = edit.layer!
            var encoderRow = [Float](repeating: 0, count: sae.dIn)
            encoderRow.withUnsafeMutableBufferPointer { sae.widenEncoderRows(edit.feature..<(edit.feature + 1), into: $0.baseAddress!) }
            bound.append(BoundFeatureEdit(edit: edit, hookpoint: edit.isMLPOutput ? .mlp(layer) : .layer(layer), sae: sae,
                                          decoderRow: row, encoderRow: encoderRow, encoderBias: sae.encoderBias[edit.feature]))
        }
        return bound
    }

    /// Whether the edit acts on a row: at its hookpoint, and (for `@generated`) only on rows
    /// whose input is a generated token.
    func acts(at point: Hookpoint, on row: ActivationRow) -> Bool {
        hookpoint == point && (!edit.generatedOnly || !row.isPrompt)
    }
}

extension BoundFeatureEdit {
    /// True when the feature's pre-activation on `x` ([dIn]) is certainly ≤ 0, so its latent after
    /// ReLU, and hence c, is 0 whatever the rest of the top-k: the edit then needs no encoding.
    ///
    /// The encoder computes pre = fl(Σⱼ (xⱼ − b_decⱼ) · wⱼ) + b in float32. Here the same centred
    /// values (rounded to float32 as the encoder rounds them) are multiplied exactly in double and
    /// summed; a float32 sum of n terms differs from the exact one by at most γₙ · Σ|terms| with
    /// γₙ = n·u / (1 − n·u), u = 2⁻²⁴. Only a pre-activation below −4 · γ_(d+2) · (Σ|terms| + |b|)
    /// counts as certainly ≤ 0, so the answer never disagrees with the encoder; near 0 it says false
    /// and the row is encoded.
    func isCertainlyInactive(on x: UnsafePointer<Float>) -> Bool {
        let d = encoderRow.count
        var sum = 0.0, magnitude = 0.0
        sae.decoderBias.withUnsafeBufferPointer { bDec in
            encoderRow.withUnsafeBufferPointer { w in
                for j in 0..<d {
                    let centred: Float = x[j] - bDec[j]
                    let term = Double(centred) * Double(w[j])
                    sum += term
                    magnitude += abs(term)
                }
            }
        }
        let bias = Double(encoderBias)
        let u = 0x1p-24, n = Double(d + 2)
        let gamma = n * u / (1 - n * u)
        return sum + bias < -4 * gamma * (magnitude + abs(bias))
    }
}

extension SparseAutoencoder {
    /// W_dec[latent] widened to float32 ([dIn]), or nil when the SAE has no decoder.
    func decoderRow(_ latent: Int) -> [Float]? {
        guard let decoderWeight else { return nil }
        precondition(latent >= 0 && latent < numLatents, "latent \(latent) outside 0..<\(numLatents)")
        var row = [Float](repeating: 0, count: dIn)
        row.withUnsafeMutableBufferPointer { Self.widenRows(of: decoderWeight, latent..<(latent + 1), columns: dIn, into: $0.baseAddress!) }
        return row
    }
}
