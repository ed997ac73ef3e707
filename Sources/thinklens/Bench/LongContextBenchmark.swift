import Platform
import Compute
import Foundation

/// `thinklens bench generate --context N`: decode speed when every sequence already holds N
/// positions. One sequence's prompt of N tokens is prefilled (timed), its keys and values are
/// copied into the other slots (the decode reads the same bytes as if each had been prefilled,
/// without paying for B prefills), then greedy decode steps are timed at batch 1, 8, ...
/// The forward pass is driven directly (no sampler, no hookpoints), so the figures are the
/// engine's: weights plus attention over the cache.
struct LongContextBenchmark {
    let model: Qwen2Model
    let context: Int
    let batches: [Int]
    let decodeSteps: Int
    let prefillChunk: Int

    struct Row {
        var batch: Int
        var tokensPerSecond: Double
        var millisecondsPerStep: Double
    }

    struct Result {
        var prefillSeconds: Double
        var rows: [Row]
        var kvCacheBytesPerToken: Int
        /// The allocated KV cache: every slot at context + decode steps.
        var kvCacheBytes: Int
        var memory: ProcessStatus
    }

    func run(prompt: [Int32]) -> Result {
        precondition(prompt.count == context)
        let config = model.config
        let slots = batches.max()!
        let workspace = Qwen2Workspace(config: config, maxRows: max(slots, prefillChunk), slots: slots,
                                       capacity: context + decodeSteps)
        var batch = ForwardBatch(capacity: max(slots, prefillChunk))

        // Prefill slot 0 in chunks, the last position asking for logits (the first sampled token).
        let prefillStart = MonotonicClock.now()
        var position = 0
        while position < context {
            batch.removeAll()
            let end = min(context, position + prefillChunk)
            for p in position..<end {
                batch.append(slot: 0, row: ActivationRow(sequenceID: 0, position: p, tokenID: prompt[p], isPrompt: true),
                             wantsLogits: p == context - 1)
            }
            model.forward(batch, workspace: workspace)
            position = end
        }
        let prefillSeconds = MonotonicClock.now() - prefillStart
        let firstToken = argmax(workspace.logits(at: 0, vocab: config.vocabSize))
        for slot in 1..<slots { workspace.cache.copyPositions(context, from: 0, to: slot) }

        var rows: [Row] = []
        for b in batches {
            var tokens = [Int32](repeating: firstToken, count: b)
            var seconds = 0.0
            for step in 0..<decodeSteps {
                batch.removeAll()
                for slot in 0..<b {
                    batch.append(slot: slot, row: ActivationRow(sequenceID: slot, position: context + step, tokenID: tokens[slot], isPrompt: false),
                                 wantsLogits: true)
                }
                let start = MonotonicClock.now()
                model.forward(batch, workspace: workspace)
                seconds += MonotonicClock.now() - start
                for slot in 0..<b { tokens[slot] = argmax(workspace.logits(at: slot, vocab: config.vocabSize)) }
            }
            rows.append(Row(batch: b, tokensPerSecond: Double(b * decodeSteps) / seconds,
                            millisecondsPerStep: 1000 * seconds / Double(decodeSteps)))
        }
        let perToken = KVCache.bytesPerToken(config: config)
        return Result(prefillSeconds: prefillSeconds, rows: rows, kvCacheBytesPerToken: perToken,
                      kvCacheBytes: workspace.cache.byteCount, memory: ProcessStatus.current())
    }

    private func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }
}
