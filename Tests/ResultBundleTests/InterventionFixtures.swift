import Experiment
import Foundation
@testable import ResultBundle

/// Hand-made intervention runs: a baseline bundle in OUT and condition bundles in
/// OUT/interventions/<NAME>/, written by the real bundle writer from records whose outcome
/// each test states (no hookpoints: the comparison reads only inferences.jsonl).
enum InterventionFixtures {
    /// One problem's outcome under one condition.
    struct Outcome {
        var generated: [Int32]
        var verdict: Verdict
        var answer: String?
        var thinkEnd: Int? = nil
        var stop: StopReason = .eos
    }

    static let promptLength = 3

    static func task(index: Int, _ outcome: Outcome) -> CommittedTask {
        let record = ProblemRecord(
            id: "gsm8k:test:\(index)", split: "test", index: index, question: "Question \(index)?", gold: "7",
            promptIDs: [Int32](repeating: 9, count: promptLength), generatedIDs: outcome.generated,
            text: outcome.generated.map { "t\($0)" }.joined(separator: " "), stop: outcome.stop,
            answer: outcome.answer, verdict: outcome.verdict, thinkEnd: outcome.thinkEnd)
        return CommittedTask(record: record, latents: [:])
    }

    /// Writes a bundle of the outcomes (problem `index` → outcome) into `directory`.
    static func writeBundle(_ outcomes: [Int: Outcome], selected: Range<Int>, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try RunStore(outDirectory: directory)
        for (index, outcome) in outcomes.sorted(by: { $0.key < $1.key }) { _ = try store.commit(task(index: index, outcome)) }
        let manifest = BundleFixtures.manifest(selected: BundleFixtures.ids(selected, split: "test"), hookpoints: [])
        try store.writeBundle(manifest: manifest, run: .object([:]), decoder: BundleFixtures.Decoder())
    }

    /// An intervention run in `out`: the baseline and each named condition, and conditions.json.
    static func writeRun(baseline: [Int: Outcome], conditions: [(name: String, outcomes: [Int: Outcome])],
                         selected: Range<Int>, out: String) throws {
        try writeBundle(baseline, selected: selected, to: out)
        for condition in conditions {
            try writeBundle(condition.outcomes, selected: selected,
                            to: InterventionLayout.directory(of: condition.name, in: out))
        }
        let names = conditions.map { "{\"name\":\(JSONText.string($0.name)),\"edits\":[]}" }.joined(separator: ",")
        try Data("{\"conditions\":[\(names)]}\n".utf8).write(to: URL(fileURLWithPath: (InterventionLayout.root(in: out) as NSString).appendingPathComponent(InterventionLayout.conditionsFile)))
    }
}
