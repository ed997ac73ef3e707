import ResultBundle
import Experiment
import Foundation

/// The shape of a synthetic result bundle.
public struct SyntheticBundleSpec: Sendable, Equatable {
    public var problems: Int
    /// Generated tokens per problem vary uniformly within ±25% of this.
    public var meanGeneratedTokens: Int
    public var promptTokens: Int
    public var k: Int
    public var latents: Int
    public var hookpoints: [String]
    public var seed: UInt64

    public init(problems: Int = 32, meanGeneratedTokens: Int = 60, promptTokens: Int = 24, k: Int = 8, latents: Int = 512,
                hookpoints: [String] = ["layers.5.mlp", "layers.10.mlp"], seed: UInt64 = 1) {
        self.problems = problems
        self.meanGeneratedTokens = meanGeneratedTokens
        self.promptTokens = promptTokens
        self.k = k
        self.latents = latents
        self.hookpoints = hookpoints
        self.seed = seed
    }

    /// The benchmark's full size: all 7,473 GSM8K train problems, ~300 generated tokens,
    /// k = 32 of 65,536 latents at the study's three hookpoints.
    public static func gsm8kTrain(fraction: Double = 1, meanGeneratedTokens: Int = 300) -> SyntheticBundleSpec {
        SyntheticBundleSpec(problems: max(1, Int((7_473 * fraction).rounded())), meanGeneratedTokens: meanGeneratedTokens, promptTokens: 80, k: 32,
                            latents: 65_536, hookpoints: ["layers.5.mlp", "layers.10.mlp", "layers.20.mlp"], seed: 7)
    }
}

/// Real-format bundles from made-up runs, for tests and benchmarks: tasks are committed
/// through `RunStore` and written by `BundleWriter`, so every file is what a real run writes.
/// Deterministic in the spec. The made-up latents have structure the report should show:
/// a heavy-tailed feature frequency, features specific to each problem, features that favour
/// correct or wrong answers, and feature-specific activation scales.
public enum SyntheticBundle {
    /// `</think>` in the DeepSeek-R1-Distill vocabulary.
    public static let thinkEndToken: Int32 = 151_649
    static let vocabulary = 4_000

    /// Token texts that exercise escaping and visibility: spaces, newlines, tabs, markup
    /// characters, quotes, control characters and U+FFFD.
    public struct Decoder: TokenTextDecoding, Sendable {
        public init() {}

        public func tokenText(_ id: Int32) -> String {
            switch id {
            case SyntheticBundle.thinkEndToken: return "</think>"
            case 220: return " "
            case 198: return "\n"
            case 197: return "\t"
            case 271: return "\n\n"
            case 0: return "!"
            case 1: return "\""
            default:
                if id % 97 == 3 { return "<b>&amp;" }
                if id % 89 == 5 { return "\u{01}x\u{7F}" }
                if id % 83 == 7 { return "\u{FFFD}" }
                if id % 79 == 2 { return " 'q' & \"dq\"" }
                return id % 2 == 0 ? " w\(id)" : "w\(id)"
            }
        }
    }


    /// The task of problem `index`.
    public static func task(_ spec: SyntheticBundleSpec, index: Int) -> CommittedTask {
        var g = SplitMix64(seed: spec.seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(index) &* 7919)
        let decoder = Decoder()
        func token() -> Int32 {
            let u = g.unit()
            let specials: [Int32] = [220, 198, 197, 271, 0, 1]
            if u < 0.12 { return specials[g.below(specials.count)] }
            return Int32(Double(vocabulary) * g.unit() * g.unit())
        }
        let prompt = (0..<spec.promptTokens).map { _ in token() }
        let length = max(4, Int(Double(spec.meanGeneratedTokens) * (0.75 + 0.5 * g.unit())))
        var generated = (0..<length).map { _ in token() }
        let hasThinkEnd = g.unit() < 0.92
        var thinkEnd: Int? = nil
        if hasThinkEnd {
            let at = min(length - 2, Int(Double(length) * (0.6 + 0.25 * g.unit())))
            generated[at] = thinkEndToken
            thinkEnd = prompt.count + at
        }
        for i in generated.indices where generated[i] == thinkEndToken && prompt.count + i != thinkEnd { generated[i] = 220 }
        let u = g.unit()
        let verdict: Verdict = u < 0.55 ? .correct : (u < 0.9 ? .wrong : .none)
        let gold = String(index * 7 % 1000)
        let answer: String? = verdict == .none ? nil : (verdict == .correct ? gold : String(index * 7 % 1000 + 1))
        let record = ProblemRecord(
            id: "gsm8k:train:\(index)", split: "train", index: index,
            question: "Synthetic problem \(index): Tom has <\(index % 9 + 2)> apples & \"some\" pears.\nHow many?",
            gold: gold, promptIDs: prompt, generatedIDs: generated,
            text: generated.map { decoder.tokenText($0) }.joined(), stop: hasThinkEnd ? .eos : .length,
            answer: answer, verdict: verdict, thinkEnd: thinkEnd)

        let latents = spec.latents
        let themes = (0..<5).map { _ in g.below(min(latents, 400)) }
        let leaning = verdict == .correct ? [3, 5, 8] : (verdict == .wrong ? [4, 6, 9] : [])
        var rowsByHookpoint: [String: LatentRows] = [:]
        var fvu: [String: Double] = [:]
        for (h, name) in spec.hookpoints.enumerated() {
            let positions = (prompt.count..<record.sequenceLength).map { Int32($0) }
            var indices: [Int32] = []
            var acts: [Float] = []
            indices.reserveCapacity(positions.count * spec.k)
            acts.reserveCapacity(positions.count * spec.k)
            var row: [(Int32, Float)] = []
            for p in positions {
                row.removeAll(keepingCapacity: true)
                let nearEnd = thinkEnd.map { Int(p) >= $0 } ?? false
                while row.count < spec.k {
                    let v = g.unit()
                    var f: Int
                    if v < 0.2 { f = themes[g.below(themes.count)] }
                    else if v < 0.27, !leaning.isEmpty { f = leaning[g.below(leaning.count)] }
                    else if v < 0.3, nearEnd { f = 11 + h }
                    else { f = Int(Double(latents) * Foundation.pow(g.unit(), 3)) }
                    f = (f &* 7919 &+ h &* 31) % latents
                    if row.contains(where: { $0.0 == Int32(f) }) { continue }
                    let scale = 0.5 + 4 * (Double(f) * 0.618_033_988_7).truncatingRemainder(dividingBy: 1)
                    row.append((Int32(f), Float(scale * (0.1 - Foundation.log(1 - g.unit() * 0.999)))))
                }
                row.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
                if g.below(50) == 0 { row[spec.k - 1].1 = 0 }
                for (f, a) in row { indices.append(f); acts.append(a) }
            }
            rowsByHookpoint[name] = LatentRows(k: spec.k, positions: positions, tokens: positions.map { record.token(at: Int($0)) },
                                               indices: indices, activations: acts, record: record)
            fvu[name] = 0.05 + 0.1 * Double(h) + 0.05 * g.unit()
        }
        return CommittedTask(record: record, latents: rowsByHookpoint, fvu: fvu)
    }

    public static func manifest(_ spec: SyntheticBundleSpec) -> RunManifest {
        var saes: [String: RunManifest.SAE] = [:]
        for h in spec.hookpoints {
            saes[h] = RunManifest.SAE(cfg: .object(["k": .int(Int64(spec.k)), "num_latents": .int(Int64(spec.latents)), "hookpoint": .string(h)]),
                                      fingerprint: "synthetic-sae-\(h)")
        }
        return RunManifest(
            thinklensVersion: "synthetic",
            model: .init(config: .object(["model_type": .string("qwen2"), "hidden_size": .int(1536), "num_hidden_layers": .int(28)]),
                         fingerprint: "synthetic-model"),
            tokenizerFingerprint: "synthetic-tokenizer", saes: saes,
            generation: .object(["max_new_tokens": .int(400), "temperature": .double(0.6), "top_p": .double(0.95), "top_k": .int(0),
                                 "seed": .int(0), "include_prompt": .bool(false)]),
            promptFormat: .string("<｜User｜>{question}<｜Assistant｜><think>\n"),
            selectedProblemIDs: (0..<spec.problems).map { "gsm8k:train:\($0)" }, hookpoints: spec.hookpoints, failed: [])
    }

    /// Writes the bundle into `directory` (which must not hold another run). The journal the
    /// run store keeps is removed afterwards unless `keepJournal`, halving the disk used.
    @discardableResult
    public static func write(_ spec: SyntheticBundleSpec, to directory: String, keepJournal: Bool = false) throws -> BundleSummary {
        let store = try RunStore(outDirectory: directory)
        var batch: [CommittedTask] = []
        for index in 0..<spec.problems where !store.committedIDs.contains("gsm8k:train:\(index)") {
            batch.append(task(spec, index: index))
            if batch.count == 64 {
                _ = try store.commit(batch)
                batch.removeAll()
            }
        }
        if !batch.isEmpty { _ = try store.commit(batch) }
        let run: JSONValue = .object([
            "note": .string("synthetic bundle for tests and benchmarks"),
            "workers": .array([.object(["host": .string("synthetic"), "tasks": .int(Int64(spec.problems)), "tokens_per_second": .double(123.5)])]),
        ])
        let summary = try store.writeBundle(manifest: manifest(spec), run: run, decoder: Decoder())
        if !keepJournal {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(BundleLayout.journalDirectory))
        }
        return summary
    }
}
