import Foundation
import ResultBundle
import Tokenizer

/// The settings that shape a run's results, recorded by its first start in
/// `OUT/run-settings.json`: a restarted coordinator must run the same experiment, so later starts
/// with the same --out must match them. The same JSON pieces go into the bundle's manifest.
enum RunSettings {
    static let file = "run-settings.json"

    static func checkOrRecord(_ c: CoordinatorConfiguration) throws {
        let settings = JSONValue.object([
            "model_fingerprint": .string(c.model.fingerprint),
            "tokenizer_fingerprint": .string(c.tokenizer.fingerprint),
            "saes": .object(c.saes.mapValues { .string($0.fingerprint) }),
            "hookpoints": .array(c.hookpoints.map { .string($0.name) }),
            "problems": .string(c.selectionText),
            "generation": generationJSON(c),
            "prompt": promptJSON(c.prompt),
        ]).serialized(pretty: true) + "\n"
        let path = (c.outDirectory as NSString).appendingPathComponent(file)
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            guard existing == settings else {
                throw CoordinatorError("\(path) records a run with different settings (model, SAEs, hookpoints, problems, generation or prompt); resume with the original settings or choose another --out.\nrecorded:\n\(existing)\nrequested:\n\(settings)")
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
        return .object([
            "max_new_tokens": .int(Int64(c.generation.maxNewTokens)),
            // Via the shortest decimal text, so 0.6 is written as 0.6, not 0.6000000238418579.
            "temperature": .double(Double("\(sampling.temperature)") ?? 0),
            "top_p": .double(sampling.topP),
            "top_k": .int(Int64(sampling.topK)),
            "seed": .int(Int64(bitPattern: c.generation.seed)),
            "include_prompt": .bool(c.includePrompt),
        ])
    }

    static func promptJSON(_ p: ChatPrompt) -> JSONValue {
        .object([
            "template": .string(p.text(for: "{question}")),
            "suffix": .string(p.suffix),
            "think_prefix": .bool(p.thinkPrefix),
        ])
    }
}
