import Foundation
import Platform
import SafeTensors

/// Several bundles as one source: the union of their problems. A problem present in more
/// than one bundle must be identical in all of them.
public final class MergedTaskSource: CommittedTaskSource {
    public let sources: [BundleReader]
    public private(set) var taskSummaries: [TaskSummary] = []
    private var location: [(source: Int, index: Int)] = []

    public init(_ sources: [BundleReader]) throws {
        self.sources = sources
        var firstSeen: [String: Int] = [:]
        for (s, source) in sources.enumerated() {
            for (i, summary) in source.taskSummaries.enumerated() {
                if let existing = firstSeen[summary.id] {
                    let a = location[existing]
                    let mine = try source.task(i)
                    let theirs = try sources[a.source].task(a.index)
                    guard mine == theirs else {
                        throw RunDataError(subject: "problem \(summary.id)", reason: "differs between \(sources[a.source].directory) and \(source.directory) (\(Self.firstDifference(theirs, mine))); the runs are not the same experiment, so they cannot be merged")
                    }
                    continue
                }
                firstSeen[summary.id] = taskSummaries.count
                taskSummaries.append(summary)
                location.append((s, i))
            }
        }
    }

    static func firstDifference(_ a: CommittedTask, _ b: CommittedTask) -> String {
        if a.record != b.record { return a.record.generatedIDs != b.record.generatedIDs ? "generated tokens" : "problem record" }
        if a.fvu != b.fvu { return "FVU" }
        return "latents"
    }

    public func task(_ i: Int) throws -> CommittedTask {
        try sources[location[i].source].task(location[i].index)
    }
}

/// `thinklens merge`: combines bundles of runs with the same model, tokenizer, SAEs and
/// generation settings into one bundle, byte-identical (except run.json) to a single run
/// over the union of their problems.
public enum BundleMerger {
    @discardableResult
    public static func merge(bundles: [String], to out: String) throws -> BundleSummary {
        guard !bundles.isEmpty else { throw RunDataError(subject: "merge", reason: "no bundles given") }
        let outURL = URL(fileURLWithPath: out).standardizedFileURL
        for b in bundles where URL(fileURLWithPath: b).standardizedFileURL == outURL {
            throw RunDataError(subject: out, reason: "is also an input bundle; choose a new --out directory")
        }
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: out), !existing.isEmpty {
            throw RunDataError(subject: out, reason: "already exists and is not empty; choose a new --out directory or delete it")
        }
        // --intervene runs merge condition by condition; all must have run the same conditions.
        let conditionFiles = bundles.map { FileManager.default.contents(atPath: (InterventionLayout.root(in: $0) as NSString).appendingPathComponent(InterventionLayout.conditionsFile)) }
        for (bundle, file) in zip(bundles, conditionFiles).dropFirst() where file != conditionFiles[0] {
            throw RunDataError(subject: bundle, reason: "cannot be merged with \(bundles[0]): they ran different --intervene conditions (\(InterventionLayout.directoryName)/\(InterventionLayout.conditionsFile) differs or is missing in one)")
        }
        let conditions = try InterventionLayout.conditionNames(in: bundles[0]) ?? []
        let readers = try bundles.map { try BundleReader(directory: $0) }
        let first = readers[0]
        for reader in readers.dropFirst() {
            let blockers = first.manifest.mergeBlockers(with: reader.manifest)
            guard blockers.isEmpty else {
                throw RunDataError(subject: reader.directory, reason: "cannot be merged with \(first.directory): they differ in \(blockers.joined(separator: "; "))")
            }
        }
        var texts: [Int32: String] = [:]
        for reader in readers {
            for (id, text) in reader.tokenTexts {
                if let known = texts[id], known != text {
                    throw RunDataError(subject: reader.directory, reason: "tokens.csv gives token \(id) the text \(JSONText.string(text)), \(first.directory) gives \(JSONText.string(known))")
                }
                texts[id] = text
            }
        }
        let source = try MergedTaskSource(readers)
        var manifest = first.manifest
        manifest.selectedProblemIDs = Array(Set(readers.flatMap(\.manifest.selectedProblemIDs)))
        // A problem that failed in one run keeps its reasons as written; one that failed in
        // several gets the sorted union, so the argument order does not matter.
        var reasons: [String: [[String]]] = [:]
        for failure in readers.flatMap(\.manifest.failed) { reasons[failure.id, default: []].append(failure.reasons) }
        manifest.failed = reasons.keys.sorted().map { id in
            let lists = reasons[id]!
            return RunManifest.FailedProblem(id: id, reasons: lists.count == 1 ? lists[0] : Array(Set(lists.joined())).sorted())
        }
        let run: JSONValue = .object([
            "merged_from": .array(bundles.map { .string($0) }),
            "runs": .array(readers.map(\.run)),
        ])
        if let problem = SystemFile.makeDirectories(out) {
            throw RunDataError(subject: "--out", reason: "\(problem); choose a directory this user can write")
        }
        let summary = try BundleWriter.write(source: source, manifest: manifest, run: run, decoder: TokenTextTable(texts: texts), to: out)
        let settings = (out as NSString).appendingPathComponent(RunSettingsFile.fileName)
        do {
            try RunSettingsFile.text(for: manifest).write(toFile: settings, atomically: true, encoding: .utf8)
        } catch {
            throw RunDataError(subject: settings, reason: "cannot write: \(error.localizedDescription); check that the disk is not full")
        }
        for name in conditions {
            try merge(bundles: bundles.map { InterventionLayout.directory(of: name, in: $0) }, to: InterventionLayout.directory(of: name, in: out))
        }
        if let text = conditionFiles[0], !conditions.isEmpty {
            let path = (InterventionLayout.root(in: out) as NSString).appendingPathComponent(InterventionLayout.conditionsFile)
            let file = try AtomicFileWriter(path: path)
            try text.withUnsafeBytes { try file.write($0) }
            try file.finish()
            // The paired tables of the merged problems, as one run over all of them writes them.
            _ = try InterventionComparison.write(bundle: out)
        }
        return summary
    }
}
