import Checkpoints
import SafeTensors
import Foundation

/// A Qwen2ForCausalLM (e.g. DeepSeek-R1-Distill-Qwen-1.5B) loaded from a Hugging Face model
/// directory, with the forward pass written out top to bottom. All arithmetic is float32; weight
/// matrices stay memory-mapped in their checkpoint dtype and are widened inside the kernels.
public final class Qwen2Model: @unchecked Sendable {
    public let directory: String
    public let config: Qwen2Configuration
    public let generationConfig: GenerationConfiguration
    public let weights: Qwen2Weights

    /// Loads `config.json`, `generation_config.json` (optional) and the safetensors weights
    /// (`model.safetensors` or sharded with `model.safetensors.index.json`), checking every tensor.
    public init(directory: String) throws {
        self.directory = directory
        let configPath = (directory as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ModelLoadError(file: configPath, reason: "missing; --model must be a Hugging Face model directory")
        }
        config = try Qwen2Configuration.load(contentsOf: configPath)
        generationConfig = try GenerationConfiguration.load(
            contentsOf: (directory as NSString).appendingPathComponent("generation_config.json"))
        let checkpoint = try SafeTensorsCheckpoint(directory: directory)
        weights = try Qwen2Weights(checkpoint: checkpoint, config: config)
    }

    /// Asks the kernel to read all weights ahead (they are touched on every token).
    public func prefetchWeights() {
        for file in weights.checkpoint.files { file.adviseWillNeed() }
    }

    /// Runs one forward step over `batch` (any mix of sequences and positions; each sequence's
    /// earlier positions must already be in the KV cache). Writes next-token logits for the rows
    /// that asked for them into `workspace.logits`, and hands the requested hookpoints to `sink`.
    /// Each row's feature edits (`ForwardBatch.rowEdits`) change the activations flowing out of
    /// their hookpoints before those are captured (see `FeatureEditPass`).
    /// Every row is computed independently in a fixed order, so results do not depend on the batch.
    public func forward(_ batch: ForwardBatch, workspace ws: Qwen2Workspace,
                        hooks: [Hookpoint] = [], sink: ActivationSink? = nil) {
        forward(batch, workspace: ws, selection: HookSelection(hooks, layerCount: config.numHiddenLayers), sink: sink)
    }

    func forward(_ batch: ForwardBatch, workspace ws: Qwen2Workspace, selection: HookSelection, sink: ActivationSink?) {
        let rows = batch.count
        precondition(rows <= ws.maxRows, "batch of \(rows) rows exceeds the workspace's \(ws.maxRows)")
        precondition(batch.logitCount <= ws.slots, "batch wants \(batch.logitCount) logit rows, the workspace holds \(ws.slots)")
        let hidden = config.hiddenSize
        let eps = Float(config.rmsNormEps)
        let x = ws.hidden.pointer  // [rows, hidden]: the residual stream
        let editing = ws.edits.prepare(batch)

        func capture(_ hookpoint: Hookpoint, _ values: UnsafeMutablePointer<Float>) {
            guard let sink else { return }
            batch.rows.withUnsafeBufferPointer { info in
                sink.receive(hookpoint: hookpoint, rows: info,
                             values: UnsafeBufferPointer(start: values, count: rows * hidden), width: hidden)
            }
        }

        // Embedding.
        for r in 0..<rows {
            let token = Int(batch.rows[r].tokenID)
            precondition(token >= 0 && token < config.vocabSize, "token id \(token) outside the vocabulary of \(config.vocabSize)")
            weights.embedTokens.widenRow(token, into: x + r * hidden)
        }
        if selection.hiddenStates[0] { capture(.hiddenStates(0), x) }

        for (l, layer) in weights.layers.enumerated() {
            // Attention block: x += o_proj(attention(rmsnorm(x))).
            for r in 0..<rows {
                Kernels.rmsNorm(x + r * hidden, weight: layer.inputLayerNorm, count: hidden, eps: eps, into: ws.normed.pointer + r * hidden)
            }
            Qwen2Attention.forward(layer: l, weights: layer, config: config, batch: batch, workspace: ws)
            addResidual(x, ws.projected.pointer, count: rows * hidden)

            // MLP block: x += mlp(rmsnorm(x)).
            for r in 0..<rows {
                Kernels.rmsNorm(x + r * hidden, weight: layer.postAttentionLayerNorm, count: hidden, eps: eps, into: ws.normed.pointer + r * hidden)
            }
            Qwen2MLP.forward(weights: layer, config: config, rows: rows, workspace: ws)
            // Feature edits change what flows on, and captures record the edited values.
            if editing && ws.edits.editsMLP[l] { ws.edits.apply(at: .mlp(l), values: ws.projected.pointer, width: hidden, batch: batch) }
            if selection.mlpOutputs[l] { capture(.mlp(l), ws.projected.pointer) }
            addResidual(x, ws.projected.pointer, count: rows * hidden)

            if editing && ws.edits.editsLayer[l] { ws.edits.apply(at: .layer(l), values: x, width: hidden, batch: batch) }
            if selection.layerOutputs[l] { capture(.layer(l), x) }
            if l + 1 < config.numHiddenLayers, selection.hiddenStates[l + 1] { capture(.hiddenStates(l + 1), x) }
        }

        // Final norm: for every row when hidden_states.<layers> is captured, else only rows needing logits.
        let captureFinal = selection.hiddenStates[config.numHiddenLayers]
        for r in 0..<rows where captureFinal || batch.logitIndex[r] >= 0 {
            Kernels.rmsNorm(x + r * hidden, weight: weights.finalNorm, count: hidden, eps: eps, into: ws.normed.pointer + r * hidden)
        }
        if captureFinal { capture(.hiddenStates(config.numHiddenLayers), ws.normed.pointer) }

        // lm_head on the rows that need logits, gathered so the head's weights stream once.
        guard batch.logitCount > 0 else { return }
        for r in 0..<rows where batch.logitIndex[r] >= 0 {
            (ws.logitInputs.pointer + batch.logitIndex[r] * hidden).update(from: ws.normed.pointer + r * hidden, count: hidden)
        }
        Kernels.linear(ws.logitInputs.pointer, rows: batch.logitCount, k: hidden, ldx: hidden,
                       LinearOutput(matrix: weights.lmHead, bias: nil, y: ws.logits.pointer, ldy: config.vocabSize))
    }

    private func addResidual(_ x: UnsafeMutablePointer<Float>, _ delta: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { x[i] += delta[i] }
    }
}

extension Qwen2Model {
    /// See `ModelFingerprint`; computed on each call, so callers keep the result.
    public func computeFingerprint() -> String {
        ModelFingerprint.compute(config: config, checkpoint: weights.checkpoint)
    }
}
