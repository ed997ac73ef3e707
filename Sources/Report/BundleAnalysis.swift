import Coordinator
import Foundation

/// What the report keeps of a problem after the first pass (not its latents).
struct ProblemSummary {
    var id: String
    var ordinal: Int
    var question: String
    var gold: String?
    var answer: String?
    var verdict: Verdict
    var stop: StopReason
    var promptTokens: Int
    var generatedTokens: Int
    var thinkEnd: Int?
    var fileName: String
}

/// Bundle-wide accumulators of one hookpoint, filled by the first pass over the latents.
final class HookpointAnalysis {
    static let crossProblemFeatures = 50
    static let heatMapFeatures = 30
    static let featureHistogramBins = 20

    let name: String
    let tables: HookpointTables
    let capacity: Int
    let scratch: ProblemScratch

    // Chosen from the tables before the pass.
    /// The 10 features of highest max_act (ties: lower id): the bundle's relevant features.
    let relevant: [FeatureRow]
    /// The 70 features with most tokens.
    let frequent: [FeatureRow]
    /// Features by top_act_inferences (ties: more tokens, then lower id).
    let crossProblem: [FeatureRow]
    var heatMapFeatures: ArraySlice<FeatureRow> { crossProblem.prefix(Self.heatMapFeatures) }

    // Filled by the pass.
    var pairs = PairSelection(capacity: InferenceCharts.pairCount)
    /// [capacity * PositionBins.thinkCount]
    var thinkBins: [UInt32]
    /// [capacity * PositionBins.endCount]
    var endBins: [UInt32]
    /// [capacity * featureHistogramBins]; bins of [0, max_act] per feature.
    var actBins: [UInt32]
    /// [capacity] positions in problems without `</think>`.
    var withoutThink: [UInt32]
    /// Per relevant feature: token → maximum activation over the bundle.
    var relevantTokenMax: [[Int32: Float]]
    /// Rows by segment (prompt, reasoning, answer).
    var segmentRows = [Int](repeating: 0, count: 3)
    /// [problems][heat-map feature]: the problem's maximum activation of the feature (0: did not fire).
    var heatMax: [[Float]] = []
    /// [problems][heat-map feature]: whether it was one of the problem's 10 relevant features.
    var heatTop: [[Bool]] = []
    /// Features that were relevant in some problem.
    var relevantAnywhere = Set<Int>()
    private var inverseMax: [Float]   // [capacity] featureHistogramBins / max_act
    private var relevantSlot: [Int8]  // [capacity]
    private var heatSlot: [Int8]      // [capacity]

    init(name: String, tables: HookpointTables) {
        self.name = name
        self.tables = tables
        capacity = max(tables.featureLimit, 1)
        scratch = ProblemScratch(capacity: capacity)
        relevant = bestItems(InferenceCharts.relevantCount, of: tables.rows) { a, b in
            a.maxAct != b.maxAct ? a.maxAct > b.maxAct : a.feature < b.feature
        }
        frequent = Array(tables.rows.prefix(InferenceCharts.frequentCount))
        crossProblem = bestItems(Self.crossProblemFeatures, of: tables.rows.filter { $0.topActInferences > 0 }) { a, b in
            if a.topActInferences != b.topActInferences { return a.topActInferences > b.topActInferences }
            if a.tokens != b.tokens { return a.tokens > b.tokens }
            return a.feature < b.feature
        }
        thinkBins = [UInt32](repeating: 0, count: capacity * PositionBins.thinkCount)
        endBins = [UInt32](repeating: 0, count: capacity * PositionBins.endCount)
        actBins = [UInt32](repeating: 0, count: capacity * Self.featureHistogramBins)
        withoutThink = [UInt32](repeating: 0, count: capacity)
        inverseMax = [Float](repeating: 0, count: capacity)
        for r in tables.rows where r.maxAct > 0 { inverseMax[r.feature] = Float(Double(Self.featureHistogramBins) / r.maxAct) }
        relevantSlot = [Int8](repeating: -1, count: capacity)
        for (n, r) in relevant.enumerated() { relevantSlot[r.feature] = Int8(n) }
        relevantTokenMax = [[Int32: Float]](repeating: [:], count: relevant.count)
        heatSlot = [Int8](repeating: -1, count: capacity)
        for (n, r) in crossProblem.prefix(Self.heatMapFeatures).enumerated() { heatSlot[r.feature] = Int8(n) }
    }

    /// First pass, one problem.
    func add(_ rows: LatentRows, record: ProblemRecord, ordinal: Int) throws {
        try scratch.collect(rows, hookpoint: name, problem: record.id)
        let top = scratch.relevant()
        for f in top { relevantAnywhere.insert(Int(f)) }
        let columns = min(Self.heatMapFeatures, crossProblem.count)
        var maxRow = [Float](repeating: 0, count: columns)
        var topRow = [Bool](repeating: false, count: columns)
        for f in scratch.touched {
            let s = Int(heatSlot[Int(f)])
            if s >= 0 { maxRow[s] = scratch.maxAct[Int(f)] }
        }
        for f in top {
            let s = Int(heatSlot[Int(f)])
            if s >= 0 { topRow[s] = true }
        }
        heatMax.append(maxRow)
        heatTop.append(topRow)
        scratch.reset()

        let k = rows.k
        let promptLength = record.promptIDs.count
        let last = record.sequenceLength - 1
        let thinkEnd = record.thinkEnd
        let problem = Int32(ordinal)
        let hb = Self.featureHistogramBins
        rows.indices.withUnsafeBufferPointer { idx in
            rows.acts.withUnsafeBufferPointer { act in
                for r in 0..<rows.rowCount {
                    let position = Int(rows.positions[r])
                    let segment = Int(rows.segments[r])
                    if segment < 3 { segmentRows[segment] += 1 }
                    let endBin = PositionBins.end(last - position)
                    let thinkBin = thinkEnd.map { PositionBins.think(position - $0) } ?? -1
                    let isGenerated = position >= promptLength
                    for j in 0..<k {
                        let a = act[r * k + j]
                        guard a > 0 else { break }
                        let f = Int(idx[r * k + j])
                        pairs.offer(ActivationPair(act: a, feature: Int32(f), problem: problem, position: Int32(position)))
                        actBins[f * hb + min(hb - 1, Int(a * inverseMax[f]))] += 1
                        if isGenerated {
                            endBins[f * PositionBins.endCount + endBin] += 1
                            if thinkBin >= 0 { thinkBins[f * PositionBins.thinkCount + thinkBin] += 1 } else { withoutThink[f] += 1 }
                        }
                        let s = Int(relevantSlot[f])
                        if s >= 0 {
                            let token = rows.tokens[r]
                            if a > relevantTokenMax[s][token] ?? 0 { relevantTokenMax[s][token] = a }
                        }
                    }
                }
            }
        }
    }

    /// The bundle-wide version of the study's per-inference charts.
    func bundleCharts(tokens: [Int: [FeatureToken]]) -> InferenceCharts {
        let last = tables.histogram
        let relevantFeatures = relevant.enumerated().map { n, row in
            RelevantFeature(feature: row.feature, maxAct: row.maxAct,
                            tokens: (tokens[row.feature] ?? []).prefix(InferenceCharts.tokensPerRelevant).map { ($0.token, $0.maxAct, $0.count) },
                            points: relevantTokenMax[n].keys.sorted().map { ($0, Double(relevantTokenMax[n][$0]!)) })
        }
        return InferenceCharts(pairs: pairs.result(), frequent: frequent.map { ($0.feature, $0.tokens) },
                               histogram: last, relevant: relevantFeatures)
    }

    func thinkHistogram(_ f: Int) -> [Int] {
        (0..<PositionBins.thinkCount).map { Int(thinkBins[f * PositionBins.thinkCount + $0]) }
    }

    func endHistogram(_ f: Int) -> [Int] {
        (0..<PositionBins.endCount).map { Int(endBins[f * PositionBins.endCount + $0]) }
    }

    func activationHistogram(_ f: Int) -> [HistogramBin] {
        let upper = tables.row(f)?.maxAct ?? 0
        let n = Self.featureHistogramBins
        return (0..<n).map { b in
            HistogramBin(lo: upper * Double(b) / Double(n), hi: upper * Double(b + 1) / Double(n), count: Int(actBins[f * n + b]))
        }
    }
}
