import Checkpoints
import Experiment
import Platform
import SafeTensors
import ArgumentParser
import Compute
import Foundation
import Tokenizer

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with a Qwen2 model and dump hookpoint activations.",
        discussion: """
        Streams the generated text to stdout as it is produced (token ids with --ids, or when the model
        directory has no tokenizer.json). With --dump, writes a safetensors file: one float32 tensor
        [positions, hidden] per hookpoint, named as the hookpoint, plus token_ids (int32 [positions]: the
        prompt, then every generated token) and is_prompt (uint8 [positions]); with --sae also
        <hookpoint>.indices (int32 [positions, k]) and <hookpoint>.acts (float32 [positions, k]), the SAE's
        top-k latents of each position. Sampling defaults come from the model's generation_config.json.

        --intervene EDITS (with --sae) applies feature edits while generating, as one condition of an
        intervention run does: EDITS is EDIT(+EDIT)*, EDIT is HOOKPOINT:FEATURE:OP[@generated] with OP one of
        ablate, clamp=V, scale=S, add=A (docs/interventions.md). Dumped activations at an edited hookpoint are
        the edited ones, what the model used.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Hugging Face model directory (config.json, generation_config.json, safetensors weights).")
    var model: String

    @Option(help: "Prompt text, tokenized with the model directory's tokenizer.json.")
    var prompt: String?

    @Flag(help: "Wrap --prompt in the DeepSeek-R1 chat format (as a user turn followed by the assistant tag).")
    var chat = false

    @Flag(help: "Print token ids instead of text.")
    var ids = false

    @Option(help: "Prompt as comma-separated token ids, e.g. 151646,151644,3838.")
    var promptIds: String?

    @Option(help: "Largest number of tokens to generate.")
    var maxNewTokens: Int = 400

    @Option(help: "Sampling temperature; 0 means greedy. Default: generation_config.json.")
    var temperature: Double?

    @Option(help: "Nucleus sampling threshold in (0, 1]. Default: generation_config.json.")
    var topP: Double?

    @Option(help: "Top-k filter, 0 = off. Default: generation_config.json (transformers' 50 when unset).")
    var topK: Int?

    @Option(help: "Run seed of the counter-based sampler.")
    var seed: UInt64 = 0

    @OptionGroup var kvCacheOption: KVCacheOption

    @Option(help: "Problem id keying this sequence's random stream (with --seed).")
    var problemId: String = "cli"

    @Option(help: "Comma-separated hookpoints: layers.N, layers.N.mlp, hidden_states.N.")
    var hookpoints: String?

    @Option(help: "Write the activations and tokens to this safetensors file.")
    var dump: String?

    @Option(help: "sparsify SAE checkpoint directory: adds each hookpoint's top-k latents to the dump, and encodes --intervene's edited hookpoints.")
    var sae: String?

    @Option(help: ArgumentHelp("Feature edits to apply while generating: EDIT(+EDIT)*, EDIT = HOOKPOINT:FEATURE:OP[@generated], OP = ablate | clamp=V | scale=S | add=A; needs --sae.",
                               valueName: "edits"))
    var intervene: String?

    @Option(help: "Kernel threads.")
    var threads: Int = 2

    func validate() throws {
        guard (prompt == nil) != (promptIds == nil) else { throw ValidationError("give exactly one of --prompt and --prompt-ids") }
        guard maxNewTokens >= 0 else { throw ValidationError("--max-new-tokens must be >= 0, got \(maxNewTokens)") }
        if let temperature, temperature < 0 { throw ValidationError("--temperature must be >= 0, got \(temperature)") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1], got \(topP)") }
        if let topK, topK < 0 { throw ValidationError("--top-k must be >= 0, got \(topK)") }
        guard threads >= 1 else { throw ValidationError("--threads must be >= 1") }
        if dump != nil && (hookpoints ?? "").isEmpty { throw ValidationError("--dump needs --hookpoints (which activations to write)") }
        if sae != nil && dump == nil && intervene == nil {
            throw ValidationError("--sae adds latents to the dump or encodes --intervene's edits: give --dump or --intervene too")
        }
        if let intervene {
            guard sae != nil else { throw ValidationError("--intervene needs --sae DIR, the checkpoint whose SAEs encode each edited hookpoint") }
            do { _ = try FeatureEdit.parseList(intervene) } catch { throw ValidationError(error.description) }
        }
        if chat && prompt == nil { throw ValidationError("--chat wraps --prompt text; it does not apply to --prompt-ids") }
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        Kernels.threadCount = threads
        let started = Date()
        let model = try Qwen2Model(directory: self.model)
        logger.info("loaded \(self.model): \(model.config.numHiddenLayers) layers, hidden \(model.config.hiddenSize), vocab \(model.config.vocabSize), \(model.weights.matrixBytes / 1_000_000) MB of weights, \(Kernels.threadCount) threads, kernels \(KernelPath.selected) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")

        let edits = try bindEdits(model: model)
        let hasTokenizer = FileManager.default.fileExists(atPath: (self.model as NSString).appendingPathComponent("tokenizer.json"))
        let tokenizer = hasTokenizer ? try BPETokenizer.load(modelDirectoryOrFile: self.model) : nil
        let promptTokens = try parsePrompt(vocab: model.config.vocabSize, tokenizer: tokenizer)
        var saes: [Hookpoint: SparseAutoencoder] = [:]
        var hooks: [Hookpoint] = []
        for name in (hookpoints ?? "").split(separator: ",") {
            let hook = try Hookpoint(parsing: name.trimmingCharacters(in: .whitespaces), layerCount: model.config.numHiddenLayers)
            if !hooks.contains(hook) { hooks.append(hook) }
            if let sae, saes[hook] == nil {
                saes[hook] = try SparseAutoencoder(checkpoint: sae, hookpoint: hook.description, expectedDIn: model.config.hiddenSize)
            }
        }
        let generation = model.generationConfig
        let sampling = SamplingParameters.resolve(temperature: temperature, topP: topP, topK: topK, defaults: generation.samplingDefaults)

        // Before generating: what this needs, and a refusal when the machine cannot hold it.
        let saeFiles = saes.keys.map { SAECheckpoint.weightsPath(checkpoint: sae!, hookpoint: $0.description) }
        let plan = MemoryPlan(config: model.config,
                              weightBytes: MemoryPlan.fileBytes(MemoryPlan.modelWeightFiles(directory: self.model) + saeFiles),
                              slots: 1, contextTokens: promptTokens.count + maxNewTokens, prefillChunk: 128,
                              kvCache: kvCacheOption.kvCache)
        logger.info("\(plan.summary)")
        try plan.check(availableBytes: SystemMemory.available())

        let recorder = ActivationRecorder(hookpoints: hooks)
        let generator = Generator(model: model, slots: 1, contextCapacity: promptTokens.count + maxNewTokens,
                                  prefillChunk: 128, hookpoints: hooks, sink: hooks.isEmpty ? nil : recorder,
                                  kvCache: kvCacheOption.kvCache)
        var decoder = (ids ? nil : tokenizer)?.streamingDecoder()
        generator.onToken = { _, token in
            if decoder != nil {
                FileHandle.standardOutput.write(Data(decoder!.feed(token).utf8))
            } else {
                FileHandle.standardOutput.write(Data("\(token) ".utf8))
            }
        }
        try generator.submit(GenerationRequest(
            id: 0, promptTokens: promptTokens, maxNewTokens: maxNewTokens, sampling: sampling,
            random: SequenceRandom(runSeed: seed, problemID: problemId),
            stopTokens: Set(generation.eosTokenIDs.map { Int32($0) }), edits: edits))
        let generateStart = Date()
        let results = generator.run()
        let seconds = Date().timeIntervalSince(generateStart)
        FileHandle.standardOutput.write(Data(((decoder?.finish() ?? "") + "\n").utf8))
        guard let result = results.first else { throw ValidationError("generation produced no result") }
        logger.info("stopped: \(result.stopReason.rawValue) after \(result.generatedTokens.count) tokens (\(promptTokens.count) prompt tokens) in \(String(format: "%.2f", seconds)) s")

        if let dump {
            try writeDump(to: dump, result: result, recorder: recorder, hooks: hooks, saes: saes, hidden: model.config.hiddenSize)
            logger.info("wrote \(dump)")
        }
    }

    /// --intervene's edits checked against the model and bound to the SAEs in --sae, before any
    /// generation: an edit past the model's layers, without an SAE or past its latents is refused.
    private func bindEdits(model: Qwen2Model) throws -> [BoundFeatureEdit] {
        guard let intervene, let sae else { return [] }
        do {
            let edits = try FeatureEdit.parseList(intervene)
            let available = Set(SAECheckpoint.hookpoints(in: sae))
            var saes: [String: SparseAutoencoder] = [:]
            for edit in edits where saes[edit.hookpoint] == nil && available.contains(edit.hookpoint) {
                if let layer = edit.layer, layer >= model.config.numHiddenLayers { continue }  // refused by bind, naming the layer
                saes[edit.hookpoint] = try SparseAutoencoder(checkpoint: sae, hookpoint: edit.hookpoint, expectedDIn: model.config.hiddenSize)
            }
            return try BoundFeatureEdit.bind(edits, layerCount: model.config.numHiddenLayers, hiddenSize: model.config.hiddenSize,
                                             saes: saes, saeSource: "--sae \(sae)")
        } catch let error as InterventionError {
            throw ValidationError(error.description)
        }
    }

    private func parsePrompt(vocab: Int, tokenizer: BPETokenizer?) throws -> [Int32] {
        if let prompt {
            guard let tokenizer else {
                throw ValidationError("--prompt needs \(model)/tokenizer.json; pass token ids with --prompt-ids instead")
            }
            let tokens = chat ? ChatPrompt(suffix: "").ids(for: prompt, tokenizer: tokenizer) : tokenizer.encode(prompt)
            guard !tokens.isEmpty else { throw ValidationError("--prompt is empty") }
            if let bad = tokens.first(where: { Int($0) >= vocab }) {
                throw ValidationError("the tokenizer gives id \(bad), outside the model's vocabulary of \(vocab): tokenizer.json does not belong to this model")
            }
            return tokens
        }
        var tokens: [Int32] = []
        for piece in (promptIds ?? "").split(separator: ",") {
            let text = piece.trimmingCharacters(in: .whitespaces)
            guard let id = Int32(text), id >= 0, Int(id) < vocab else {
                throw ValidationError("--prompt-ids: '\(text)' is not a token id in 0..<\(vocab)")
            }
            tokens.append(id)
        }
        guard !tokens.isEmpty else { throw ValidationError("--prompt-ids is empty") }
        return tokens
    }

    private func writeDump(to path: String, result: GenerationResult, recorder: ActivationRecorder, hooks: [Hookpoint],
                           saes: [Hookpoint: SparseAutoencoder], hidden: Int) throws {
        guard let recording = recorder.recordings[result.id] else { throw ValidationError("no activations were captured") }
        let tokens = result.promptTokens + result.generatedTokens
        var writer = SafeTensorsWriter()
        for hook in hooks {
            let values = recording.values[hook] ?? []
            precondition(values.count == tokens.count * hidden, "\(hook): \(values.count / max(hidden, 1)) rows for \(tokens.count) positions")
            writer.add(hook.description, shape: [tokens.count, hidden], floats: values)
            if let sae = saes[hook] {
                let latents = sae.encode(values, rows: tokens.count)
                writer.add(hook.description + ".indices", shape: [tokens.count, sae.k], int32s: latents.indices)
                writer.add(hook.description + ".acts", shape: [tokens.count, sae.k], floats: latents.activations)
            }
        }
        writer.add("token_ids", shape: [tokens.count], int32s: tokens)
        writer.add("is_prompt", shape: [tokens.count], uint8s: tokens.indices.map { $0 < result.promptTokens.count ? 1 : 0 })
        try writer.write(to: path)
    }
}
