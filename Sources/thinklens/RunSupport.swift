import Experiment
import ResultBundle
import ArgumentParser
import Checkpoints
import SafeTensors
import Compute
import Coordinator
import Foundation
import GSM8K
import Logging
import Protocol
import Tokenizer
import Transport

/// Settings shared by `thinklens coordinator` and `thinklens run`: what to run and where
/// to put the bundle.
struct RunSettingsOptions: ParsableArguments {
    @Option(help: "Problems: gsm8k:train, gsm8k:test[0:32], gsm8k:train[1,5,9], or a JSONL prompt set: jsonl:PATH, jsonl:PATH[0:32].")
    var problems: String

    @Option(help: "With jsonl: the field holding each question (default: question, or problem where a line has no question).")
    var questionField: String?

    @Option(help: "With jsonl: the field holding each gold answer (default: answer, where a line has one; lines without get verdict none). GSM8K's '#### N' is checked numerically, anything else as LaTeX.")
    var answerField: String?

    @Option(help: "With jsonl: the field holding each problem's id (default: the line index).")
    var idField: String?

    @Option(help: "With jsonl: the name in problem ids <name>:<index or id> (default: the file's base name).")
    var datasetName: String?

    @Option(help: "A file holding the whole prompt with a {question} placeholder, special tokens spelled out (default: the DeepSeek-R1 chat prompt with --prompt-suffix).")
    var promptTemplate: String?

    @Option(help: "Take a seeded random sample of this many problems from the selection.")
    var sample: Int?

    @Option(help: "Seed of --sample.")
    var sampleSeed: UInt64 = 0

    @Option(help: "Directory with GSM8K train.jsonl and test.jsonl (default: $THINKLENS_GSM8K_DIR).")
    var gsm8kDir: String?

    @Option(help: "Comma-separated hookpoints; CAPTURE=SAE encodes one capture point with another hookpoint's SAE (e.g. hidden_states.10=layers.10.mlp).")
    var hookpoints: String = "layers.5.mlp,layers.10.mlp,layers.20.mlp"

    @Option(help: "Output directory: journal while running, the result bundle at the end. Rerunning with the same directory resumes.")
    var out: String

    @Option(help: "Model directory (config.json, generation_config.json, tokenizer.json, safetensors): the coordinator tokenizes prompts and checks workers against its fingerprint.")
    var model: String

    @Option(help: "sparsify SAE checkpoint directory (one folder per hookpoint).")
    var sae: String

    @Option(help: "Maximum new tokens per problem.")
    var maxNewTokens: Int = 400

    @Option(help: "Sampling temperature (default: the model's generation_config.json; 0 = greedy).")
    var temperature: Double?

    @Option(help: "Nucleus sampling top-p (default: the model's generation_config.json).")
    var topP: Double?

    @Option(help: "Top-k cut, 0 for none (default: the model's generation_config.json).")
    var topK: Int?

    @Option(help: "Run seed; each problem's random stream is derived from it and the problem id.")
    var seed: UInt64 = 0

    @Flag(help: "Also record latents of the prompt tokens.")
    var includePrompt = false

    @Option(help: "Text appended to each question inside the user turn.")
    var promptSuffix: String = ChatPrompt.defaultSuffix

    @Flag(help: "Start the assistant turn with '<think>\\n' (the newer DeepSeek-R1 template).")
    var thinkPrefix = false

    @Option(help: "Seconds of silence after which a worker is presumed dead and its tasks requeued.")
    var leaseSeconds: Double = 15

    @Option(help: "Seconds between heartbeats.")
    var heartbeatInterval: Double = 1

    @Option(help: "Attempts per problem before it is recorded as failed.")
    var maxAttempts: Int = 3

    @Flag(help: "When resuming, try again the problems an earlier start recorded as failed (by default they stay failed).")
    var retryFailed = false

    @Option(help: "Seconds a task may go without progress (no latents, no result) before it is taken from its worker, which is dropped; 0 = automatic (10 x the slowest progress gap seen, at least 120 s).")
    var progressTimeout: Double = 0

    @Option(help: "Share of problems (0 to 1; try 0.05) run a second time on another worker and compared bit for bit; a third worker decides a mismatch and the worker that disagrees is quarantined and its other results run again. Needs at least 2 workers (3 to decide a mismatch).")
    var verifyFraction: Double = 0

    @Option(name: .customLong("intervene"), help: ArgumentHelp(
        "A condition NAME=EDITS every problem also runs under (repeatable), paired with the baseline through the same random stream: EDITS is EDIT(+EDIT)*, EDIT is HOOKPOINT:FEATURE:OP[@generated] with OP ablate, clamp=V, scale=S or add=A; one {a,b,...} sweep gives NAME@a, NAME@b, ...",
        valueName: "NAME=EDITS"))
    var intervene: [String] = []

    @Option(help: "With --intervene: whether the conditions' bundles store latents (all, the default) or only their generations (none).")
    var interventionLatents: InterventionLatents?

    @OptionGroup var kvCacheOption: KVCacheOption
    var kvCache: KVCacheDType { kvCacheOption.kvCache }

    enum InterventionLatents: String, ExpressibleByArgument, CaseIterable {
        case all, none
    }

    func validate() throws {
        guard maxNewTokens >= 1 else { throw ValidationError("--max-new-tokens must be at least 1") }
        if let t = temperature, t < 0 { throw ValidationError("--temperature must be >= 0") }
        if let p = topP, !(p > 0 && p <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if let k = topK, k < 0 { throw ValidationError("--top-k must be >= 0") }
        guard leaseSeconds > heartbeatInterval, heartbeatInterval > 0 else { throw ValidationError("--lease-seconds must exceed --heartbeat-interval > 0") }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        guard progressTimeout >= 0, progressTimeout.isFinite else { throw ValidationError("--progress-timeout must be >= 0 (0 = automatic)") }
        if interventionLatents != nil && intervene.isEmpty {
            throw ValidationError("--intervention-latents applies only with --intervene")
        }
        guard verifyFraction >= 0, verifyFraction <= 1 else { throw ValidationError("--verify-fraction must be between 0 and 1 (e.g. 0.05), got \(verifyFraction)") }
        if !problems.trimmingCharacters(in: .whitespaces).hasPrefix("jsonl:") {
            for (flag, value) in [("--question-field", questionField), ("--answer-field", answerField), ("--id-field", idField), ("--dataset-name", datasetName)] where value != nil {
                throw ValidationError("\(flag) applies to a JSONL prompt set (--problems jsonl:PATH), not to \(problems)")
            }
        }
        if let datasetName, datasetName.isEmpty || datasetName.contains(":") {
            throw ValidationError("--dataset-name '\(datasetName)' must be non-empty and without ':' (it starts each problem id, <name>:<index>)")
        }
        if promptTemplate != nil && (thinkPrefix || promptSuffix != ChatPrompt.defaultSuffix) {
            throw ValidationError("--prompt-template is the whole prompt: write the suffix and <think> into the template instead of --prompt-suffix/--think-prefix")
        }
    }

    /// The prompt: --prompt-template's file, else the DeepSeek-R1 chat prompt.
    func chatPrompt() throws -> ChatPrompt {
        guard let promptTemplate else { return ChatPrompt(suffix: promptSuffix, thinkPrefix: thinkPrefix) }
        guard let data = FileManager.default.contents(atPath: promptTemplate) else {
            throw ValidationError("--prompt-template \(promptTemplate): cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("--prompt-template \(promptTemplate): not valid UTF-8")
        }
        guard text.contains(ChatPrompt.questionPlaceholder) else {
            throw ValidationError("--prompt-template \(promptTemplate): no \(ChatPrompt.questionPlaceholder) placeholder; write it where each question goes")
        }
        return ChatPrompt(template: text)
    }

    /// The selected problems, and for a JSONL prompt set its identity for the manifest.
    func selectedProblems(_ selection: ProblemSelection) throws -> (problems: [PromptSetProblem], dataset: JSONValue?) {
        switch selection.source {
        case .gsm8k:
            let dataset = try GSM8KDataset.locate(explicitDirectory: gsm8kDir)
            return (try selection.resolve(in: dataset).map(PromptSetProblem.init), nil)
        case .jsonl(let path):
            let set = JSONLPromptSet(path: path, name: datasetName, questionField: questionField, answerField: answerField, idField: idField)
            let contents = try set.contents()
            let all = try set.parse(contents)
            let problems = try selection.indices(splitCount: all.count).map { all[$0] }
            var digest = SHA256()
            digest.update(contents)
            let identity: JSONValue = .object([
                "name": .string(set.name),
                "sha256": .string(digest.hexDigest()),
                "question_field": set.questionField.map { .string($0) } ?? .null,
                "answer_field": set.answerField.map { .string($0) } ?? .null,
                "id_field": set.idField.map { .string($0) } ?? .null,
            ])
            return (problems, identity)
        }
    }

    /// Loads what the coordinator needs (tokenizer, dataset, fingerprints) into a configuration.
    /// The model and SAEs are fingerprinted from their files, not loaded for inference.
    func coordinatorConfiguration(listen: String, logger: Logger) throws -> CoordinatorConfiguration {
        let runHookpoints = try HookpointSpec.parseList(hookpoints)
        let tokenizer = try BPETokenizer.load(modelDirectoryOrFile: model)
        let configPath = (model as NSString).appendingPathComponent("config.json")
        let config = try Qwen2Configuration.load(contentsOf: configPath)
        let configText = try Data(contentsOf: URL(fileURLWithPath: configPath))
        let modelInfo = RunManifest.Model(config: try JSONValue.parse(configText, source: configPath),
                                          fingerprint: ModelFingerprint.compute(config: config, checkpoint: try SafeTensorsCheckpoint(directory: model)))
        // Each SAE the run uses (its hookpoints' and its edits'), opened once: fingerprinted for
        // the manifest and the workers' hellos, checked against the model.
        var checkpoints: [String: SAECheckpoint] = [:]
        var saes: [String: RunManifest.SAE] = [:]
        func openSAE(_ name: String) throws -> SAECheckpoint {
            if let known = checkpoints[name] { return known }
            let checkpoint = try SAECheckpoint(checkpoint: sae, hookpoint: name)
            guard checkpoint.config.dIn == config.hiddenSize else {
                throw SAEError(path: checkpoint.configPath, reason: "d_in is \(checkpoint.config.dIn) but the model's hidden size is \(config.hiddenSize); this SAE was trained on a different model or hookpoint")
            }
            let cfg = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: checkpoint.configPath)), source: checkpoint.configPath)
            saes[name] = RunManifest.SAE(cfg: cfg, fingerprint: try checkpoint.fingerprint())
            checkpoints[name] = checkpoint
            return checkpoint
        }
        for name in Set(runHookpoints.map(\.sae)).sorted() { _ = try openSAE(name) }
        for h in runHookpoints {
            _ = try Hookpoint(parsing: h.capture, layerCount: config.numHiddenLayers)
        }
        let conditions = try InterventionCondition.parseAll(intervene)
        for edit in conditions.flatMap(\.edits) {
            // FeatureEdit.check is the rule workers and `generate` apply too; an SAE folder that
            // exists but does not open says why beside "no SAE".
            var openError: Error?
            do {
                try edit.check(layerCount: config.numHiddenLayers, saeSource: "--sae \(sae)") { name in
                    do { return try openSAE(name).config.numLatents } catch { openError = error; return nil }
                }
            } catch {
                throw ValidationError("\(error)\(openError.map { " (\($0))" } ?? "")")
            }
        }
        var selection = try ProblemSelection.parse(problems)
        if let sample { selection = selection.sampling(sample, seed: sampleSeed) }
        let (chosen, dataset) = try selectedProblems(selection)
        let prompt = try chatPrompt()
        let defaults = try GenerationConfiguration.load(contentsOf: (model as NSString).appendingPathComponent("generation_config.json"))
        let generation = GenerationParameters(
            maxNewTokens: maxNewTokens,
            sampling: .resolve(temperature: temperature, topP: topP, topK: topK, defaults: defaults.samplingDefaults),
            seed: seed)
        logger.info("\(chosen.count) problems from \(selection); sampling: temperature \(generation.sampling.temperature), top-p \(generation.sampling.topP), top-k \(generation.sampling.topK), max new tokens \(maxNewTokens), seed \(seed)")
        var c = CoordinatorConfiguration(
            listen: listen, problems: chosen, selectionText: selection.description, hookpoints: runHookpoints,
            outDirectory: out, generation: generation, includePrompt: includePrompt,
            prompt: prompt, tokenizer: tokenizer,
            model: modelInfo, saes: saes)
        c.dataset = dataset
        c.leaseSeconds = leaseSeconds
        c.heartbeatInterval = heartbeatInterval
        c.maxAttempts = maxAttempts
        c.retryFailed = retryFailed
        c.progressTimeout = progressTimeout
        c.verifyFraction = verifyFraction
        c.conditions = conditions
        c.interventionLatents = (interventionLatents ?? .all) == .all
        c.kvCache = kvCache
        if kvCache != .standard {
            logger.info("KV cache \(kvCache.longName) (--kv-cache \(kvCache.rawValue)): workers must use the same; it is recorded in the run settings")
        }
        if !conditions.isEmpty {
            logger.info("\(conditions.count) condition(s) beside the baseline: \(conditions.map { "\($0.name) (\($0.edits.map(\.description).joined(separator: "+")))" }.joined(separator: ", ")); each problem runs \(conditions.count + 1) times with the same random stream")
        }
        return c
    }
}

/// SIGINT/SIGTERM set a flag the event loops poll; the loops then stop cleanly.
enum TerminationSignals {
    nonisolated(unsafe) static var received: Int32 = 0

    static func install() {
        signal(SIGINT) { TerminationSignals.received = $0 }
        signal(SIGTERM) { TerminationSignals.received = $0 }
        signal(SIGPIPE, SIG_IGN)
        // A launcher may hand us these signals blocked (the mask survives exec): unblock them,
        // or an interrupt would wait, pending, until the run ends.
        var wanted = sigset_t()
        sigemptyset(&wanted)
        sigaddset(&wanted, SIGINT)
        sigaddset(&wanted, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &wanted, nil)
    }

    static var stopRequested: Bool { received != 0 }
}

/// Prints the end-of-run summary: where the bundle is and the top features per hookpoint.
func printRunSummary(_ outcome: CoordinatorOutcome, out: String) {
    guard let bundle = outcome.bundle else { return }
    print("bundle: \(bundle.directory) (\(bundle.problems) problems)")
    for (hookpoint, top) in bundle.topFeatures.sorted(by: { $0.key < $1.key }) {
        let list = top.prefix(10).map { "\($0.feature) (\($0.tokens))" }.joined(separator: ", ")
        print("  \(hookpoint): top features by tokens: \(list)")
    }
    if !outcome.failed.isEmpty {
        print("FAILED problems: \(outcome.failed.count)")
        for (id, reasons) in outcome.failed.sorted(by: { $0.key < $1.key }) {
            print("  \(id): \(reasons.joined(separator: " | "))")
        }
    }
}

func readAllowList(_ path: String) throws -> Set<String> {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw ValidationError("--allow-workers \(path): cannot read the file")
    }
    var keys: Set<String> = []
    for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        // '#' is itself a Z85 character, so a line is a key when it is one; only other
        // lines starting with '#' are comments.
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty { continue }
        if CurveKeyPair.isValidZ85Key(line) {
            keys.insert(line)
            continue
        }
        if line.hasPrefix("#") { continue }
        throw ValidationError("--allow-workers \(path) line \(n + 1): '\(line)' is not a 40-character Z85 public key (use the .pub file written by 'thinklens keygen'); comment lines start with '#'")
    }
    return keys
}
