import Foundation

/// `OUT/run-settings.json`: the settings that shape a run's results (fingerprints of model,
/// tokenizer and SAEs, hookpoints, problems, generation, prompt). The first coordinator start
/// with an --out records it; every later start with that --out must ask for the same, so a
/// resumed run is the same experiment. `thinklens merge` writes one for its --out too, naming
/// the merged problems, so every --out has one and no coordinator resumes into a merge.
public enum RunSettingsFile {
    public static let fileName = "run-settings.json"

    /// The file's text: keys sorted, two-space indent, a final newline.
    public static func text(modelFingerprint: String, tokenizerFingerprint: String, saeFingerprints: [String: String],
                            hookpoints: [String], problems: String, generation: JSONValue, prompt: JSONValue,
                            dataset: JSONValue? = nil, interventions: JSONValue? = nil) -> String {
        var members: [String: JSONValue] = [
            "model_fingerprint": .string(modelFingerprint),
            "tokenizer_fingerprint": .string(tokenizerFingerprint),
            "saes": .object(saeFingerprints.mapValues { .string($0) }),
            "hookpoints": .array(hookpoints.map { .string($0) }),
            "problems": .string(problems),
            "generation": generation,
            "prompt": prompt,
        ]
        // Only JSONL prompt sets have one, so a GSM8K run's file is as it always was.
        if let dataset { members["dataset"] = dataset }
        // Only runs with --intervene have conditions.
        if let interventions { members["interventions"] = interventions }
        return JSONValue.object(members).serialized(pretty: true) + "\n"
    }

    /// The settings of a bundle, from its manifest (SAEs by hookpoint name).
    public static func text(for manifest: RunManifest) -> String {
        text(modelFingerprint: manifest.model.fingerprint, tokenizerFingerprint: manifest.tokenizerFingerprint,
             saeFingerprints: manifest.saes.mapValues(\.fingerprint), hookpoints: manifest.hookpoints,
             problems: ProblemIDRanges.ranges(of: manifest.selectedProblemIDs).joined(separator: ","),
             generation: manifest.generation, prompt: manifest.promptFormat, dataset: manifest.dataset)
    }
}
