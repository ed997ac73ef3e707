import Foundation
import Platform
import SafeTensors

/// Appends the statistics columns (`FeatureStatistics.columns`) to every hookpoint's
/// features.csv of a finished bundle. The coordinator and `merge` call it after writing the
/// bundle, `thinklens analyze` on an existing one; everything is computed from the bundle's
/// files in bundle order, so the same bundle and settings give the same bytes.
public enum BundleStatistics {
    public static let baseHeader = "feature,tokens,tokens_reasoning,tokens_answer,inferences,inferences_correct,inferences_wrong,top_act_inferences,top_freq_inferences,max_act,mean_act"
    public static let header = baseHeader + "," + FeatureStatistics.columns.joined(separator: ",")
    static let baseColumns = 11

    @discardableResult
    public static func write(bundle: String, settings: StatisticsSettings? = nil) throws -> StatisticsTimings {
        var timings = StatisticsTimings()
        var clock = MonotonicClock.now()
        func lap(_ name: String) {
            let now = MonotonicClock.now()
            timings.add(name, now - clock)
            clock = now
        }
        let reader = try BundleReader(directory: bundle)
        // Opening reads every problem's first activations; each hookpoint's pass faults its
        // own pages in again, so only one hookpoint's latents are resident at a time.
        for hookpoint in reader.manifest.hookpoints { reader.releaseLatentPages(hookpoint: hookpoint) }
        let settings = settings ?? StatisticsSettings(seed: StatisticsSettings.seed(of: reader.manifest))
        lap("open bundle")
        let (problems, wordOccurs) = try windows(reader, words: settings.words)
        lap("reasoning-word windows")
        // Hookpoints are independent: up to one per core at once (each keeps its own latents
        // resident only while it passes over them). Every hookpoint's bytes are the same
        // whichever thread computes it.
        let hookpoints = reader.manifest.hookpoints
        var perHookpoint = [StatisticsTimings](repeating: StatisticsTimings(), count: hookpoints.count)
        var failures = [Error?](repeating: nil, count: hookpoints.count)
        let texts = TokenTextTable(texts: reader.tokenTexts)
        perHookpoint.withUnsafeMutableBufferPointer { timingSlots in
            failures.withUnsafeMutableBufferPointer { failureSlots in
                let timingSlots = UnsafeSendable(timingSlots), failureSlots = UnsafeSendable(failureSlots)
                let problems = problems, wordOccurs = wordOccurs
                DispatchQueue.concurrentPerform(iterations: hookpoints.count) { h in
                    do {
                        timingSlots.value[h] = try analyse(hookpoint: hookpoints[h], of: bundle, reader: reader, problems: problems,
                                                           wordOccurs: wordOccurs, settings: settings, texts: texts)
                    } catch {
                        failureSlots.value[h] = error
                    }
                }
            }
        }
        if let failure = failures.compactMap({ $0 }).first { throw failure }
        // Per phase, the seconds summed over hookpoints (which ran side by side).
        for t in perHookpoint { for phase in t.phases { timings.add(phase.name, phase.seconds) } }
        return timings
    }

    /// Computes and writes one hookpoint's statistics tables.
    static func analyse(hookpoint: String, of bundle: String, reader: BundleReader, problems: [ProblemWindows], wordOccurs: [Bool],
                        settings: StatisticsSettings, texts: TokenTextTable) throws -> StatisticsTimings {
        var timings = StatisticsTimings()
        let directory = (bundle as NSString).appendingPathComponent("\(BundleLayout.tablesDirectory)/\(hookpoint)")
        let path = (directory as NSString).appendingPathComponent("features.csv")
        let lines = try baseLines(path)
        let rows = try lines.enumerated().map { n, line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard let feature = Int(fields[0]), feature >= 0, let tokens = Int(fields[1]), let inferences = Int(fields[4]),
                  let correct = Int(fields[5]), let wrong = Int(fields[6]) else {
                throw RunDataError(subject: "\(path) line \(n + 2)", reason: "feature, tokens, inferences, inferences_correct or inferences_wrong is not a count; the table is damaged")
            }
            return (feature: feature, tokens: tokens, inferences: inferences, correct: correct, wrong: wrong)
        }
        let columns = try reader.latentColumns(hookpoint: hookpoint)
        var computation = HookpointStatistics(
            hookpoint: hookpoint, columns: columns,
            rowRanges: reader.taskSummaries.indices.map { reader.rowRange($0, hookpoint: hookpoint) },
            problems: problems, wordOccurs: wordOccurs, settings: settings, featureRows: rows)
        computation.releasePages = { reader.releaseLatentPages(hookpoint: hookpoint) }
        let result = try computation.compute(timings: &timings)
        let start = MonotonicClock.now()
        let file = try AtomicFileWriter(path: path)
        try file.write(header + "\n")
        for (line, row) in zip(lines, rows) {
            var text = line
            for cell in result.features[row.feature]!.cells {
                text += ","
                if let cell { text += JSONText.number(cell) }
            }
            try file.write(text + "\n")
        }
        try file.finish()
        try writeCooccurrence(result.cooccurrence, in: directory)
        try appendQuantileExamples(result.quantileExamples, in: directory, problems: problems, texts: texts)
        timings.add("write tables", MonotonicClock.now() - start)
        return timings
    }

    /// tables/<hookpoint>/cooccurrence.csv: `feature,partner,both,jaccard`.
    static func writeCooccurrence(_ rows: [(feature: Int, partner: Int, both: Int, jaccard: Double)], in directory: String) throws {
        let file = try AtomicFileWriter(path: (directory as NSString).appendingPathComponent("cooccurrence.csv"))
        try file.write("feature,partner,both,jaccard\n")
        for r in rows { try file.write("\(r.feature),\(r.partner),\(r.both),\(JSONText.number(r.jaccard))\n") }
        try file.finish()
    }

    /// examples.jsonl keeps its lines as the bundle writer wrote them (lines with a `quantile`
    /// field from an earlier analysis are dropped) and gets the quantile examples after them.
    static func appendQuantileExamples(_ examples: [(feature: Int, quantile: Int, rank: Int, example: FeatureTable.Example)],
                                       in directory: String, problems: [ProblemWindows], texts: TokenTextTable) throws {
        let path = (directory as NSString).appendingPathComponent("examples.jsonl")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunDataError(subject: path, reason: "cannot read; the bundle is incomplete")
        }
        let file = try AtomicFileWriter(path: path)
        var kept = [UInt8]()
        kept.reserveCapacity(data.count)
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: true) where !isQuantileLine(line) {
            kept += line
            kept.append(0x0A)
        }
        try file.write(String(decoding: kept, as: UTF8.self))
        for item in examples {
            let problem = problems[Int(item.example.problem)]
            let position = Int(item.example.position)
            let lo = max(0, position - BundleWriter.contextRadius), hi = min(problem.tokens.count - 1, position + BundleWriter.contextRadius)
            let context: BundleWriter.ExampleContext = (problem.id, Array(problem.tokens[lo...hi]), position - lo)
            try file.write(BundleWriter.exampleLine(feature: item.feature, quantile: item.quantile, rank: item.rank,
                                                    example: item.example, context: context, decoder: texts))
        }
        try file.finish()
    }

    /// `{"feature":N,"quantile":` at the start of a line.
    static func isQuantileLine(_ line: Data) -> Bool {
        let bytes = Array(line.prefix(40))
        let head = Array("{\"feature\":".utf8), tail = Array(",\"quantile\":".utf8)
        guard bytes.starts(with: head) else { return false }
        var i = head.count
        while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
        return bytes[i...].starts(with: tail)
    }

    /// features.csv's data lines cut to the first 11 columns (a table already analysed loses
    /// its statistics, which are then written again).
    static func baseLines(_ path: String) throws -> [Substring] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw RunDataError(subject: path, reason: "cannot read; the bundle is incomplete")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let first = lines.first, first == baseHeader || first == header else {
            throw RunDataError(subject: path, reason: "header is '\(lines.first ?? "")', expected '\(baseHeader)' (optionally followed by the statistics columns)")
        }
        lines.removeFirst()
        return try lines.enumerated().map { n, line in
            var commas = 0
            var end = line.endIndex
            for i in line.indices where line[i] == "," {
                commas += 1
                if commas == baseColumns { end = i; break }
            }
            guard commas >= baseColumns - 1 else {
                throw RunDataError(subject: "\(path) line \(n + 2)", reason: "has \(commas + 1) fields, expected at least \(baseColumns)")
            }
            return line[line.startIndex..<end]
        }
    }

    /// Per problem, where the reasoning-word windows lie; per word, whether it occurs.
    static func windows(_ reader: BundleReader, words: ReasoningWords) throws -> ([ProblemWindows], [Bool]) {
        var lowered: [Int32: [UInt8]] = [:]
        for (id, text) in reader.tokenTexts { lowered[id] = ReasoningWords.normalizedToken(text) }
        var occurs = [Bool](repeating: false, count: words.words.count)
        var out: [ProblemWindows] = []
        out.reserveCapacity(reader.taskSummaries.count)
        for i in reader.taskSummaries.indices {
            let record = try reader.record(i)
            let texts = try record.generatedIDs.map { id in
                guard let t = lowered[id] else {
                    throw RunDataError(subject: "\(reader.directory)/\(BundleLayout.tokensFile)", reason: "has no text for token \(id) generated in problem \(record.id)")
                }
                return t
            }
            let found = words.occurrences(texts)
            var start: [Int32] = [], list: [Int32] = []
            if !found.isEmpty {
                for o in found { occurs[o.word] = true }
                let covered = words.windows(found, length: texts.count)
                var perToken = [[Int32]](repeating: [], count: texts.count)
                for (w, tokens) in covered.enumerated() { for j in tokens { perToken[j].append(Int32(w)) } }
                start.reserveCapacity(texts.count + 1)
                for j in 0..<texts.count {
                    start.append(Int32(list.count))
                    list += perToken[j]
                }
                start.append(Int32(list.count))
            }
            out.append(ProblemWindows(id: record.id, tokens: record.promptIDs + record.generatedIDs, promptLength: record.promptIDs.count, generated: record.generatedIDs.count,
                                      verdict: record.verdict, start: start, words: list))
        }
        return (out, occurs)
    }
}

/// Seconds per phase, summed over hookpoints.
public struct StatisticsTimings: Sendable {
    public var phases: [(name: String, seconds: Double)] = []

    mutating func add(_ name: String, _ seconds: Double) {
        if let i = phases.firstIndex(where: { $0.name == name }) { phases[i].seconds += seconds } else { phases.append((name, seconds)) }
    }
}
