import ArgumentParser
import Compute
import Foundation

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with a Qwen2 model and dump hookpoint activations.",
        discussion: """
        Prints the generated token ids to stdout as they are produced (text once the tokenizer is wired in).
        With --dump, writes a safetensors file: one float32 tensor [positions, hidden] per hookpoint, named
        as the hookpoint, plus token_ids (int32 [positions]: the prompt, then every generated token) and
        is_prompt (uint8 [positions]). Sampling defaults come from the model's generation_config.json.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Hugging Face model directory (config.json, generation_config.json, safetensors weights).")
    var model: String

    @Option(help: "Prompt text (needs the tokenizer).")
    var prompt: String?

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

    @Option(help: "Problem id keying this sequence's random stream (with --seed).")
    var problemId: String = "cli"

    @Option(help: "Comma-separated hookpoints: layers.N, layers.N.mlp, hidden_states.N.")
    var hookpoints: String?

    @Option(help: "Write the activations and tokens to this safetensors file.")
    var dump: String?

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
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        Kernels.threadCount = threads
        let started = Date()
        let model = try Qwen2Model(directory: self.model)
        logger.info("loaded \(self.model): \(model.config.numHiddenLayers) layers, hidden \(model.config.hiddenSize), vocab \(model.config.vocabSize), \(model.weights.matrixBytes / 1_000_000) MB of weights, \(Kernels.threadCount) threads, kernels \(KernelPath.selected) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")

        let promptTokens = try parsePrompt(vocab: model.config.vocabSize)
        var hooks: [Hookpoint] = []
        for name in (hookpoints ?? "").split(separator: ",") {
            let hook = try Hookpoint(parsing: name.trimmingCharacters(in: .whitespaces), layerCount: model.config.numHiddenLayers)
            if !hooks.contains(hook) { hooks.append(hook) }
        }
        let generation = model.generationConfig
        var sampling = generation.sampling
        if let temperature {
            sampling = temperature == 0 ? .greedy : SamplingParameters(temperature: Float(temperature), topK: generation.topK, topP: generation.topP)
        }
        if !sampling.isGreedy {
            if let topP { sampling.topP = topP }
            if let topK { sampling.topK = topK }
        }

        let recorder = ActivationRecorder(hookpoints: hooks)
        let generator = Generator(model: model, slots: 1, contextCapacity: promptTokens.count + maxNewTokens,
                                  prefillChunk: 128, hookpoints: hooks, sink: hooks.isEmpty ? nil : recorder)
        generator.onToken = { _, token in
            FileHandle.standardOutput.write(Data("\(token) ".utf8))
        }
        try generator.submit(GenerationRequest(
            id: 0, promptTokens: promptTokens, maxNewTokens: maxNewTokens, sampling: sampling,
            random: SequenceRandom(runSeed: seed, problemID: problemId),
            stopTokens: Set(generation.eosTokenIDs.map { Int32($0) })))
        let generateStart = Date()
        let results = generator.run()
        let seconds = Date().timeIntervalSince(generateStart)
        FileHandle.standardOutput.write(Data("\n".utf8))
        guard let result = results.first else { throw ValidationError("generation produced no result") }
        logger.info("stopped: \(result.stopReason.rawValue) after \(result.generatedTokens.count) tokens (\(promptTokens.count) prompt tokens) in \(String(format: "%.2f", seconds)) s")

        if let dump {
            try writeDump(to: dump, result: result, recorder: recorder, hooks: hooks, hidden: model.config.hiddenSize)
            logger.info("wrote \(dump)")
        }
    }

    private func parsePrompt(vocab: Int) throws -> [Int32] {
        if prompt != nil {
            throw ValidationError("--prompt needs the tokenizer, which is not wired into 'generate' yet; pass token ids with --prompt-ids")
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

    private func writeDump(to path: String, result: GenerationResult, recorder: ActivationRecorder, hooks: [Hookpoint], hidden: Int) throws {
        guard let recording = recorder.recordings[result.id] else { throw ValidationError("no activations were captured") }
        let tokens = result.promptTokens + result.generatedTokens
        var writer = SafeTensorsWriter()
        for hook in hooks {
            let values = recording.values[hook] ?? []
            precondition(values.count == tokens.count * hidden, "\(hook): \(values.count / max(hidden, 1)) rows for \(tokens.count) positions")
            writer.add(hook.description, shape: [tokens.count, hidden], floats: values)
        }
        writer.add("token_ids", shape: [tokens.count], int32s: tokens)
        writer.add("is_prompt", shape: [tokens.count], uint8s: tokens.indices.map { $0 < result.promptTokens.count ? 1 : 0 })
        try writer.write(to: path)
    }
}
