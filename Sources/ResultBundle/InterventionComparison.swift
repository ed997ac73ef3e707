import Experiment
import SafeTensors
import Foundation

/// An intervention run compared with its baseline, problem by problem: OUT holds the baseline
/// bundle and OUT/interventions/<NAME>/ each condition's. Problems are paired by id; a problem
/// present in only one of the two bundles (it failed in the other) is dropped and counted.
/// Writes interventions/pairs.csv and interventions/summary.csv (docs/bundle.md,
/// "Interventions"); the report and `thinklens interventions` read the same values.
public struct InterventionComparison: Sendable {
    /// Relative to the bundle (OUT), beside `InterventionLayout.conditionsFile`.
    public static let pairsFile = InterventionLayout.directoryName + "/pairs.csv"
    public static let summaryFile = InterventionLayout.directoryName + "/summary.csv"
    public static let pairsHeader = "condition,id,verdict_baseline,verdict,answer_baseline,answer,tokens_baseline,tokens,think_end_baseline,think_end,stop_baseline,stop,first_divergence"
    public static let summaryHeader = "condition,problems,accuracy,baseline_accuracy,delta_accuracy,delta_accuracy_lo,delta_accuracy_hi,mcnemar_p,answers_changed,identical_outputs,mean_tokens,delta_tokens,delta_tokens_lo,delta_tokens_hi,think_finished,delta_think_end,mean_first_divergence,repeated_4grams"

    /// One problem under the baseline and under a condition.
    public struct Pair: Sendable {
        public let baseline: ProblemRecord
        public let intervened: ProblemRecord
        /// `PairedStatistics.firstDivergence` of the generated tokens.
        public let firstDivergence: Int?
    }

    /// One row of summary.csv; nil where a value is undefined (an empty cell).
    public struct Summary: Sendable, Equatable {
        public var condition: String
        public var problems: Int
        public var accuracy: Double?
        public var baselineAccuracy: Double?
        public var deltaAccuracy: Double?
        public var deltaAccuracyLo: Double?
        public var deltaAccuracyHi: Double?
        public var mcnemarP: Double?
        public var answersChanged: Int
        public var identicalOutputs: Int
        public var meanTokens: Double?
        public var deltaTokens: Double?
        public var deltaTokensLo: Double?
        public var deltaTokensHi: Double?
        public var thinkFinished: Double?
        public var deltaThinkEnd: Double?
        public var meanFirstDivergence: Double?
        public var repeated4grams: Double?

        /// The cells of its summary.csv line, in header order.
        public var cells: [String] {
            func number(_ v: Double?) -> String { v.map(JSONText.number) ?? "" }
            return [condition, String(problems), number(accuracy), number(baselineAccuracy), number(deltaAccuracy),
                    number(deltaAccuracyLo), number(deltaAccuracyHi), number(mcnemarP), String(answersChanged),
                    String(identicalOutputs), number(meanTokens), number(deltaTokens), number(deltaTokensLo),
                    number(deltaTokensHi), number(thinkFinished), number(deltaThinkEnd), number(meanFirstDivergence),
                    number(repeated4grams)]
        }
    }

    /// One condition: its pairs in problem order, their summary, and the problems left out.
    public struct Condition: Sendable {
        public let name: String
        public let pairs: [Pair]
        public let summary: Summary
        /// Problems present in the baseline or the condition bundle but not in both.
        public let droppedProblems: [String]
    }

    public let bundle: String
    public let conditions: [Condition]

    /// Reads OUT/inferences.jsonl and each condition's, pairs them and computes the summaries;
    /// `seed` (the run seed) seeds the bootstrap. Writes nothing.
    public init(bundle: String, conditions names: [String], seed: UInt64) throws {
        guard Set(names).count == names.count else {
            throw RunDataError(subject: "intervention conditions \(names)", reason: "name a condition twice; each condition is compared once")
        }
        self.bundle = bundle
        let baseline = try InferencesFile.records(bundle: bundle).sorted(by: ProblemRecord.precedes)
        try Self.checkUniqueIDs(baseline, bundle: bundle)
        var intervenedRecords: [[ProblemRecord]] = []
        for name in names {
            try Self.checkConditionName(name)
            let conditionBundle = InterventionLayout.directory(of: name, in: bundle)
            let intervened = try InferencesFile.records(bundle: conditionBundle)
            try Self.checkUniqueIDs(intervened, bundle: conditionBundle)
            intervenedRecords.append(intervened)
        }
        // Conditions are independent (each bootstrap starts its own generator): computed on
        // all cores, each into its own slot, so the result does not depend on the threads.
        let slots = ConditionSlots(count: names.count)
        let intervenedByCondition = intervenedRecords
        DispatchQueue.concurrentPerform(iterations: names.count) { c in
            slots.set(c, Self.compare(names[c], baseline: baseline, intervened: intervenedByCondition[c], seed: seed))
        }
        let conditions = slots.values
        self.conditions = conditions
    }

    /// One condition's pairs (in the baseline's problem order), dropped problems and summary.
    static func compare(_ name: String, baseline: [ProblemRecord], intervened: [ProblemRecord], seed: UInt64) -> Condition {
        var byID: [String: ProblemRecord] = [:]
        for r in intervened { byID[r.id] = r }
        var pairs: [Pair] = []
        for b in baseline {
            guard let c = byID.removeValue(forKey: b.id) else { continue }
            pairs.append(Pair(baseline: b, intervened: c, firstDivergence: PairedStatistics.firstDivergence(b.generatedIDs, c.generatedIDs)))
        }
        let paired = Set(pairs.map(\.baseline.id))
        let dropped = baseline.map(\.id).filter { !paired.contains($0) } + intervened.map(\.id).filter { byID[$0] != nil }
        return Condition(name: name, pairs: pairs, summary: summarize(name, pairs, seed: seed), droppedProblems: dropped)
    }

    /// Results written by concurrent threads, one slot each.
    private final class ConditionSlots: @unchecked Sendable {
        private var slots: [Condition?]
        private let lock = NSLock()
        init(count: Int) { slots = [Condition?](repeating: nil, count: count) }
        func set(_ i: Int, _ value: Condition) { lock.withLock { slots[i] = value } }
        var values: [Condition] { lock.withLock { slots.map { $0! } } }
    }

    /// Computes the comparison of BUNDLE's conditions and writes pairs.csv and summary.csv into
    /// BUNDLE/interventions/ (each through a temporary file, synced and renamed). What the
    /// coordinator calls at the end of an intervention run.
    @discardableResult
    public static func write(bundle: String, conditions: [String], seed: UInt64) throws -> InterventionComparison {
        let comparison = try InterventionComparison(bundle: bundle, conditions: conditions, seed: seed)
        try comparison.write()
        return comparison
    }

    /// The same for a finished bundle, with the conditions of its conditions.json and the seed
    /// of its manifest (what `thinklens merge` needs once it has merged the conditions); nil,
    /// writing nothing, when BUNDLE is not an intervention run.
    @discardableResult
    public static func write(bundle: String) throws -> InterventionComparison? {
        guard let names = try InterventionLayout.conditionNames(in: bundle) else { return nil }
        return try write(bundle: bundle, conditions: names, seed: try runSeed(bundle: bundle))
    }

    /// Writes pairs.csv and summary.csv of this comparison into its bundle.
    public func write() throws {
        let directory = InterventionLayout.root(in: bundle)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RunDataError(subject: directory, reason: "cannot create: \(error.localizedDescription); check that the bundle is writable")
        }
        let pairsFile = try AtomicFileWriter(path: (bundle as NSString).appendingPathComponent(Self.pairsFile))
        try pairsFile.write(Self.pairsHeader + "\n")
        for condition in conditions {
            for pair in condition.pairs {
                try pairsFile.write(Self.pairLine(condition: condition.name, pair))
            }
        }
        try pairsFile.finish()
        let summaryFile = try AtomicFileWriter(path: (bundle as NSString).appendingPathComponent(Self.summaryFile))
        try summaryFile.write(Self.summaryHeader + "\n")
        for condition in conditions {
            try summaryFile.write(condition.summary.cells.map { BundleWriter.csvField($0) }.joined(separator: ",") + "\n")
        }
        try summaryFile.finish()
    }

    // MARK: - Reading an intervention bundle

    /// The condition names of BUNDLE's conditions.json, in order; an error naming the file
    /// when BUNDLE is not an intervention run.
    public static func conditionNames(bundle: String) throws -> [String] {
        guard let names = try InterventionLayout.conditionNames(in: bundle) else {
            let path = (InterventionLayout.root(in: bundle) as NSString).appendingPathComponent(InterventionLayout.conditionsFile)
            throw RunDataError(subject: path, reason: "cannot read; is \(bundle) the --out of a run with --intervene?")
        }
        return names
    }

    /// The run seed, from the baseline's manifest (`generation.seed`).
    public static func runSeed(bundle: String) throws -> UInt64 {
        let manifest = try RunManifest.read(bundle: bundle)
        guard let seed = manifest.generation["seed"]?.intValue, let value = UInt64(exactly: seed) else {
            throw RunDataError(subject: (bundle as NSString).appendingPathComponent(BundleLayout.manifestFile),
                               reason: "generation.seed is missing or not a non-negative integer")
        }
        return value
    }

    /// Reads summary.csv back: one `Summary` per line, in file order.
    public static func readSummary(bundle: String) throws -> [Summary] {
        let path = (bundle as NSString).appendingPathComponent(summaryFile)
        var rows: [Summary] = []
        try CSVReader.forEachRecord(path: path, header: summaryHeader) { record, cells in
            let columns = summaryHeader.split(separator: ",")
            guard cells.count == columns.count else {
                throw CSVReader.malformed(path, record, "has \(cells.count) fields, expected \(columns.count)")
            }
            func number(_ i: Int) throws -> Double? {
                if cells[i].isEmpty { return nil }
                guard let v = Double(cells[i]) else { throw CSVReader.malformed(path, record, "\(columns[i]) '\(cells[i])' is not a number") }
                return v
            }
            func count(_ i: Int) throws -> Int {
                guard let v = Int(cells[i]), v >= 0 else { throw CSVReader.malformed(path, record, "\(columns[i]) '\(cells[i])' is not a count") }
                return v
            }
            rows.append(Summary(condition: cells[0], problems: try count(1), accuracy: try number(2), baselineAccuracy: try number(3),
                                deltaAccuracy: try number(4), deltaAccuracyLo: try number(5), deltaAccuracyHi: try number(6),
                                mcnemarP: try number(7), answersChanged: try count(8), identicalOutputs: try count(9),
                                meanTokens: try number(10), deltaTokens: try number(11), deltaTokensLo: try number(12),
                                deltaTokensHi: try number(13), thinkFinished: try number(14), deltaThinkEnd: try number(15),
                                meanFirstDivergence: try number(16), repeated4grams: try number(17)))
        }
        return rows
    }

    // MARK: - Pieces

    /// A condition name becomes a folder under interventions/ and a CSV field.
    static func checkConditionName(_ name: String) throws {
        let forbidden: [UInt8] = [0, 0x0a, 0x0d, UInt8(ascii: "/")]
        guard let first = name.utf8.first, first != UInt8(ascii: "."), !name.utf8.contains(where: forbidden.contains) else {
            throw RunDataError(subject: "intervention condition '\(name)'", reason: "is not usable as a folder name (empty, starts with '.', or contains '/', NUL or a line break)")
        }
    }

    static func checkUniqueIDs(_ records: [ProblemRecord], bundle: String) throws {
        var seen = Set<String>()
        for r in records where !seen.insert(r.id).inserted {
            throw RunDataError(subject: (bundle as NSString).appendingPathComponent(BundleLayout.inferencesFile), reason: "lists problem \(r.id) twice; the bundle is damaged")
        }
    }

    static func pairLine(condition: String, _ pair: Pair) -> String {
        let b = pair.baseline, c = pair.intervened
        func optional(_ n: Int?) -> String { n.map(String.init) ?? "" }
        var cells: [String] = [condition, b.id, b.verdict.rawValue, c.verdict.rawValue, b.answer ?? "", c.answer ?? ""]
        cells += [String(b.generatedIDs.count), String(c.generatedIDs.count), optional(b.thinkEnd), optional(c.thinkEnd)]
        cells += [b.stop.rawValue, c.stop.rawValue, optional(pair.firstDivergence)]
        return cells.map { BundleWriter.csvField($0) }.joined(separator: ",") + "\n"
    }

    static func summarize(_ name: String, _ pairs: [Pair], seed: UInt64) -> Summary {
        let n = pairs.count
        var summary = Summary(condition: name, problems: n, answersChanged: 0, identicalOutputs: 0)
        guard n > 0 else { return summary }
        var correct = 0, baselineCorrect = 0, lost = 0, gained = 0
        var tokens = 0, finished = 0
        var thinkEndDifference = 0, bothFinished = 0
        var divergenceSum = 0, diverged = 0
        var repeated = 0, grams = 0
        var accuracyDifferences: [Int] = [], tokenDifferences: [Int] = []
        for pair in pairs {
            let b = pair.baseline, c = pair.intervened
            let bRight = b.verdict == .correct, cRight = c.verdict == .correct
            if cRight { correct += 1 }
            if bRight { baselineCorrect += 1 }
            if bRight && !cRight { lost += 1 }
            if cRight && !bRight { gained += 1 }
            accuracyDifferences.append((cRight ? 1 : 0) - (bRight ? 1 : 0))
            if b.answer != c.answer { summary.answersChanged += 1 }
            if b.generatedIDs == c.generatedIDs { summary.identicalOutputs += 1 }
            tokens += c.generatedIDs.count
            tokenDifferences.append(c.generatedIDs.count - b.generatedIDs.count)
            if let end = c.thinkEnd {
                finished += 1
                if let baselineEnd = b.thinkEnd { thinkEndDifference += end - baselineEnd; bothFinished += 1 }
            }
            if let d = pair.firstDivergence { divergenceSum += d; diverged += 1 }
            let r = PairedStatistics.repeated4grams(c.generatedIDs)
            repeated += r.repeated
            grams += r.total
        }
        let count = Double(n)
        summary.accuracy = Double(correct) / count
        summary.baselineAccuracy = Double(baselineCorrect) / count
        summary.deltaAccuracy = Double(correct - baselineCorrect) / count
        summary.mcnemarP = PairedStatistics.mcnemarP(b: lost, c: gained)
        summary.meanTokens = Double(tokens) / count
        summary.deltaTokens = Double(tokenDifferences.reduce(0, +)) / count
        let intervals = PairedStatistics.bootstrapIntervals(differences: [accuracyDifferences, tokenDifferences], seed: seed)
        summary.deltaAccuracyLo = intervals[0]?.lo
        summary.deltaAccuracyHi = intervals[0]?.hi
        summary.deltaTokensLo = intervals[1]?.lo
        summary.deltaTokensHi = intervals[1]?.hi
        summary.thinkFinished = Double(finished) / count
        summary.deltaThinkEnd = bothFinished > 0 ? Double(thinkEndDifference) / Double(bothFinished) : nil
        summary.meanFirstDivergence = diverged > 0 ? Double(divergenceSum) / Double(diverged) : nil
        summary.repeated4grams = grams > 0 ? Double(repeated) / Double(grams) : nil
        return summary
    }
}
