import Experiment
import Foundation

/// One sequence to generate.
public struct GenerationRequest: Sendable {
    /// Caller's id; activation rows and results carry it.
    public var id: Int
    public var promptTokens: [Int32]
    public var maxNewTokens: Int
    public var sampling: SamplingParameters
    /// The sequence's random stream (run seed, problem id).
    public var random: SequenceRandom
    /// Generation stops after producing any of these.
    public var stopTokens: Set<Int32>
    /// Feature edits applied to this sequence alone (an intervention condition); empty for a
    /// plain run, whose every bit is then as without this field.
    public var edits: [BoundFeatureEdit]

    public init(id: Int, promptTokens: [Int32], maxNewTokens: Int, sampling: SamplingParameters,
                random: SequenceRandom, stopTokens: Set<Int32>, edits: [BoundFeatureEdit] = []) {
        self.id = id
        self.promptTokens = promptTokens
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.random = random
        self.stopTokens = stopTokens
        self.edits = edits
    }
}

public enum StopReason: String, Sendable, Equatable {
    /// Produced one of the stop (eos) tokens; it is the last generated token.
    case endOfSequence = "eos"
    /// Reached max_new_tokens.
    case maxNewTokens = "max_new_tokens"
}

public struct GenerationResult: Sendable, Equatable {
    public var id: Int
    public var promptTokens: [Int32]
    public var generatedTokens: [Int32]
    public var stopReason: StopReason
}

public struct GeneratorError: Error, CustomStringConvertible {
    /// The request it concerns: a number local to this generator, so it stays out of `reason`,
    /// which workers report to the coordinator and which must read the same on any worker.
    public let request: Int?
    public let reason: String
    public init(request: Int? = nil, reason: String) {
        self.request = request
        self.reason = reason
    }
    public var description: String { request.map { "request \($0): \(reason)" } ?? reason }
}

/// Continuous batching over a fixed number of slots. Each step runs one forward pass over every
/// active sequence: prompts are prefilled in chunks, decoding sequences add one row each, and a
/// finished sequence's slot takes the next queued prompt. After the last token is chosen, the
/// sequence gets one more row so that token's activations are captured too.
///
/// Results do not depend on batching: every kernel computes each row alone in a fixed order,
/// each sequence draws from its own counter-based random stream, and a sequence's feature edits
/// (`GenerationRequest.edits`) act on its own rows only.
public final class Generator {
    public let model: Qwen2Model
    public let workspace: Qwen2Workspace
    public let hookpoints: [Hookpoint]
    public var sink: ActivationSink?
    /// Called for every generated token as soon as it is chosen: (request id, token).
    public var onToken: ((Int, Int32) -> Void)?
    /// Called once per finished sequence, after its last token's forward pass.
    public var onFinish: ((GenerationResult) -> Void)?

    /// What the last `step()` did: rows processed, how many were prompt rows, tokens sampled.
    public struct StepSummary: Sendable, Equatable {
        public var rows = 0
        public var promptRows = 0
        public var sampledTokens = 0
    }
    public private(set) var lastStep = StepSummary()

    private enum Phase { case free, prefill, decode, finalPass }
    private struct Slot {
        var phase: Phase = .free
        var request: GenerationRequest?
        var prefilled = 0               // prompt positions already in the cache
        var generated: [Int32] = []
        var stopReason: StopReason?
    }

    private var slots: [Slot]
    private var queue: [GenerationRequest] = []
    private var queueHead = 0
    private var batch: ForwardBatch
    private let prefillChunk: Int
    private let selection: HookSelection
    private let sampler: Sampler

    /// Prompt positions one sequence adds per step unless told otherwise.
    public static let defaultPrefillChunk = 64

    /// - Parameters:
    ///   - slots: sequences decoded together (the batch size).
    ///   - contextCapacity: longest prompt + max_new_tokens a sequence may have.
    ///   - prefillChunk: prompt positions one sequence adds per step while prefilling.
    ///   - kvCache: the KV cache's format (`--kv-cache`); float32 unless asked.
    public init(model: Qwen2Model, slots: Int, contextCapacity: Int, prefillChunk: Int = defaultPrefillChunk,
                hookpoints: [Hookpoint] = [], sink: ActivationSink? = nil, kvCache: KVCacheDType = .standard) {
        precondition(slots >= 1 && contextCapacity >= 1 && prefillChunk >= 1)
        self.model = model
        self.prefillChunk = prefillChunk
        // Room for every decoding sequence plus one prompt chunk per step.
        let maxRows = slots + prefillChunk
        workspace = Qwen2Workspace(config: model.config, maxRows: maxRows, slots: slots, capacity: contextCapacity, kvCache: kvCache)
        self.hookpoints = hookpoints
        self.sink = sink
        selection = HookSelection(hookpoints, layerCount: model.config.numHiddenLayers)
        sampler = Sampler(vocabularySize: model.config.vocabSize)
        self.slots = [Slot](repeating: Slot(), count: slots)
        batch = ForwardBatch(capacity: maxRows)
    }

    /// Queues a sequence; it starts as soon as a slot is free.
    public func submit(_ request: GenerationRequest) throws {
        guard !request.promptTokens.isEmpty else { throw GeneratorError(request: Int(request.id), reason: "the prompt is empty") }
        guard request.maxNewTokens >= 0 else { throw GeneratorError(request: Int(request.id), reason: "max_new_tokens \(request.maxNewTokens) is negative") }
        let needed = request.promptTokens.count + request.maxNewTokens
        guard needed <= workspace.capacity else {
            throw GeneratorError(request: Int(request.id), reason: "prompt (\(request.promptTokens.count) tokens) + max_new_tokens (\(request.maxNewTokens)) = \(needed) exceeds the context capacity \(workspace.capacity); raise the capacity or shorten the request")
        }
        if let bad = request.promptTokens.first(where: { $0 < 0 || Int($0) >= model.config.vocabSize }) {
            throw GeneratorError(request: Int(request.id), reason: "prompt token id \(bad) is outside the vocabulary (0..<\(model.config.vocabSize))")
        }
        for bound in request.edits {
            guard let layer = bound.edit.layer, layer < model.config.numHiddenLayers, bound.sae.dIn == model.config.hiddenSize else {
                throw GeneratorError(request: Int(request.id), reason: "edit \(bound.edit) does not fit this \(model.config.numHiddenLayers)-layer model of hidden size \(model.config.hiddenSize)")
            }
        }
        queue.append(request)
    }

    /// True when nothing is queued or running.
    public var isIdle: Bool { queueHead == queue.count && slots.allSatisfy { $0.phase == .free } }

    /// Runs every queued request to the end and returns the results in completion order.
    public func run() -> [GenerationResult] {
        var results: [GenerationResult] = []
        let previous = onFinish
        onFinish = { result in
            results.append(result)
            previous?(result)
        }
        defer { onFinish = previous }
        while step() {}
        return results
    }

    /// One forward pass over all active sequences. Returns false when there was nothing to do.
    @discardableResult
    public func step() -> Bool {
        admitQueuedRequests()
        batch.removeAll()
        // Decoding sequences first (one row each), then prompt chunks while the row budget lasts.
        for s in slots.indices where slots[s].phase == .decode || slots[s].phase == .finalPass {
            let request = slots[s].request!
            let generated = slots[s].generated
            batch.append(slot: s, row: ActivationRow(sequenceID: request.id, position: request.promptTokens.count + generated.count - 1,
                                                     tokenID: generated[generated.count - 1], isPrompt: false),
                         wantsLogits: slots[s].phase == .decode, edits: request.edits)
        }
        for s in slots.indices where slots[s].phase == .prefill {
            let request = slots[s].request!
            let promptCount = request.promptTokens.count
            let start = slots[s].prefilled
            let end = min(promptCount, start + prefillChunk, start + workspace.maxRows - batch.count)
            for position in start..<max(start, end) {
                let last = position == promptCount - 1
                batch.append(slot: s, row: ActivationRow(sequenceID: request.id, position: position,
                                                         tokenID: request.promptTokens[position], isPrompt: true),
                             wantsLogits: last && request.maxNewTokens > 0, edits: request.edits)
            }
            slots[s].prefilled = max(start, end)
        }
        lastStep = StepSummary(rows: batch.count, promptRows: batch.rows.reduce(0) { $0 + ($1.isPrompt ? 1 : 0) }, sampledTokens: batch.logitCount)
        guard batch.count > 0 else { return false }

        model.forward(batch, workspace: workspace, selection: selection, sink: sink)

        // Advance each slot that had rows in this step (at most one logits row per slot).
        var r = 0
        while r < batch.count {
            let s = batch.slots[r]
            var last = r
            while last + 1 < batch.count && batch.slots[last + 1] == s { last += 1 }
            advance(slot: s, logitIndex: batch.logitIndex[last])
            r = last + 1
        }
        return true
    }

    private func admitQueuedRequests() {
        for s in slots.indices where slots[s].phase == .free && queueHead < queue.count {
            let request = queue[queueHead]
            queueHead += 1
            slots[s] = Slot(phase: .prefill, request: request, prefilled: 0, generated: [], stopReason: nil)
            slots[s].generated.reserveCapacity(request.maxNewTokens)
        }
        if queueHead == queue.count && queueHead > 0 {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        }
    }

    private func advance(slot s: Int, logitIndex: Int) {
        guard let request = slots[s].request else { return }
        switch slots[s].phase {
        case .prefill:
            guard slots[s].prefilled == request.promptTokens.count else { return }
            if request.maxNewTokens == 0 {
                finish(slot: s, reason: .maxNewTokens)
                return
            }
            choose(slot: s, request: request, logitIndex: logitIndex)
        case .decode:
            choose(slot: s, request: request, logitIndex: logitIndex)
        case .finalPass:
            finish(slot: s, reason: slots[s].stopReason ?? .maxNewTokens)
        case .free:
            break
        }
    }

    private func choose(slot s: Int, request: GenerationRequest, logitIndex: Int) {
        precondition(logitIndex >= 0)
        let step = slots[s].generated.count
        let token = sampler.sample(workspace.logits(at: logitIndex, vocab: model.config.vocabSize),
                                   parameters: request.sampling, uniform: request.random.uniform(step: step))
        slots[s].generated.append(token)
        onToken?(request.id, token)
        if request.stopTokens.contains(token) {
            slots[s].stopReason = .endOfSequence
            slots[s].phase = .finalPass
        } else if slots[s].generated.count >= request.maxNewTokens {
            slots[s].stopReason = .maxNewTokens
            slots[s].phase = .finalPass
        } else {
            slots[s].phase = .decode
        }
    }

    private func finish(slot s: Int, reason: StopReason) {
        guard let request = slots[s].request else { return }
        let result = GenerationResult(id: request.id, promptTokens: request.promptTokens,
                                      generatedTokens: slots[s].generated, stopReason: reason)
        slots[s] = Slot()
        onFinish?(result)
    }
}
