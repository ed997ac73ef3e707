import Platform
import Checkpoints
import Experiment
import ArgumentParser
import Compute
import Foundation

/// `thinklens bench generate`: prefill and batched decode speed of the Qwen2 engine, and its
/// memory. scripts/bench-generate runs it beside Hugging Face transformers on the same weights.
struct BenchGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Benchmark: Qwen2 prefill and decode tokens/s at several batch sizes, with hookpoint capture.")

    @Option(help: "Model directory (e.g. written by scripts/make-bench-model.py).")
    var model: String

    @Option(help: "Kernel threads.")
    var threads: Int = 2

    @Option(help: "Prompt length of the prefill measurement.")
    var prefillTokens: Int = 100

    @Option(help: "Prompt length of each sequence in the decode measurements.")
    var decodePromptTokens: Int = 16

    @Option(help: "Tokens generated per sequence in the decode measurements.")
    var newTokens: Int = 64

    @Option(help: "Measure decode at this context instead: prefill N prompt tokens once, copy them to every slot, then time --new-tokens greedy decode steps at each --batches size (no hookpoints).")
    var context: Int?

    @Option(help: "Prompt positions per prefill step with --context.")
    var contextPrefillChunk: Int = 256

    @Option(help: "With --context: the short context whose decode steps alternate with the long ones, as the baseline of the share.")
    var baselineContext: Int = 64

    @Option(help: "Comma-separated batch sizes.")
    var batches: String = "1,4,8,16"

    @Option(help: "Hookpoints captured during decode.")
    var hookpoints: String = "layers.5.mlp,layers.10.mlp,layers.20.mlp"

    @Option(help: "Only load, generate a few tokens, print memory and 'READY', then sleep this many seconds (second-process memory probe).")
    var memoryProbe: Int?

    @Option(help: "The machine's float32 FMA peak in GFLOP/s at --threads (scripts/bench-machine fma measures it; scripts/bench-generate passes it): prefill and decode also print their share of it.")
    var fmaPeakGflops: Double?

    @Flag(help: "Also print one machine-readable line starting with BENCH_JSON.")
    var json = false

    @OptionGroup var kvCacheOption: KVCacheOption
    var kvCache: KVCacheDType { kvCacheOption.kvCache }

    @Option(help: "With --kv-cache bf16: greedy tokens generated from one prompt with a float32 and with a bfloat16 cache, whose first divergence, activation error and SAE top-k agreement are printed before the timings (0 skips the comparison).")
    var parityTokens: Int = 32

    @Option(help: "With --kv-cache bf16: the comparison's prompt length.")
    var parityPromptTokens: Int = 64

    @Option(help: "With --kv-cache bf16: the hookpoint whose activations are compared (default: the first SAE of --sae, else the first of --hookpoints).")
    var parityHookpoint: String?

    @Option(help: "With --kv-cache bf16: a sparsify SAE directory with an SAE for the compared hookpoint; adds the top-k agreement.")
    var sae: String?

    /// Stands in for the worker's hand-off: copies every delivered row once.
    final class CopySink: ActivationSink {
        var buffer: [Float] = []
        var rowsSeen = 0
        func receive(hookpoint: Hookpoint, rows: UnsafeBufferPointer<ActivationRow>, values: UnsafeBufferPointer<Float>, width: Int) {
            if buffer.count < values.count { buffer = [Float](repeating: 0, count: values.count) }
            buffer.withUnsafeMutableBufferPointer { _ = $0.initialize(from: values) }
            rowsSeen += rows.count
        }
    }

    func run() throws {
        Kernels.threadCount = threads
        let loadStart = Date()
        let model = try Qwen2Model(directory: self.model)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let config = model.config
        let hooks = try hookpoints.split(separator: ",").map { try Hookpoint(parsing: String($0), layerCount: config.numHiddenLayers) }
        let batchSizes = try batches.split(separator: ",").map { piece -> Int in
            guard let b = Int(piece), b >= 1 else { throw ValidationError("--batches: '\(piece)' is not a positive integer") }
            return b
        }
        let eos = Set(model.generationConfig.eosTokenIDs.map { Int32($0) })
        // The study's sampling when the model's config does not sample.
        let sampling = model.generationConfig.doSample
            ? SamplingParameters.resolve(temperature: nil, topP: nil, topK: nil, defaults: model.generationConfig.samplingDefaults)
            : SamplingParameters(temperature: 0.6, topK: 50, topP: 0.95)
        print("model \(self.model): \(config.numHiddenLayers) layers, hidden \(config.hiddenSize), intermediate \(config.intermediateSize), vocab \(config.vocabSize), \(String(format: "%.2f", Double(model.weights.matrixBytes) / 1e9)) GB of \(model.weights.embedTokens.dtype.rawValue) matrices")
        let flops = MatrixFlops(config)
        if let fmaPeakGflops, !(fmaPeakGflops > 0) {
            throw ValidationError("--fma-peak-gflops: \(fmaPeakGflops) is not a positive GFLOP/s figure")
        }
        // "149.2 GFLOP/s" and, given the peak, "= 28.8% of the FMA peak 517.2".
        func throughput(_ gflops: Double) -> String {
            var text = String(format: "%.1f GFLOP/s", gflops)
            if let fmaPeakGflops { text += String(format: " = %.1f%% of the FMA peak %.1f", 100 * gflops / fmaPeakGflops, fmaPeakGflops) }
            return text
        }
        print(String(format: "matrix products: %.3f GFLOP per position through the decoder, %.3f for lm_head per row with logits", flops.decoderPerRow / 1e9, flops.lmHeadPerRow / 1e9))
        print("threads \(Kernels.threadCount), kernels \(KernelPath.selected), sampling T=\(sampling.temperature) top-k \(sampling.topK) top-p \(sampling.topP), hookpoints \(hooks.map(\.description).joined(separator: ",")); loaded in \(String(format: "%.2f", loadSeconds)) s")

        func prompt(_ length: Int, seed: Int) -> [Int32] {
            var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
            return (0..<length).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Int32(truncatingIfNeeded: (state >> 33) % UInt64(min(config.vocabSize, 150_000)))
            }
        }

        print("KV cache: \(kvCache.longName) (--kv-cache \(kvCache.rawValue)), \(KVCache.bytesPerToken(config: config, dtype: kvCache)) B/token")
        var parityJSON: [String: Any]?
        if kvCache != .standard && parityTokens > 0 && memoryProbe == nil {
            parityJSON = try compareWithFloat32Cache(model: model, hooks: hooks, prompt: prompt(parityPromptTokens, seed: 5))
        }
        // eos is excluded so every sequence runs to its budget and the step counts are fixed.
        func request(_ id: Int, prompt tokens: [Int32], newTokens: Int) -> GenerationRequest {
            GenerationRequest(id: id, promptTokens: tokens, maxNewTokens: newTokens, sampling: sampling,
                              random: SequenceRandom(runSeed: 0, problemID: "bench-\(id)"), stopTokens: [])
        }

        if let context {
            guard context >= 1, contextPrefillChunk >= 1, newTokens >= 1 else {
                throw ValidationError("--context, --context-prefill-chunk and --new-tokens must be at least 1")
            }
            guard baselineContext >= 1 else { throw ValidationError("--baseline-context must be at least 1") }
            let benchmark = LongContextBenchmark(model: model, context: context, batches: batchSizes, decodeSteps: newTokens,
                                                 prefillChunk: contextPrefillChunk, baselineContext: min(baselineContext, context),
                                                 kvCache: kvCache)
            let result = benchmark.run(prompt: prompt(context, seed: 7))
            print(String(format: "context %d: prefill %.2f s (%.1f tokens/s, one sequence, %d-token steps); KV cache %d B/token (%@), %.2f GB for %d slots × %d positions",
                         context, result.prefillSeconds, Double(context) / result.prefillSeconds, contextPrefillChunk, result.kvCacheBytesPerToken, kvCache.longName,
                         Double(result.kvCacheBytes) / 1e9, batchSizes.max()!, context + newTokens))
            for row in result.rows {
                print(String(format: "context %d decode batch %2d: %7.2f tokens/s (%.1f ms/step over %d steps); at context %d in alternate steps %.2f tokens/s: %.0f%%",
                             context, row.batch, row.tokensPerSecond, row.millisecondsPerStep, newTokens, min(baselineContext, context),
                             row.baselineTokensPerSecond, 100 * row.tokensPerSecond / row.baselineTokensPerSecond))
            }
            print("memory: \(result.memory)")
            if json {
                let object: [String: Any] = [
                    "context": context, "prefill_s": result.prefillSeconds, "kv_cache_bytes_per_token": result.kvCacheBytesPerToken,
                    "kv_cache_bytes": result.kvCacheBytes, "peak_rss_bytes": result.memory.peakResident, "decode_steps": newTokens,
                    "baseline_context": min(baselineContext, context), "kv_cache": kvCache.rawValue,
                    "decode": result.rows.map { ["batch": $0.batch, "tokens_per_s": $0.tokensPerSecond, "ms_per_step": $0.millisecondsPerStep,
                                                 "baseline_tokens_per_s": $0.baselineTokensPerSecond] },
                    "threads": Kernels.threadCount, "kernels": "\(KernelPath.selected)",
                ].merging(parityJSON.map { ["kv_cache_parity": $0] } ?? [:]) { a, _ in a }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print("BENCH_CONTEXT_JSON " + String(decoding: data, as: UTF8.self))
            }
            return
        }

        if let memoryProbe {
            let generator = Generator(model: model, slots: 1, contextCapacity: decodePromptTokens + 8, hookpoints: hooks, sink: CopySink(),
                                      kvCache: kvCache)
            try generator.submit(request(0, prompt: prompt(decodePromptTokens, seed: 0), newTokens: 8))
            _ = generator.run()
            print("memory: \(ProcessStatus.current())")
            print("READY")
            StandardOutput.flush()
            Thread.sleep(forTimeInterval: TimeInterval(memoryProbe))
            return
        }
        _ = eos

        // Warm-up: touches every weight page once so the timings below read from the page cache.
        do {
            let generator = Generator(model: model, slots: 1, contextCapacity: 8, kvCache: kvCache)
            try generator.submit(request(0, prompt: prompt(4, seed: 99), newTokens: 2))
            _ = generator.run()
        }

        // Prefill: one step over the whole prompt (plus sampling its first token).
        var prefillTimes: [Double] = [], prefillCPU: [Double] = []
        for trial in 0..<2 {
            let generator = Generator(model: model, slots: 1, contextCapacity: prefillTokens + 1, prefillChunk: prefillTokens, kvCache: kvCache)
            try generator.submit(request(trial, prompt: prompt(prefillTokens, seed: trial + 1), newTokens: 1))
            let start = Date()
            let cpuStart = ProcessStatus.cpuSeconds()
            generator.step()
            prefillTimes.append(Date().timeIntervalSince(start))
            prefillCPU.append(ProcessStatus.cpuSeconds() - cpuStart)
        }
        let prefill = prefillTimes.min()!
        // One step over the prompt: every position through the decoder, lm_head on the last one.
        let prefillGflops = flops.step(rows: prefillTokens, logitRows: 1) / prefill / 1e9
        print(String(format: "prefill %d tokens: %.3f s (%.1f tokens/s; trials %@; process CPU %@ s); %@", prefillTokens, prefill, Double(prefillTokens) / prefill,
                     prefillTimes.map { String(format: "%.3f", $0) }.joined(separator: ", "), prefillCPU.map { String(format: "%.3f", $0) }.joined(separator: ", "),
                     throughput(prefillGflops)))

        var decodeRows: [[String: Double]] = []
        for b in batchSizes {
            let sink = CopySink()
            let generator = Generator(model: model, slots: b, contextCapacity: decodePromptTokens + newTokens,
                                      prefillChunk: decodePromptTokens, hookpoints: hooks, sink: sink, kvCache: kvCache)
            for i in 0..<b { try generator.submit(request(1000 * b + i, prompt: prompt(decodePromptTokens, seed: 1000 * b + i), newTokens: newTokens)) }
            var decodeSeconds = 0.0, decodeCPU = 0.0, decodeTokens = 0, decodeSteps = 0
            let start = Date()
            while true {
                let stepStart = Date()
                let cpuStart = ProcessStatus.cpuSeconds()
                guard generator.step() else { break }
                let elapsed = Date().timeIntervalSince(stepStart)
                let cpu = ProcessStatus.cpuSeconds() - cpuStart
                let s = generator.lastStep
                if s.promptRows == 0 && s.sampledTokens == b {
                    decodeSeconds += elapsed
                    decodeCPU += cpu
                    decodeTokens += s.sampledTokens
                    decodeSteps += 1
                }
            }
            let total = Date().timeIntervalSince(start)
            let perSecond = Double(decodeTokens) / decodeSeconds
            let endToEnd = Double(b * newTokens) / total
            let cpuPerStep = 1000 * decodeCPU / Double(decodeSteps)
            // Every decode row goes through the decoder and lm_head.
            let decodeGflops = perSecond * flops.step(rows: 1, logitRows: 1) / 1e9
            print(String(format: "decode batch %2d: %6.2f tokens/s (%.1f ms/step over %d steps, %.1f ms of process CPU per step; %@); end to end with prefill %.2f tokens/s (%.2f s); %d activation rows captured",
                         b, perSecond, 1000 * decodeSeconds / Double(decodeSteps), decodeSteps, cpuPerStep, throughput(decodeGflops), endToEnd, total, sink.rowsSeen))
            decodeRows.append(["batch": Double(b), "tokens_per_s": perSecond, "ms_per_step": 1000 * decodeSeconds / Double(decodeSteps),
                               "cpu_ms_per_step": cpuPerStep, "end_to_end_tokens_per_s": endToEnd, "gflops_per_s": decodeGflops])
        }

        let memory = ProcessStatus.current()
        print("memory: \(memory)")
        print(String(format: "peak RSS / weight bytes as stored: %.3f", Double(memory.peakResident) / Double(model.weights.matrixBytes)))
        if json {
            var object: [String: Any] = [
                "prefill_tokens": prefillTokens, "prefill_s": prefill, "prefill_cpu_s": prefillCPU.min()!, "decode": decodeRows,
                "prefill_gflops_per_s": prefillGflops,
                "peak_rss_bytes": memory.peakResident, "rss_anon_bytes": memory.residentAnonymous, "weight_bytes": model.weights.matrixBytes,
                // A decode step reads every matrix once, but of an untied embedding table only its rows.
                "decode_bytes_per_token": model.weights.matrixBytes - (model.config.tieWordEmbeddings ? 0 : model.weights.embedTokens.byteCount),
                "threads": Kernels.threadCount, "kernels": "\(KernelPath.selected)", "kv_cache": kvCache.rawValue,
            ].merging(parityJSON.map { ["kv_cache_parity": $0] } ?? [:]) { a, _ in a }
            if let fmaPeakGflops { object["fma_peak_gflops"] = fmaPeakGflops }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print("BENCH_JSON " + String(decoding: data, as: UTF8.self))
        }
    }

    /// The bfloat16 cache against the float32 one on this model (see `KVCacheComparison`):
    /// prints the figures and returns them for the JSON line.
    func compareWithFloat32Cache(model: Qwen2Model, hooks: [Hookpoint], prompt: [Int32]) throws -> [String: Any] {
        let layers = model.config.numHiddenLayers
        let saeHookpoints = sae.map { SAECheckpoint.hookpoints(in: $0) } ?? []
        guard let name = parityHookpoint ?? saeHookpoints.first ?? hooks.first?.description else {
            throw ValidationError("--kv-cache bf16 compares a hookpoint's activations: give --parity-hookpoint or --hookpoints (or --parity-tokens 0)")
        }
        let hookpoint = try Hookpoint(parsing: name, layerCount: layers)
        var encoder: SparseAutoencoder?
        if let sae {
            guard saeHookpoints.contains(hookpoint.description) else {
                throw ValidationError("--sae \(sae) has no SAE for \(hookpoint) (it has \(saeHookpoints.joined(separator: ", "))); choose --parity-hookpoint among them")
            }
            encoder = try SparseAutoencoder(checkpoint: sae, hookpoint: hookpoint.description, expectedDIn: model.config.hiddenSize)
        }
        let result = try KVCacheComparison(model: model, hookpoint: hookpoint, sae: encoder).run(prompt: prompt, newTokens: parityTokens)
        let divergence = result.firstDivergence.map { "first diverge at generated token \($0) of \(result.newTokens)" }
            ?? "identical for all \(result.newTokens) generated tokens"
        let topK = result.topKAgreement.map { String(format: "; SAE top-%d agreement %.4f (share of latents shared, mean over the rows)", encoder!.k, $0) } ?? ""
        print(String(format: "KV cache bfloat16 against float32 (greedy, %d-token prompt, %d new tokens): greedy ids %@; %@ over %d positions before any divergence: max abs error %.4g (%.3g of the largest activation %.4g), mean abs error %.4g%@",
                     result.promptTokens, result.newTokens, divergence, hookpoint.description, result.comparedPositions,
                     result.error.maxAbs, result.error.relativeMax, result.error.scale, result.error.meanAbs, topK))
        var figures: [String: Any] = [
            "prompt_tokens": result.promptTokens, "new_tokens": result.newTokens, "hookpoint": hookpoint.description,
            "compared_positions": result.comparedPositions, "max_abs_error": Double(result.error.maxAbs),
            "mean_abs_error": result.error.meanAbs, "reference_scale": Double(result.error.scale),
            "first_divergence": result.firstDivergence ?? -1,
        ]
        if let agreement = result.topKAgreement { figures["topk_agreement"] = agreement }
        return figures
    }
}
