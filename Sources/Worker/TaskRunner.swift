import Platform
import Compute
import Experiment
import Foundation
import Logging
import Protocol

/// Runs the coordinator's tasks on this worker's model: one `Generator` batches their
/// sequences, one `LatentStreamer` encodes their activations into `LatentChunk`s. It knows
/// nothing of sockets or of the protocol session: the worker hands it assigns, steps it while
/// there is work, takes its chunks, and hears through `onEnded` when a task is over.
final class TaskRunner {
    private let model: Qwen2Model
    /// Hookpoint name → its SAE, as loaded from `saeDirectory`.
    private let saes: [String: SparseAutoencoder]
    private let saeDirectory: String
    private let batchSlots: Int
    /// Positions each slot's KV cache holds.
    private let contextTokens: Int
    private let kvCache: KVCacheDType
    private let chunkTokens: Int
    /// Seconds to sleep after each step (fault tests use it to make tasks last).
    private let stepDelay: Double
    private let logger: Logger
    /// A task finished; its chunks are all in `takeChunks()` before this is reported.
    var onEnded: ((TaskDone) -> Void)?

    private var generator: Generator?
    private var streamer: LatentStreamer?
    private var generatorSpecs: [HookpointSpec] = []
    private var nextSequence = 0
    private var taskStart: [Int: Double] = [:]
    /// Seconds per phase ("prefill", "decode", "encode") since the last TaskDone; each TaskDone
    /// carries and clears them, so the coordinator's sum over a worker's tasks is its total.
    private var phaseSeconds: [String: Double] = [:]
    private var warnedPoorFit: Set<String> = []

    init(model: Qwen2Model, saes: [String: SparseAutoencoder], saeDirectory: String, batchSlots: Int,
         contextTokens: Int, kvCache: KVCacheDType, chunkTokens: Int, stepDelay: Double, logger: Logger) {
        self.contextTokens = contextTokens
        self.kvCache = kvCache
        self.model = model
        self.saes = saes
        self.saeDirectory = saeDirectory
        self.batchSlots = batchSlots
        self.chunkTokens = chunkTokens
        self.stepDelay = stepDelay
        self.logger = logger
    }

    /// No task is generating.
    var isIdle: Bool { generator?.isIdle ?? true }

    /// The latent chunks ready to send, in order; they are the caller's now.
    func takeChunks() -> [Message] {
        guard let streamer, !streamer.outbox.isEmpty else { return [] }
        defer { streamer.outbox.removeAll() }
        return streamer.outbox
    }

    /// Submits the task to the generator, first building one for its hookpoints if needed;
    /// throws when the task cannot start.
    func start(_ assign: Assign) throws {
        // An intervention condition's edits: refused (TaskFailed) before anything runs when this
        // worker lacks the SAE or the feature. The reason names no local path, so it reads the
        // same on every worker.
        let edits: [BoundFeatureEdit]
        do {
            edits = try BoundFeatureEdit.bind(assign.edits, layerCount: model.config.numHiddenLayers,
                                              hiddenSize: model.config.hiddenSize, saes: saes, saeSource: "this worker's --sae")
        } catch {
            throw GeneratorError(reason: "edit '\(error.text)': \(error.reason)")
        }
        if generator == nil || generatorSpecs != assign.hookpoints {
            guard generator?.isIdle ?? true else {
                throw WorkerError("task asks for hookpoints \(assign.hookpoints.map(\.name)) while tasks with \(generatorSpecs.map(\.name)) are running; one run uses one hookpoint set")
            }
            try configureGenerator(for: assign.hookpoints)
        }
        guard let generator, let streamer else { return }
        let g = assign.generation
        let needed = assign.promptIDs.count + g.maxNewTokens
        guard needed <= contextTokens else {
            let limit = model.config.maxPositionEmbeddings
            let remedy = needed > limit
                ? "the model's max_position_embeddings is \(limit): lower --max-new-tokens or leave out the longest prompts"
                : "start the worker with --max-context \(needed) or more"
            throw WorkerError("\(assign.problemID) needs \(assign.promptIDs.count) prompt + \(g.maxNewTokens) new tokens = \(needed) positions, but this worker's batch slots hold \(contextTokens); \(remedy)")
        }
        let sequence = nextSequence
        nextSequence += 1
        let request = GenerationRequest(
            id: sequence, promptTokens: assign.promptIDs, maxNewTokens: g.maxNewTokens,
            sampling: g.sampling,
            random: SequenceRandom(runSeed: g.seed, problemID: assign.problemID),
            stopTokens: Set(model.generationConfig.eosTokenIDs.map { Int32($0) }), edits: edits)
        try generator.submit(request)
        streamer.begin(sequence: sequence, assign: assign)
        taskStart[sequence] = MonotonicClock.now()
    }

    /// One generation step, its time split into the phases TaskDone reports.
    func step() {
        guard let generator else { return }
        let stepStarted = MonotonicClock.now()
        let encodedBefore = streamer?.encodeSeconds ?? 0
        generator.step()
        let encode = (streamer?.encodeSeconds ?? 0) - encodedBefore
        // The forward pass is shared by the step's rows: split it by prompt and decode rows.
        let model = max(0, MonotonicClock.now() - stepStarted - encode)
        let summary = generator.lastStep
        let promptShare = summary.rows > 0 ? Double(summary.promptRows) / Double(summary.rows) : 0
        phaseSeconds["prefill", default: 0] += model * promptShare
        phaseSeconds["decode", default: 0] += model * (1 - promptShare)
        phaseSeconds["encode", default: 0] += encode
        if stepDelay > 0 { usleep(UInt32(stepDelay * 1_000_000)) }
    }

    private func configureGenerator(for specs: [HookpointSpec]) throws {
        var streams: [LatentStreamer.Stream] = []
        for spec in specs {
            let capture = try Hookpoint(parsing: spec.capture, layerCount: model.config.numHiddenLayers)
            guard let sae = saes[spec.sae] else {
                throw WorkerError("no SAE for hookpoint '\(spec.sae)' in \(saeDirectory) (it has \(saes.keys.sorted().joined(separator: ", ")))")
            }
            streams.append(LatentStreamer.Stream(spec: spec, capture: capture, sae: sae))
        }
        let streamer = LatentStreamer(streams: streams, chunkTokens: chunkTokens)
        let generator = Generator(model: model, slots: batchSlots, contextCapacity: contextTokens,
                                  hookpoints: Array(Set(streams.map(\.capture))).sorted { $0.description < $1.description },
                                  sink: streamer, kvCache: kvCache)
        generator.onFinish = { [weak self] result in self?.finished(result) }
        self.generator = generator
        self.streamer = streamer
        generatorSpecs = specs
    }

    private func finished(_ result: GenerationResult) {
        guard let streamer, let done = streamer.finish(sequence: result.id) else { return }
        let elapsed = MonotonicClock.now() - (taskStart.removeValue(forKey: result.id) ?? MonotonicClock.now())
        // Loudly, but once per hookpoint: every task of a mismatched SAE would repeat it.
        for (hookpoint, reason) in streamer.fitUnavailable.sorted(by: { $0.key < $1.key }) where !warnedPoorFit.contains(hookpoint) {
            warnedPoorFit.insert(hookpoint)
            logger.warning("no SAE fit (FVU) for \(hookpoint): \(reason)")
        }
        for (hookpoint, fvu) in done.fvu.sorted(by: { $0.key < $1.key }) where fvu > SparseAutoencoder.poorFitFVU && !warnedPoorFit.contains(hookpoint) {
            warnedPoorFit.insert(hookpoint)
            let explained = fvu >= 1 ? "less than the mean does" : "only \(String(format: "%.0f", (1 - fvu) * 100))% of the variance"
            logger.warning("POOR SAE FIT at \(hookpoint): the SAE's reconstruction explains \(explained) (FVU \(String(format: "%.3g", fvu)) > \(SparseAutoencoder.poorFitFVU) on \(done.assign.problemID)). Its latents may not mean what they were trained to mean: check that the SAE was trained on this capture point and model.")
        }
        onEnded?(TaskDone(
            taskID: done.assign.taskID, attempt: done.assign.attempt, generatedIDs: result.generatedTokens,
            stopReason: result.stopReason == .endOfSequence ? .eos : .length,
            promptTokens: result.promptTokens.count, timings: phaseSeconds.merging(["total": elapsed]) { $1 },
            fvu: done.fvu))
        phaseSeconds = [:]
    }

    /// Forgets every task (after a lost connection the coordinator requeues them); starts clean.
    func reset() {
        streamer?.abandonAll()
        taskStart.removeAll()
        // A generator mid-sequence cannot be rewound; build a fresh one on the next task.
        generator = nil
        streamer = nil
        generatorSpecs = []
    }
}
