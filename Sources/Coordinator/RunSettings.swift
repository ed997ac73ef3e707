import Experiment
import Foundation
import ResultBundle
import Tokenizer

/// The coordinator's side of `OUT/run-settings.json` (see `RunSettingsFile`): recorded by the
/// first start, matched by every later one. Its generation and prompt pieces go into the
/// bundle's manifest too.
enum RunSettings {
    static let file = RunSettingsFile.fileName

    static func checkOrRecord(_ c: CoordinatorConfiguration) throws {
        let settings = RunSettingsFile.text(
            modelFingerprint: c.model.fingerprint, tokenizerFingerprint: c.tokenizer.fingerprint,
            saeFingerprints: c.saes.mapValues(\.fingerprint), hookpoints: c.hookpoints.map(\.name),
            problems: c.selectionText, generation: generationJSON(c), prompt: promptJSON(c.prompt), dataset: c.dataset,
            interventions: interventionsJSON(c))
        let path = (c.outDirectory as NSString).appendingPathComponent(file)
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            guard existing == settings else {
                throw CoordinatorError("\(path) records a run with different settings (model, SAEs, hookpoints, problems, dataset file, generation, prompt or --intervene conditions); resume with the original settings or choose another --out.\nrecorded:\n\(existing)\nrequested:\n\(settings)")
            }
            return
        }
        do {
            try settings.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw CoordinatorError("cannot write \(path): \(error.localizedDescription); check that --out is writable and the disk is not full")
        }
    }

    static func generationJSON(_ c: CoordinatorConfiguration) -> JSONValue {
        let sampling = c.generation.sampling
        var members: [String: JSONValue] = [
            "max_new_tokens": .int(Int64(c.generation.maxNewTokens)),
            // Via the shortest decimal text, so 0.6 is written as 0.6, not 0.6000000238418579.
            "temperature": .double(Double("\(sampling.temperature)") ?? 0),
            "top_p": .double(sampling.topP),
            "top_k": .int(Int64(sampling.topK)),
            "seed": .int(Int64(bitPattern: c.generation.seed)),
            "include_prompt": .bool(c.includePrompt),
        ]
        // Only when not the default, so a run without --kv-cache records what it always did.
        if c.kvCache != .standard { members["kv_cache"] = .string(c.kvCache.rawValue) }
        return .object(members)
    }

    /// The `--intervene` conditions and `--intervention-latents`, for run-settings.json; nil
    /// without conditions, so a run without them records what it always did.
    static func interventionsJSON(_ c: CoordinatorConfiguration) -> JSONValue? {
        guard !c.conditions.isEmpty else { return nil }
        return .object([
            "conditions": .array(c.conditions.map(conditionJSON)),
            "latents": .string(c.interventionLatents ? "all" : "none"),
        ])
    }

    /// A condition as conditions.json and its bundle's manifest show it: its name and its edits,
    /// both as written ("layers.10.mlp:6252:clamp=8") and parsed.
    static func conditionJSON(_ condition: InterventionCondition) -> JSONValue {
        .object([
            "name": .string(condition.name),
            "edits": .array(condition.edits.map { edit in
                var members: [String: JSONValue] = [
                    "text": .string(edit.description), "hookpoint": .string(edit.hookpoint),
                    "feature": .int(Int64(edit.feature)), "operation": .string(edit.operation.name),
                    "generated_only": .bool(edit.generatedOnly),
                ]
                if let value = edit.operation.value { members["value"] = .double(Double("\(value)") ?? Double(value)) }
                return .object(members)
            }),
        ])
    }

    static func promptJSON(_ p: ChatPrompt) -> JSONValue {
        if let template = p.template {
            // --prompt-template: the file's text and checksum; suffix and <think> do not apply.
            var digest = SHA256()
            digest.update(template)
            return .object(["template": .string(template), "template_sha256": .string(digest.hexDigest())])
        }
        return .object([
            "template": .string(p.text(for: "{question}")),
            "suffix": .string(p.suffix),
            "think_prefix": .bool(p.thinkPrefix),
        ])
    }
}
