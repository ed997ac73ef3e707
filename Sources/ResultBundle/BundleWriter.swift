import SafeTensors
import Foundation

/// What a written bundle holds, for the coordinator's closing log lines.
public struct BundleSummary: Sendable {
    public let directory: String
    public let problems: Int
    public let rows: [String: Int]
    /// Per hookpoint, the most frequent features (feature, tokens), best first.
    public let topFeatures: [String: [(feature: Int, tokens: Int)]]
}

/// Writes a result bundle (format version 1) from committed tasks in two ordered passes:
///
/// 1. In bundle problem order (split, index, id): inferences.jsonl, latents/*.safetensors,
///    latents/index.csv, and the feature tables (counts, maxima, sums, best tokens, best
///    examples, histogram — whose range is known beforehand from the task summaries).
/// 2. Again in order, for what needs the final tables: how often each feature's best tokens
///    carried it, and the ±10-token context of the examples.
///
/// Every output depends only on the set of committed tasks, never on their arrival order,
/// duplicates, restarts or merges; only run.json is free-form.
public enum BundleWriter {
    public static let exampleFeatures = 1_000
    public static let contextRadius = 10

    @discardableResult
    public static func write(source: CommittedTaskSource, manifest: RunManifest, run: JSONValue,
                             decoder: TokenTextDecoding, to directory: String) throws -> BundleSummary {
        let fm = FileManager.default
        let summaries = source.taskSummaries
        var order = Array(summaries.indices)
        order.sort { ProblemOrder.precedes((summaries[$0].split, summaries[$0].index, summaries[$0].id),
                                           (summaries[$1].split, summaries[$1].index, summaries[$1].id)) }
        for (a, b) in zip(order, order.dropFirst()) where summaries[a].id == summaries[b].id {
            throw RunDataError(subject: "problem \(summaries[a].id)", reason: "appears twice in the committed tasks")
        }
        let hookpoints = manifest.hookpoints
        guard Set(hookpoints).count == hookpoints.count else {
            throw RunDataError(subject: "manifest hookpoints", reason: "\(hookpoints) lists a hookpoint twice")
        }
        for h in hookpoints { try BundleLayout.checkHookpointName(h) }

        // Sizes per hookpoint, known before reading any latents.
        var k = [Int](repeating: 0, count: hookpoints.count)
        var totalRows = [Int](repeating: 0, count: hookpoints.count)
        var maxAct = [Float](repeating: 0, count: hookpoints.count)
        for s in summaries {
            guard Set(s.hookpoints.map(\.name)) == Set(hookpoints) else {
                throw RunDataError(subject: "problem \(s.id)", reason: "has latents for [\(s.hookpoints.map(\.name).sorted().joined(separator: ", "))], the run's hookpoints are [\(hookpoints.joined(separator: ", "))]")
            }
            for (h, name) in hookpoints.enumerated() {
                let hs = s.hookpoint(name)!
                if k[h] == 0 { k[h] = hs.k }
                guard hs.k == k[h] else {
                    throw RunDataError(subject: "problem \(s.id), hookpoint \(name)", reason: "k is \(hs.k) but other problems have \(k[h])")
                }
                totalRows[h] += hs.rows
                maxAct[h] = max(maxAct[h], hs.maxAct)
            }
        }

        do {
            try fm.createDirectory(atPath: (directory as NSString).appendingPathComponent(BundleLayout.latentsDirectory), withIntermediateDirectories: true)
            for name in hookpoints {
                try fm.createDirectory(atPath: tablesDirectory(directory, name), withIntermediateDirectories: true)
            }
        } catch {
            throw RunDataError(subject: directory, reason: "cannot create the bundle directories: \(error.localizedDescription); check that it is writable")
        }

        // Pass 1.
        let inferences = try AtomicFileWriter(path: path(directory, BundleLayout.inferencesFile))
        let latentIndex = try AtomicFileWriter(path: path(directory, BundleLayout.latentIndexFile))
        try latentIndex.write("id,hookpoint,first_row,rows,fvu\n")
        var latentFiles: [StreamingSafeTensorsWriter] = []
        for (h, name) in hookpoints.enumerated() {
            let t = totalRows[h], kk = max(k[h], 1)
            latentFiles.append(try StreamingSafeTensorsWriter(
                path: path(directory, "\(BundleLayout.latentsDirectory)/\(name).safetensors"),
                tensors: [
                    .init(name: "problem", dtype: .i32, shape: [t]),
                    .init(name: "position", dtype: .i32, shape: [t]),
                    .init(name: "token", dtype: .i32, shape: [t]),
                    .init(name: "segment", dtype: .u8, shape: [t]),
                    .init(name: "indices", dtype: .i32, shape: [t, kk]),
                    .init(name: "acts", dtype: .f32, shape: [t, kk]),
                ],
                metadata: ["format": "thinklens-latents", "format_version": String(BundleLayout.formatVersion), "hookpoint": name, "k": String(kk)]))
        }
        let tables = hookpoints.indices.map { FeatureTable(histogramUpperBound: maxAct[$0]) }
        var firstRow = [Int](repeating: 0, count: hookpoints.count)
        var fvuWeighted = [Double](repeating: 0, count: hookpoints.count)
        var fvuRows = [Int](repeating: 0, count: hookpoints.count)
        var fvuSeen = [Bool](repeating: false, count: hookpoints.count)
        var verdicts: [Verdict: Int] = [.correct: 0, .wrong: 0, .none: 0]
        var promptTokens = 0, generatedTokens = 0
        var seenTokens = Set<Int32>()
        var committedIDs: [String] = []
        for (ordinal, i) in order.enumerated() {
            let task = try source.task(i)
            let record = task.record
            guard record.id == summaries[i].id else {
                throw RunDataError(subject: "problem \(summaries[i].id)", reason: "its stored record says id \(record.id); the source is inconsistent")
            }
            try task.validate()
            committedIDs.append(record.id)
            try inferences.write(inferenceLine(record))
            verdicts[record.verdict, default: 0] += 1
            promptTokens += record.promptIDs.count
            generatedTokens += record.generatedIDs.count
            seenTokens.formUnion(record.promptIDs)
            seenTokens.formUnion(record.generatedIDs)
            for (h, name) in hookpoints.enumerated() {
                guard let rows = task.latents[name], rows.k == k[h], rows.rowCount == summaries[i].hookpoint(name)?.rows else {
                    throw RunDataError(subject: "problem \(record.id), hookpoint \(name)", reason: "latents disagree with the task's summary (k or row count)")
                }
                let file = latentFiles[h]
                try file.append(0, [Int32](repeating: Int32(truncatingIfNeeded: record.index), count: rows.rowCount))
                try file.append(1, rows.positions)
                try file.append(2, rows.tokens)
                try file.append(3, rows.segments)
                try file.append(4, rows.indices)
                try file.append(5, rows.activations)
                let fvuText: String
                if let fvu = task.fvu[name] {
                    fvuText = JSONText.number(fvu)
                    fvuWeighted[h] += fvu * Double(rows.rowCount)
                    fvuRows[h] += rows.rowCount
                    fvuSeen[h] = true
                } else {
                    fvuText = ""
                }
                try latentIndex.write("\(Self.csvField(record.id)),\(name),\(firstRow[h]),\(rows.rowCount),\(fvuText)\n")
                firstRow[h] += rows.rowCount
            }
            // Each hookpoint's table is independent of the others: fill them on separate cores.
            let tables = tables
            DispatchQueue.concurrentPerform(iterations: hookpoints.count) { h in
                tables[h].add(task.latents[hookpoints[h]]!, problem: Int32(ordinal), verdict: record.verdict)
            }
        }
        try inferences.finish()
        try latentIndex.finish()
        for file in latentFiles { try file.finish() }

        // Between the passes: the final feature order, the tokens to count, the examples to show.
        let featureRows = tables.map { $0.rows() }
        var tokenLists: [TokenCountTable] = []
        var exampleRequests: [Int: [(hookpoint: Int, slot: Int, position: Int)]] = [:]  // by problem ordinal
        var examples: [[ExampleEntry]] = []
        for h in hookpoints.indices {
            tokenLists.append(TokenCountTable(table: tables[h], features: featureRows[h].map(\.feature)))
            var list: [ExampleEntry] = []
            for row in featureRows[h].prefix(exampleFeatures) {
                for (rank, e) in tables[h].examples(row.feature).enumerated() {
                    exampleRequests[Int(e.problem), default: []].append((h, list.count, Int(e.position)))
                    list.append((row.feature, rank, e))
                }
            }
            examples.append(list)
        }

        // Pass 2.
        var contexts: [[ExampleContext?]] = examples.map { [ExampleContext?](repeating: nil, count: $0.count) }
        for (ordinal, i) in order.enumerated() {
            let task = try source.task(i)
            let tokenLists = tokenLists
            DispatchQueue.concurrentPerform(iterations: hookpoints.count) { h in
                tokenLists[h].count(task.latents[hookpoints[h]]!)
            }
            for request in exampleRequests[ordinal] ?? [] {
                let r = task.record
                let lo = max(0, request.position - contextRadius)
                let hi = min(r.sequenceLength - 1, request.position + contextRadius)
                contexts[request.hookpoint][request.slot] = (r.id, (lo...hi).map { r.token(at: $0) }, request.position - lo)
            }
        }

        for (h, name) in hookpoints.enumerated() {
            try writeTables(in: tablesDirectory(directory, name), hookpoint: name, table: tables[h], rows: featureRows[h],
                            tokenCounts: tokenLists[h], examples: examples[h], contexts: contexts[h], decoder: decoder)
        }

        // Every token id that occurs in the bundle, with its text: what merge and analysis
        // use instead of a tokenizer.
        let tokenTable = try AtomicFileWriter(path: path(directory, BundleLayout.tokensFile))
        try tokenTable.write("token,text\n")
        for t in seenTokens.sorted() {
            try tokenTable.write("\(t),\(csvField(decoder.tokenText(t), alwaysQuote: true))\n")
        }
        try tokenTable.finish()

        // Manifest.
        let committedSet = Set(committedIDs)
        var manifest = manifest
        manifest.failed = manifest.failed.filter { !committedSet.contains($0.id) }
        let failedIDs = Set(manifest.failed.map(\.id))
        let selected = Set(manifest.selectedProblemIDs).union(committedSet).union(failedIDs)
        manifest.selectedProblemIDs = Array(selected)
        var rowsObject: [String: JSONValue] = [:], kObject: [String: JSONValue] = [:]
        var fvu: [String: Double?] = [:]
        for (h, name) in hookpoints.enumerated() {
            rowsObject[name] = .int(Int64(totalRows[h]))
            kObject[name] = .int(Int64(k[h]))
            fvu[name] = fvuSeen[h] ? (fvuRows[h] > 0 ? fvuWeighted[h] / Double(fvuRows[h]) : nil) : nil
        }
        let counts: JSONValue = .object([
            "problems_selected": .int(Int64(selected.count)),
            "problems_committed": .int(Int64(committedSet.count)),
            "problems_failed": .int(Int64(failedIDs.count)),
            "problems_missing": .int(Int64(selected.count - committedSet.count - failedIDs.count)),
            "verdicts": .object(["correct": .int(Int64(verdicts[.correct]!)), "wrong": .int(Int64(verdicts[.wrong]!)), "none": .int(Int64(verdicts[.none]!))]),
            "tokens_prompt": .int(Int64(promptTokens)),
            "tokens_generated": .int(Int64(generatedTokens)),
            "latent_rows": .object(rowsObject),
            "k": .object(kObject),
        ])
        try writeText(manifest.serialized(counts: counts, fvu: fvu), to: path(directory, BundleLayout.manifestFile))
        try writeText(run.serialized(pretty: true) + "\n", to: path(directory, BundleLayout.runFile))

        // The statistics columns of features.csv read the finished bundle back, exactly as
        // `thinklens analyze` does, so both give the same bytes.
        try BundleStatistics.write(bundle: directory)

        var top: [String: [(feature: Int, tokens: Int)]] = [:]
        var rowsByName: [String: Int] = [:]
        for (h, name) in hookpoints.enumerated() {
            top[name] = featureRows[h].prefix(10).map { ($0.feature, $0.tokens) }
            rowsByName[name] = totalRows[h]
        }
        return BundleSummary(directory: directory, problems: committedSet.count, rows: rowsByName, topFeatures: top)
    }

    // MARK: - Pieces

    typealias ExampleEntry = (feature: Int, rank: Int, example: FeatureTable.Example)
    typealias ExampleContext = (problemID: String, tokens: [Int32], center: Int)

    /// features.csv, activation_histogram.csv, feature_tokens.csv and examples.jsonl of one hookpoint.
    static func writeTables(in dir: String, hookpoint name: String, table: FeatureTable, rows: [FeatureTable.Row],
                            tokenCounts: TokenCountTable, examples: [ExampleEntry], contexts: [ExampleContext?],
                            decoder: TokenTextDecoding) throws {
        let features = try AtomicFileWriter(path: (dir as NSString).appendingPathComponent("features.csv"))
        try features.write("feature,tokens,tokens_reasoning,tokens_answer,inferences,inferences_correct,inferences_wrong,top_act_inferences,top_freq_inferences,max_act,mean_act\n")
        for r in rows {
            try features.write("\(r.feature),\(r.tokens),\(r.tokensReasoning),\(r.tokensAnswer),\(r.inferences),\(r.inferencesCorrect),\(r.inferencesWrong),\(r.topActInferences),\(r.topFreqInferences),\(JSONText.number(r.maxAct)),\(JSONText.number(r.meanAct))\n")
        }
        try features.finish()

        let histogramFile = try AtomicFileWriter(path: (dir as NSString).appendingPathComponent("activation_histogram.csv"))
        try histogramFile.write("bin,lo,hi,count\n")
        let histogram = table.histogram!
        for bin in 0..<ActivationHistogram.binCount {
            let b = histogram.bounds(bin)
            try histogramFile.write("\(bin),\(JSONText.number(b.lo)),\(JSONText.number(b.hi)),\(histogram.counts[bin])\n")
        }
        try histogramFile.finish()

        let tokensFile = try AtomicFileWriter(path: (dir as NSString).appendingPathComponent("feature_tokens.csv"))
        try tokensFile.write("feature,token,text,count,max_act\n")
        for r in rows {
            for entry in table.topTokens(r.feature) {
                let count = tokenCounts.count(feature: r.feature, token: entry.token)
                try tokensFile.write("\(r.feature),\(entry.token),\(csvField(decoder.tokenText(entry.token), alwaysQuote: true)),\(count),\(JSONText.number(entry.maxAct))\n")
            }
        }
        try tokensFile.finish()

        let examplesFile = try AtomicFileWriter(path: (dir as NSString).appendingPathComponent("examples.jsonl"))
        for (slot, item) in examples.enumerated() {
            guard let context = contexts[slot] else {
                throw RunDataError(subject: "hookpoint \(name)", reason: "example of feature \(item.feature) points at a problem the second pass did not see; the source changed while writing")
            }
            try examplesFile.write(exampleLine(feature: item.feature, quantile: nil, rank: item.rank, example: item.example,
                                               context: context, decoder: decoder))
        }
        try examplesFile.finish()
    }

    /// One line of examples.jsonl; `quantile` only on the quantile examples (see BundleStatistics).
    static func exampleLine(feature: Int, quantile: Int?, rank: Int, example: FeatureTable.Example, context: ExampleContext,
                            decoder: TokenTextDecoding) -> String {
        var line = "{\"feature\":\(feature),"
        if let quantile { line += "\"quantile\":\(quantile)," }
        line += "\"rank\":\(rank),\"problem\":"
        JSONText.appendString(context.problemID, to: &line)
        line += ",\"position\":\(example.position),\"act\":\(JSONText.number(example.act))"
        line += ",\"token\":\(context.tokens[context.center]),\"center\":\(context.center),\"tokens\":["
        line += context.tokens.map(String.init).joined(separator: ",")
        line += "],\"token_texts\":["
        for (n, t) in context.tokens.enumerated() {
            if n > 0 { line += "," }
            JSONText.appendString(decoder.tokenText(t), to: &line)
        }
        line += "]}\n"
        return line
    }

    static func path(_ directory: String, _ file: String) -> String {
        (directory as NSString).appendingPathComponent(file)
    }

    static func tablesDirectory(_ directory: String, _ hookpoint: String) -> String {
        path(directory, "\(BundleLayout.tablesDirectory)/\(hookpoint)")
    }

    static func writeText(_ text: String, to path: String) throws {
        let file = try AtomicFileWriter(path: path)
        try file.write(text)
        try file.finish()
    }

    /// One line of inferences.jsonl, fields in the documented order.
    static func inferenceLine(_ r: ProblemRecord) -> String {
        func optional(_ s: String?) -> String { s.map(JSONText.string) ?? "null" }
        var line = "{\"id\":\(JSONText.string(r.id)),\"split\":\(JSONText.string(r.split)),\"index\":\(r.index)"
        line += ",\"question\":\(JSONText.string(r.question)),\"gold\":\(optional(r.gold))"
        line += ",\"prompt_ids\":[\(r.promptIDs.map(String.init).joined(separator: ","))]"
        line += ",\"generated_ids\":[\(r.generatedIDs.map(String.init).joined(separator: ","))]"
        line += ",\"text\":\(JSONText.string(r.text)),\"stop\":\(JSONText.string(r.stop.rawValue))"
        line += ",\"answer\":\(optional(r.answer)),\"verdict\":\(JSONText.string(r.verdict.rawValue))"
        line += ",\"think_end\":\(r.thinkEnd.map(String.init) ?? "null")}\n"
        return line
    }

    /// RFC 4180 field: quoted when it holds a comma, quote, CR or LF (or always, for free text).
    static func csvField(_ s: String, alwaysQuote: Bool = false) -> String {
        let special = s.utf8.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
        guard special || alwaysQuote else { return s }
        guard s.utf8.contains(0x22) else { return "\"" + s + "\"" }
        var out = "\""
        for c in s.unicodeScalars {
            if c == "\"" { out += "\"\"" } else { out.unicodeScalars.append(c) }
        }
        return out + "\""
    }
}

/// Occurrence counts for each feature's best tokens (the `count` column of
/// feature_tokens.csv): per feature a sorted slice of its ≤70 token ids, searched by
/// bisection, so memory stays at features × 70 whatever the run's length. Like
/// `FeatureTable`, one thread at a time per table, hence the unchecked `Sendable`.
final class TokenCountTable: @unchecked Sendable {
    private var start: [Int32]    // [capacity] offset of the feature's slice in `tokens`, -1 = none
    private var length: [Int32]   // [capacity]
    private var tokens: [Int32] = []
    private var counts: [Int64] = []

    init(table: FeatureTable, features: [Int]) {
        start = [Int32](repeating: -1, count: table.capacity)
        length = [Int32](repeating: 0, count: table.capacity)
        for f in features.sorted() {
            let list = table.topTokens(f).map(\.token).sorted()
            start[f] = Int32(tokens.count)
            length[f] = Int32(list.count)
            tokens += list
        }
        counts = [Int64](repeating: 0, count: tokens.count)
    }

    private func slot(_ f: Int, _ token: Int32) -> Int? {
        guard f < start.count, start[f] >= 0 else { return nil }
        var lo = Int(start[f]), hi = lo + Int(length[f])
        while lo < hi {
            let mid = (lo + hi) / 2
            if tokens[mid] < token { lo = mid + 1 } else { hi = mid }
        }
        return lo < Int(start[f]) + Int(length[f]) && tokens[lo] == token ? lo : nil
    }

    func count(_ rows: LatentRows) {
        let k = rows.k
        for r in 0..<rows.rowCount {
            let token = rows.tokens[r]
            for j in 0..<k {
                guard rows.activations[r * k + j] > 0 else { break }
                if let s = slot(Int(rows.indices[r * k + j]), token) { counts[s] += 1 }
            }
        }
    }

    func count(feature: Int, token: Int32) -> Int64 {
        slot(feature, token).map { counts[$0] } ?? 0
    }
}
