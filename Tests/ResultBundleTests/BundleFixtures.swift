import Experiment
import Foundation
@testable import ResultBundle

/// Small deterministic runs for the bundle, journal and merge tests.
enum BundleFixtures {
    static let hookpoints = ["layers.5.mlp", "layers.10.mlp"]


    /// Problem `index` of a fake split: prompt of 5 tokens, 6–13 generated tokens, k = 4 latents
    /// per row over 40 features (some activations zero), FVU per hookpoint.
    static func task(index: Int, split: String = "train", includePrompt: Bool = false) -> CommittedTask {
        var g = SplitMix64(seed: UInt64(index) &* 7919 &+ (split == "train" ? 1 : 2))
        let prompt: [Int32] = (0..<5).map { _ in Int32(g.below(30)) }
        let generated: [Int32] = (0..<(6 + g.below(8))).map { _ in Int32(g.below(30)) }
        let thinkEnd: Int? = g.below(4) == 0 ? nil : prompt.count + g.below(generated.count)
        let verdicts: [Verdict] = [.correct, .wrong, .none]
        let record = ProblemRecord(
            id: "gsm8k:\(split):\(index)", split: split, index: index,
            question: "Question \(index): \"how many\"?\nSay, \\ ünïcode", gold: index % 5 == 0 ? nil : "\(index * 3)",
            promptIDs: prompt, generatedIDs: generated, text: "text of \(index)",
            stop: index % 2 == 0 ? .eos : .length, answer: index % 3 == 0 ? nil : "\(index)",
            verdict: verdicts[index % 3], thinkEnd: thinkEnd)
        var latents: [String: LatentRows] = [:]
        var fvu: [String: Double] = [:]
        for (h, name) in hookpoints.enumerated() {
            let k = 4
            let first = includePrompt ? 0 : prompt.count
            let positions = (first..<record.sequenceLength).map { Int32($0) }
            var indices: [Int32] = []
            var acts: [Float] = []
            for _ in positions {
                var features = Set<Int32>()
                while features.count < k { features.insert(Int32(g.below(40) + h)) }
                let row = features.sorted()
                var values = (0..<k).map { _ in Float(g.below(1000)) / 64 }
                if g.below(3) == 0 { values[g.below(k)] = 0 }
                values.sort(by: >)
                indices += row
                acts += values
            }
            latents[name] = LatentRows(k: k, positions: positions, tokens: positions.map { record.token(at: Int($0)) },
                                       indices: indices, activations: acts, record: record)
            fvu[name] = Double(g.below(1000)) / 997
        }
        return CommittedTask(record: record, latents: latents, fvu: fvu)
    }

    static func manifest(selected: [String], hookpoints: [String] = hookpoints, failed: [RunManifest.FailedProblem] = [],
                         modelFingerprint: String = "model-abc", temperature: Double = 0.6) -> RunManifest {
        var saes: [String: RunManifest.SAE] = [:]
        for h in hookpoints {
            saes[h] = RunManifest.SAE(cfg: .object(["k": .int(4), "num_latents": .int(64), "hookpoint": .string(h)]), fingerprint: "sae-\(h)")
        }
        return RunManifest(
            thinklensVersion: "0.1.0",
            model: .init(config: .object(["hidden_size": .int(16), "rms_norm_eps": .double(1e-6)]), fingerprint: modelFingerprint),
            tokenizerFingerprint: "tok-1", saes: saes,
            generation: .object(["max_new_tokens": .int(16), "temperature": .double(temperature), "top_p": .double(0.95), "seed": .int(0), "include_prompt": .bool(false)]),
            promptFormat: .string("<｜User｜>{question}<｜Assistant｜><think>\n"),
            selectedProblemIDs: selected, hookpoints: hookpoints, failed: failed)
    }

    struct Decoder: TokenTextDecoding {
        func tokenText(_ id: Int32) -> String {
            id % 7 == 0 ? "t\(id),\"q\"\n" : "t\(id)"
        }
    }

    /// Every file of a bundle except run.json and the journal, by relative path.
    static func bundleFiles(_ directory: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: directory) else { return out }
        for case let relative as String in walker {
            // run-settings.json records how the run was asked for (a merge's names the merged
            // problems), not what it computed: compared within one run only, like run.json.
            if relative.hasPrefix(BundleLayout.journalDirectory) || relative == BundleLayout.runFile
                || relative == RunSettingsFile.fileName { continue }
            var isDirectory: ObjCBool = false
            let full = (directory as NSString).appendingPathComponent(relative)
            if fm.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                out[relative] = try Data(contentsOf: URL(fileURLWithPath: full))
            }
        }
        return out
    }

    static func ids(_ range: Range<Int>, split: String = "train") -> [String] { range.map { "gsm8k:\(split):\($0)" } }

    /// A run: commit `tasks` in the given order into `out` (an empty directory) and write its bundle there.
    static func runBundle(_ tasks: [CommittedTask], selected: [String], failed: [RunManifest.FailedProblem] = [],
                          run: JSONValue = .object(["note": .string("test")]), out: String) throws -> String {
        let store = try RunStore(outDirectory: out)
        for task in tasks { _ = try store.commit(task) }
        try store.writeBundle(manifest: manifest(selected: selected, failed: failed), run: run, decoder: BundleFixtures.Decoder())
        return out
    }
}
