import Platform
import Experiment
import ArgumentParser
import Compute
import Foundation

/// `thinklens bench interventions`: what feature edits cost. The same problems are generated as
/// a run would: the baseline alone; the baseline and one condition; the baseline and a sweep of
/// four strengths; and (for the per-sequence cost) every problem under the condition alone. Each
/// scenario captures and SAE-encodes the run's hookpoint as a worker does. Prints the times and
/// their ratios to the baseline's, against the issue's goals (2.1× and 5.3×).
struct BenchInterventionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interventions",
        abstract: "Benchmark: generation time with feature edits (baseline + 1 condition, + a 4-strength sweep) against the baseline alone.")

    @Option(help: "Model directory (e.g. written by scripts/make-bench-model.py).")
    var model: String

    @Option(help: "SAE checkpoint directory holding the edited hookpoint (e.g. written by scripts/make-random-sae.py).")
    var sae: String

    @Option(help: "The hookpoint captured and edited (its SAE must be in --sae).")
    var hookpoint: String = "layers.10.mlp"

    @Option(help: "The edited feature.")
    var feature: Int = 0

    @Option(help: "Comma-separated clamp strengths: the first is the one-condition scenario's, all of them the sweep's.")
    var strengths: String = "2,4,8,16"

    @Option(help: "Problems (distinct prompts) per scenario.")
    var problems: Int = 8

    @Option(help: "Sequences decoded together (the worker's batch slots).")
    var slots: Int = 8

    @Option(help: "Prompt length of each problem.")
    var promptTokens: Int = 16

    @Option(help: "Tokens generated per sequence (eos is ignored so every sequence runs to it).")
    var newTokens: Int = 32

    @Option(help: "Timed runs of each scenario; the fastest counts (the box's other work only ever adds time).")
    var repeats: Int = 2

    @Option(help: "Kernel threads.")
    var threads: Int = 2

    @Flag(help: "Also print one machine-readable line starting with BENCH_JSON.")
    var json = false

    /// Stands in for the worker's LatentStreamer: encodes captured rows with the SAE in blocks of 64.
    final class EncodingSink: ActivationSink {
        let sae: SparseAutoencoder
        var pending: [Float] = []
        var rows = 0
        var encodedRows = 0
        init(sae: SparseAutoencoder) { self.sae = sae }
        func receive(hookpoint: Hookpoint, rows batch: UnsafeBufferPointer<ActivationRow>, values: UnsafeBufferPointer<Float>, width: Int) {
            pending.append(contentsOf: values)
            rows += batch.count
            if rows >= 64 { flush() }
        }
        func flush() {
            guard rows > 0 else { return }
            _ = sae.encode(pending, rows: rows)
            encodedRows += rows
            pending.removeAll(keepingCapacity: true)
            rows = 0
        }
    }

    func run() throws {
        Kernels.threadCount = threads
        let model = try Qwen2Model(directory: self.model)
        let config = model.config
        let capture = try Hookpoint(parsing: hookpoint, layerCount: config.numHiddenLayers)
        let saeModel = try SparseAutoencoder(checkpoint: sae, hookpoint: hookpoint, expectedDIn: config.hiddenSize)
        let values = try strengths.split(separator: ",").map { piece -> Float in
            guard let v = Float(piece), v.isFinite else { throw ValidationError("--strengths: '\(piece)' is not a finite number") }
            return v
        }
        guard !values.isEmpty, problems >= 1, slots >= 1 else { throw ValidationError("--strengths, --problems and --slots must be non-empty / positive") }
        let conditions: [[BoundFeatureEdit]] = try values.map { value in
            let edit = FeatureEdit(hookpoint: hookpoint, feature: feature, operation: .clamp(value))
            do {
                return try BoundFeatureEdit.bind([edit], layerCount: config.numHiddenLayers, hiddenSize: config.hiddenSize,
                                                 saes: [hookpoint: saeModel], saeSource: "--sae \(sae)")
            } catch { throw ValidationError("\(error)") }
        }
        let sampling = SamplingParameters(temperature: 0.6, topK: 50, topP: 0.95)
        print("model \(self.model): \(config.numHiddenLayers) layers, hidden \(config.hiddenSize), \(String(format: "%.2f", Double(model.weights.matrixBytes) / 1e9)) GB of \(model.weights.embedTokens.dtype.rawValue) matrices")
        print("SAE \(hookpoint): \(saeModel.numLatents) latents, k \(saeModel.k), \(saeModel.weightDType.rawValue); edit \(hookpoint):\(feature):clamp=V, V in \(values); \(problems) problems, \(slots) slots, \(promptTokens) prompt + \(newTokens) new tokens, \(Kernels.threadCount) threads, kernels \(KernelPath.selected)")

        func prompt(_ problem: Int) -> [Int32] {
            var state = UInt64(problem) &* 0x9E37_79B9_7F4A_7C15 &+ 1
            return (0..<promptTokens).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Int32(truncatingIfNeeded: (state >> 33) % UInt64(min(config.vocabSize, 150_000)))
            }
        }

        /// Every problem under each of `conditionSets` (nil: the baseline), problem-major as a
        /// run's tasks come; returns the wall time and the process's CPU time.
        func scenario(_ conditionSets: [[BoundFeatureEdit]], problems: Int = problems, newTokens: Int = newTokens) throws -> (wall: Double, cpu: Double) {
            let sink = EncodingSink(sae: saeModel)
            let generator = Generator(model: model, slots: slots, contextCapacity: promptTokens + newTokens,
                                      prefillChunk: promptTokens, hookpoints: [capture], sink: sink)
            var id = 0
            for problem in 0..<problems {
                for edits in conditionSets {
                    try generator.submit(GenerationRequest(id: id, promptTokens: prompt(problem), maxNewTokens: newTokens, sampling: sampling,
                                                           random: SequenceRandom(runSeed: 0, problemID: "bench-\(problem)"), stopTokens: [], edits: edits))
                    id += 1
                }
            }
            let start = MonotonicClock.now(), cpuStart = ProcessStatus.cpuSeconds()
            _ = generator.run()
            sink.flush()
            return (MonotonicClock.now() - start, ProcessStatus.cpuSeconds() - cpuStart)
        }

        // Warm-up: touches the weights and the SAE once.
        _ = try scenario([conditions[0]], problems: 1, newTokens: 2)
        // Scenarios interleaved within each repeat, so slow spells of the box spread over all of them.
        var times = [[Double]](repeating: [], count: 4), cpu = times
        for _ in 0..<max(1, repeats) {
            for (i, sets) in [[[]], [[], conditions[0]], [[]] + conditions, [conditions[0]]].enumerated() {
                let (wall, used) = try scenario(sets)
                times[i].append(wall)
                cpu[i].append(used)
            }
        }
        let (base, one, sweep, editedAlone) = (times[0].min()!, times[1].min()!, times[2].min()!, times[3].min()!)
        let baseCPU = cpu[0].min()!
        // On a busy machine wall time swings with the neighbours; the process's CPU time less so.
        func line(_ label: String, _ scenario: Int, goal: Double?) {
            let ratio = times[scenario].min()! / base, cpuRatio = cpu[scenario].min()! / baseCPU
            let verdict = goal.map { "  (goal <= \($0)x: wall \(ratio <= $0 ? "met" : "NOT met"), CPU \(cpuRatio <= $0 ? "met" : "NOT met"))" } ?? ""
            let padded = label.padding(toLength: max(48, label.count), withPad: " ", startingAt: 0)
            print(padded + String(format: "%8.2f s wall %5.2fx   %8.2f s CPU %5.2fx", times[scenario].min()!, ratio, cpu[scenario].min()!, cpuRatio) + verdict)
        }
        for (label, trials) in zip(["baseline", "baseline + 1", "baseline + sweep", "1 condition alone"], zip(times, cpu)) {
            print("\(label) trials (wall/CPU s): " + zip(trials.0, trials.1).map { String(format: "%.2f/%.2f", $0, $1) }.joined(separator: ", "))
        }
        line("baseline alone", 0, goal: nil)
        line("baseline + 1 condition", 1, goal: 2.1)
        line("baseline + \(values.count)-strength sweep", 2, goal: values.count == 4 ? 5.3 : nil)
        line("1 condition alone (cost of an edited sequence)", 3, goal: 1.1)
        if json {
            let object: [String: Any] = [
                "baseline_s": base, "trials_s": times, "trials_cpu_s": cpu, "one_condition_s": one, "sweep_s": sweep,
                "one_condition_cpu_ratio": cpu[1].min()! / baseCPU, "sweep_cpu_ratio": cpu[2].min()! / baseCPU, "edited_alone_cpu_ratio": cpu[3].min()! / baseCPU,
                "sweep_conditions": values.count, "edited_alone_s": editedAlone,
                "one_condition_ratio": one / base, "sweep_ratio": sweep / base, "edited_alone_ratio": editedAlone / base,
                "problems": problems, "slots": slots, "prompt_tokens": promptTokens, "new_tokens": newTokens,
                "threads": Kernels.threadCount, "latents": saeModel.numLatents,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print("BENCH_JSON " + String(decoding: data, as: UTF8.self))
        }
    }
}
