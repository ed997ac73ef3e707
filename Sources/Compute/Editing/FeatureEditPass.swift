/// Applies a forward step's feature edits at one hookpoint, per the semantics: the rows
/// of sequences with an edit active there are encoded together with the hookpoint's SAE (its own
/// top-k), `c` is the feature's latent in the row's top-k (0 when absent), `v` comes from the
/// operation, and the row becomes `x + (v − c) · W_dec[feature]` in float32. A row's edits at one
/// hookpoint share that one encoding and add their deltas in the order written.
///
/// Determinism: the SAE encodes each row alone (its latents do not depend on the other rows of
/// the call), and the update is elementwise, so an edited row's bits do not depend on the batch.
/// Rows without an active edit are never written, and an edit with `v == c` (e.g. `scale=1`,
/// `add=0`) is skipped, so such rows stay bit for bit what they were.
///
/// Cost: one SAE encode per step of the rows that need it. A row whose edited features are all
/// certainly inactive there (pre-activation provably ≤ 0, so c = 0: `isCertainlyInactive`) is
/// edited without encoding; this changes no result, only the time.
///
/// Scratch grows to the largest step seen and is then reused: the token loop does not allocate.
final class FeatureEditPass {
    /// Which layers' MLP outputs / block outputs the current step edits: [layers]
    private(set) var editsMLP: [Bool]
    private(set) var editsLayer: [Bool]
    private var gathered: [Float] = []        // [edited rows, width] the rows to encode
    private var batchRows: [Int] = []         // the batch row of each gathered row
    private var indices: [Int32] = []         // [edited rows, k]
    private var activations: [Float] = []     // [edited rows, k]
    private var saes: [SparseAutoencoder] = []

    init(layerCount: Int) {
        editsMLP = [Bool](repeating: false, count: layerCount)
        editsLayer = editsMLP
    }

    /// Marks the hookpoints `batch`'s edits touch; false when the step has no edits at all.
    func prepare(_ batch: ForwardBatch) -> Bool {
        for l in editsMLP.indices {
            editsMLP[l] = false
            editsLayer[l] = false
        }
        guard batch.hasEdits else { return false }
        for edits in batch.rowEdits {
            for bound in edits {
                switch bound.hookpoint {
                case .mlp(let l): editsMLP[l] = true
                case .layer(let l): editsLayer[l] = true
                case .hiddenStates: preconditionFailure("an edit is bound to layers.N or layers.N.mlp")
                }
            }
        }
        return true
    }

    /// Edits `values` ([batch.count, width], the activations flowing out of `hookpoint`) in place.
    func apply(at hookpoint: Hookpoint, values: UnsafeMutablePointer<Float>, width: Int, batch: ForwardBatch) {
        // Usually one SAE per hookpoint; rows are grouped by SAE so each group is encoded once.
        saes.removeAll(keepingCapacity: true)
        for r in 0..<batch.count {
            if let edit = batch.rowEdits[r].first(where: { $0.acts(at: hookpoint, on: batch.rows[r]) }),
               !saes.contains(where: { $0 === edit.sae }) {
                saes.append(edit.sae)
            }
        }
        for sae in saes {
            editScreenedRowsAndGatherTheRest(hookpoint: hookpoint, sae: sae, values: values, width: width, batch: batch)
            encodeAndEdit(hookpoint: hookpoint, sae: sae, values: values, width: width, batch: batch)
        }
    }

    /// Rows whose edited features (with `sae`, at `hookpoint`) are all certainly inactive are
    /// edited at once with c = 0; the other rows with an active edit are gathered for one encode.
    private func editScreenedRowsAndGatherTheRest(hookpoint: Hookpoint, sae: SparseAutoencoder, values: UnsafeMutablePointer<Float>,
                                                  width: Int, batch: ForwardBatch) {
        batchRows.removeAll(keepingCapacity: true)
        gathered.removeAll(keepingCapacity: true)
        for r in 0..<batch.count {
            let x = values + r * width
            var active = false, needsEncoding = false
            for bound in batch.rowEdits[r] where bound.sae === sae && bound.acts(at: hookpoint, on: batch.rows[r]) {
                active = true
                if !bound.isCertainlyInactive(on: x) { needsEncoding = true }
            }
            guard active else { continue }
            if needsEncoding {
                batchRows.append(r)
                gathered.append(contentsOf: UnsafeBufferPointer(start: x, count: width))
            } else {
                edit(row: r, values: values, width: width, hookpoint: hookpoint, sae: sae, batch: batch) { _ in 0 }
            }
        }
    }

    private func encodeAndEdit(hookpoint: Hookpoint, sae: SparseAutoencoder, values: UnsafeMutablePointer<Float>,
                               width: Int, batch: ForwardBatch) {
        let rows = batchRows.count, k = sae.k
        guard rows > 0 else { return }
        if indices.count < rows * k {
            indices = [Int32](repeating: 0, count: rows * k)
            activations = [Float](repeating: 0, count: rows * k)
        }
        gathered.withUnsafeBufferPointer { x in
            indices.withUnsafeMutableBufferPointer { ib in
                activations.withUnsafeMutableBufferPointer { ab in
                    sae.encode(x.baseAddress!, rows: rows, indices: ib.baseAddress!, activations: ab.baseAddress!)
                }
            }
        }
        for (g, r) in batchRows.enumerated() {
            edit(row: r, values: values, width: width, hookpoint: hookpoint, sae: sae, batch: batch) { self.latent($0, row: g, k: k) }
        }
    }

    /// x += (v − c) · W_dec[f] for each of the row's edits at `hookpoint`, in order, with c from `current`.
    private func edit(row r: Int, values: UnsafeMutablePointer<Float>, width: Int, hookpoint: Hookpoint,
                      sae: SparseAutoencoder, batch: ForwardBatch, current: (Int) -> Float) {
        let x = values + r * width
        for bound in batch.rowEdits[r] where bound.sae === sae && bound.acts(at: hookpoint, on: batch.rows[r]) {
            let c = current(bound.edit.feature)
            let change = bound.edit.operation.apply(to: c) - c
            // v == c leaves the row as it is (x + 0 · w is x, but for the sign of a zero).
            if change == 0 { continue }
            bound.decoderRow.withUnsafeBufferPointer { w in
                for j in 0..<width { x[j] = x[j] + change * w[j] }
            }
        }
    }

    /// c: the feature's activation in the row's top-k, or 0 when it is not there.
    private func latent(_ feature: Int, row g: Int, k: Int) -> Float {
        let target = Int32(feature)
        for slot in 0..<k where indices[g * k + slot] == target {
            return activations[g * k + slot]
        }
        return 0
    }
}
