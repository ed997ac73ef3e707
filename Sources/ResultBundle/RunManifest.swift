import Foundation

/// What identifies a run, supplied by the coordinator when it writes the bundle. The
/// bundle writer adds what it computes (counts, FVU per hookpoint, the canonical problem
/// selection) and writes `manifest.json` with sorted keys. Two bundles can be merged only
/// when everything that shapes the results here is equal (see `mergeBlockers`).
public struct RunManifest: Sendable, Equatable {
    public struct Model: Sendable, Equatable {
        /// The model's config.json as loaded.
        public var config: JSONValue
        public var fingerprint: String
        public init(config: JSONValue, fingerprint: String) {
            self.config = config
            self.fingerprint = fingerprint
        }
    }

    public struct SAE: Sendable, Equatable {
        /// The SAE's cfg.json as loaded.
        public var cfg: JSONValue
        public var fingerprint: String
        public init(cfg: JSONValue, fingerprint: String) {
            self.cfg = cfg
            self.fingerprint = fingerprint
        }
    }

    public struct FailedProblem: Sendable, Equatable {
        public var id: String
        /// One reason per failed attempt. Keep them free of host names and times:
        /// the manifest must not depend on which worker ran what.
        public var reasons: [String]
        public init(id: String, reasons: [String]) {
            self.id = id
            self.reasons = reasons
        }
    }

    public var thinklensVersion: String
    public var model: Model
    public var tokenizerFingerprint: String
    /// Keyed by hookpoint (as in `hookpoints`).
    public var saes: [String: SAE]
    /// e.g. {"max_new_tokens": 400, "temperature": 0.6, "top_p": 0.95, "top_k": 0, "seed": 0, "include_prompt": false}
    public var generation: JSONValue
    /// The chat template or prompt text wrapped around each question.
    public var promptFormat: JSONValue
    /// Every problem the run was asked to do (committed, failed or not reached), as ids
    /// "dataset:split:index". Written as canonical ranges, e.g. "gsm8k:train[0:32]".
    public var selectedProblemIDs: [String]
    /// In the order given on the command line; latents/<hookpoint>.safetensors per entry.
    public var hookpoints: [String]
    public var failed: [FailedProblem]
    /// A JSONL prompt set's name, file checksum and fields ({"name", "sha256", "question_field",
    /// "answer_field", "id_field"}); nil for GSM8K, and then absent from manifest.json.
    public var dataset: JSONValue?
    /// The cross-checks of a run with `--verify-fraction` (absent otherwise, so the manifest of
    /// a run without it is unchanged). Not read back: `merge` does not carry them.
    public var verification: JSONValue?
    /// For the bundle of an `--intervene` condition (OUT/interventions/<name>/): its name and
    /// edits. Absent from the baseline's and from a run without conditions.
    public var intervention: JSONValue?

    public init(thinklensVersion: String, model: Model, tokenizerFingerprint: String, saes: [String: SAE],
                generation: JSONValue, promptFormat: JSONValue, selectedProblemIDs: [String],
                hookpoints: [String], failed: [FailedProblem], dataset: JSONValue? = nil, verification: JSONValue? = nil,
                intervention: JSONValue? = nil) {
        self.thinklensVersion = thinklensVersion
        self.model = model
        self.tokenizerFingerprint = tokenizerFingerprint
        self.saes = saes
        self.generation = generation
        self.promptFormat = promptFormat
        self.selectedProblemIDs = selectedProblemIDs
        self.hookpoints = hookpoints
        self.failed = failed
        self.dataset = dataset
        self.verification = verification
        self.intervention = intervention
    }

    /// Why two runs' results cannot be merged; empty when they can.
    public func mergeBlockers(with other: RunManifest) -> [String] {
        var out: [String] = []
        if thinklensVersion != other.thinklensVersion { out.append("ThinkLens version (\(thinklensVersion) vs \(other.thinklensVersion))") }
        if model.fingerprint != other.model.fingerprint { out.append("model weights (fingerprint \(model.fingerprint) vs \(other.model.fingerprint))") }
        if model.config != other.model.config { out.append("model config") }
        if tokenizerFingerprint != other.tokenizerFingerprint { out.append("tokenizer (fingerprint \(tokenizerFingerprint) vs \(other.tokenizerFingerprint))") }
        if hookpoints != other.hookpoints { out.append("hookpoints (\(hookpoints.joined(separator: ",")) vs \(other.hookpoints.joined(separator: ",")))") }
        for name in Set(saes.keys).union(other.saes.keys).sorted() where saes[name] != other.saes[name] {
            out.append("SAE for \(name) (fingerprint \(saes[name]?.fingerprint ?? "absent") vs \(other.saes[name]?.fingerprint ?? "absent"))")
        }
        if generation != other.generation { out.append("generation settings (\(generation.serialized()) vs \(other.generation.serialized()))") }
        if promptFormat != other.promptFormat { out.append("prompt format") }
        if intervention != other.intervention {
            out.append("intervention (\(intervention?.serialized() ?? "none") vs \(other.intervention?.serialized() ?? "none"))")
        }
        if dataset != other.dataset {
            out.append("dataset file (\(dataset?.serialized() ?? "GSM8K") vs \(other.dataset?.serialized() ?? "GSM8K"))")
        }
        return out
    }

    /// The manifest text: this description plus what the bundle writer computed.
    func serialized(counts: JSONValue, fvu: [String: Double?]) -> String {
        var saeObject: [String: JSONValue] = [:]
        for (name, sae) in saes {
            saeObject[name] = .object(["cfg": sae.cfg, "fingerprint": .string(sae.fingerprint)])
        }
        let failedSorted = failed.sorted { ProblemIDRanges.precedes($0.id, $1.id) }
        var members: [String: JSONValue] = [
            "format_version": .int(Int64(BundleLayout.formatVersion)),
            "thinklens_version": .string(thinklensVersion),
            "model": .object(["config": model.config, "fingerprint": .string(model.fingerprint)]),
            "tokenizer": .object(["fingerprint": .string(tokenizerFingerprint)]),
            "saes": .object(saeObject),
            "generation": generation,
            "prompt_format": promptFormat,
            "problem_selection": .array(ProblemIDRanges.ranges(of: selectedProblemIDs).map { .string($0) }),
            "hookpoints": .array(hookpoints.map { .string($0) }),
            "counts": counts,
            "fvu": .object(fvu.mapValues { $0.map { JSONValue.double($0) } ?? .null }),
            "failed_problems": .array(failedSorted.map {
                .object(["id": .string($0.id), "reasons": .array($0.reasons.map { .string($0) })])
            }),
        ]
        if let dataset { members["dataset"] = dataset }
        if let verification { members["verification"] = verification }
        if let intervention { members["intervention"] = intervention }
        return JSONValue.object(members).serialized(pretty: true) + "\n"
    }

    /// Reads the description back from a bundle's manifest.json (computed fields are ignored:
    /// they are recomputed from the data).
    public static func read(bundle: String) throws -> RunManifest {
        let path = (bundle as NSString).appendingPathComponent(BundleLayout.manifestFile)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunDataError(subject: path, reason: "cannot read; is \(bundle) a ThinkLens result bundle?")
        }
        let root = try JSONValue.parse(data, source: path)
        func field(_ key: String) throws -> JSONValue {
            guard let v = root[key] else { throw RunDataError(subject: path, reason: "missing field '\(key)'") }
            return v
        }
        func string(_ v: JSONValue?, _ key: String) throws -> String {
            guard let s = v?.stringValue else { throw RunDataError(subject: path, reason: "field '\(key)' is missing or not a string") }
            return s
        }
        guard let version = try field("format_version").intValue, version == BundleLayout.formatVersion else {
            throw RunDataError(subject: path, reason: "format_version is \(root["format_version"]?.serialized() ?? "absent"); this ThinkLens reads version \(BundleLayout.formatVersion)")
        }
        let model = try field("model")
        var saes: [String: SAE] = [:]
        guard case .object(let saeMembers) = try field("saes") else { throw RunDataError(subject: path, reason: "field 'saes' is not an object") }
        for (name, value) in saeMembers {
            saes[name] = SAE(cfg: value["cfg"] ?? .null, fingerprint: try string(value["fingerprint"], "saes.\(name).fingerprint"))
        }
        guard let selection = try field("problem_selection").arrayValue, let hookpoints = try field("hookpoints").arrayValue,
              let failedItems = try field("failed_problems").arrayValue else {
            throw RunDataError(subject: path, reason: "problem_selection, hookpoints and failed_problems must be arrays")
        }
        var selected: [String] = []
        for item in selection {
            selected += ProblemIDRanges.expand(try string(item, "problem_selection"))
        }
        let failed = try failedItems.map { item in
            FailedProblem(id: try string(item["id"], "failed_problems.id"),
                          reasons: try (item["reasons"]?.arrayValue ?? []).map { try string($0, "failed_problems.reasons") })
        }
        return RunManifest(
            thinklensVersion: try string(root["thinklens_version"], "thinklens_version"),
            model: Model(config: model["config"] ?? .null, fingerprint: try string(model["fingerprint"], "model.fingerprint")),
            tokenizerFingerprint: try string(root["tokenizer"]?["fingerprint"], "tokenizer.fingerprint"),
            saes: saes,
            generation: try field("generation"),
            promptFormat: try field("prompt_format"),
            selectedProblemIDs: selected,
            hookpoints: try hookpoints.map { try string($0, "hookpoints") },
            failed: failed,
            dataset: root["dataset"],
            intervention: root["intervention"])
    }
}
