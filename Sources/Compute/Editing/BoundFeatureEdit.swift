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
            bound.append(BoundFeatureEdit(edit: edit, hookpoint: edit.isMLPOutput ? .mlp(layer) : .layer(layer),
                                          sae: sae, decoderRow: row))
        }
        return bound
    }

    /// Whether the edit acts on a row: at its hookpoint, and (for `@generated`) only on rows
    /// whose input is a generated token.
    func acts(at point: Hookpoint, on row: ActivationRow) -> Bool {
        hookpoint == point && (!edit.generatedOnly || !row.isPrompt)
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
