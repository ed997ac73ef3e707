import Platform
import Compute
import Experiment
import Foundation

/// `thinklens bench generate --context N`: decode speed when every sequence already holds N
/// positions. One sequence's prompt of N tokens is prefilled (timed), its keys and values are
/// copied into the other slots (the decode reads the same bytes as if each had been prefilled,
/// without paying for B prefills), then greedy decode steps are timed at batch 1, 8, ...
/// The forward pass is driven directly (no sampler, no hookpoints), so the figures are the
/// engine's: weights plus attention over the cache.
///
/// On a shared box the speed drifts by tens of percent within minutes, so the short-context
/// speed that the long one is compared with is measured in the same process, step for step:
/// another B slots hold the prompt's first `baselineContext` positions (the same keys a prefill
/// of that prefix computes, attention being causal), and their decode steps alternate with the
/// long ones.
struct LongContextBenchmark {
    let model: Qwen2Model
    let context: Int
    let batches: [Int]
    let decodeSteps: Int
    let prefillChunk: Int
    /// Context of the alternating short-context steps (at most `context`).
    let baselineContext: Int
    /// The KV cache's format (`--kv-cache`).
    let kvCache: KVCacheDType

    struct Row {
        var batch: Int
        var tokensPerSecond: Double
        var millisecondsPerStep: Double
        /// The same batch at `baselineContext`, timed in alternation with it.
        var baselineTokensPerSecond: Double
    }

    struct Result {
        var prefillSeconds: Double
        var rows: [Row]
        var kvCacheBytesPerToken: Int
        /// The long-context slots' KV cache: B slots × (context + decode steps) positions.
        var kvCacheBytes: Int
        var memory: ProcessStatus
    }

    func run(prompt: [Int32]) -> Result {
        precondition(prompt.count == context && baselineContext >= 1 && baselineContext <= context)
        let config = model.config
        let slots = batches.max()!
        // Slots 0..<slots decode at `context`, slots slots..<2 * slots at `baselineContext`.
        let workspace = Qwen2Workspace(config: config, maxRows: max(slots, prefillChunk), slots: 2 * slots,
                                       capacity: context + decodeSteps, kvCache: kvCache)
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
        let firstToken = Self.argmax(workspace.logits(at: 0, vocab: config.vocabSize))
        for slot in 1..<slots { workspace.cache.copyPositions(context, from: 0, to: slot) }
        for slot in slots..<(2 * slots) { workspace.cache.copyPositions(baselineContext, from: 0, to: slot) }

        var rows: [Row] = []
        for b in batches {
            var long = Decode(firstSlot: 0, length: context, tokens: [Int32](repeating: firstToken, count: b))
            var short = Decode(firstSlot: slots, length: baselineContext, tokens: [Int32](repeating: firstToken, count: b))
            for _ in 0..<decodeSteps {
                long.step(model: model, workspace: workspace, batch: &batch)
                short.step(model: model, workspace: workspace, batch: &batch)
            }
            rows.append(Row(batch: b, tokensPerSecond: Double(b * decodeSteps) / long.seconds,
                            millisecondsPerStep: 1000 * long.seconds / Double(decodeSteps),
                            baselineTokensPerSecond: Double(b * decodeSteps) / short.seconds))
        }
        let perToken = KVCache.bytesPerToken(config: config, dtype: kvCache)
        return Result(prefillSeconds: prefillSeconds, rows: rows, kvCacheBytesPerToken: perToken,
                      kvCacheBytes: slots * (context + decodeSteps) * perToken, memory: ProcessStatus.current())
    }

    /// B sequences in consecutive slots, all at the same length, decoding greedily.
    private struct Decode {
        let firstSlot: Int
        var length: Int
        var tokens: [Int32]
        var seconds = 0.0

        init(firstSlot: Int, length: Int, tokens: [Int32]) {
            self.firstSlot = firstSlot
            self.length = length
            self.tokens = tokens
        }

        mutating func step(model: Qwen2Model, workspace: Qwen2Workspace, batch: inout ForwardBatch) {
            batch.removeAll()
            for (i, token) in tokens.enumerated() {
                batch.append(slot: firstSlot + i, row: ActivationRow(sequenceID: firstSlot + i, position: length, tokenID: token, isPrompt: false),
                             wantsLogits: true)
            }
            let start = MonotonicClock.now()
            model.forward(batch, workspace: workspace)
            seconds += MonotonicClock.now() - start
            for i in tokens.indices { tokens[i] = LongContextBenchmark.argmax(workspace.logits(at: i, vocab: model.config.vocabSize)) }
            length += 1
        }
    }

    static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }
}
