import ResultBundle
import Experiment
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

/// Bundle-wide accumulators of one hookpoint, filled by the first pass over the latents. Each
/// analysis is touched by one thread at a time (pass 1 gives each hookpoint its own thread;
/// the pages only read it), hence `@unchecked Sendable`.
final class HookpointAnalysis: @unchecked Sendable {
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
    /// The statistics columns' rankings (empty for a bundle without them): the features of
    /// highest ReasonScore, and the segment-tested features of lowest q.
    let reasoningRanking: [FeatureRow]
    let segmentRanking: [FeatureRow]
    static let reasoningFeatures = 50
    var heatMapFeatures: ArraySlice<FeatureRow> { crossProblem.prefix(Self.heatMapFeatures) }

    // Filled by the pass.
    var pairs = PairSelection(capacity: InferenceCharts.pairCount)
    /// Per relevant feature: token → maximum activation over the bundle.
    var relevantTokenMax: [[Int32: Float]]
    /// Rows by segment (prompt, reasoning, answer).
    var segmentRows = [Int](repeating: 0, count: 3)
    /// [problems][heat-map feature]: the problem's maximum activation of the feature (0: did not fire).
    var heatMax: [[Float]] = []
    /// [problems][heat-map feature]: whether it was one of the problem's 10 relevant features.
    var heatTop: [[Bool]] = []
    /// [problems]: the problem's relevant features (best first) with their maximum activation,
    /// kept so the page pass need not count the problem's features again.
    var problemRelevant: [[(feature: Int32, maxAct: Float)]] = []
    /// [problems]: the problem's 70 most frequent features (most first) with their counts.
    var problemFrequent: [[(feature: Int32, count: Int32)]] = []

    /// Features that get a page, sorted: every feature in a bundle-wide view (the 400 highest
    /// pairs can only hold features among the 400 of highest max_act), the 500 ranked highest
    /// across problems and the 500 most frequent. Bounded whatever the run's size.
    let pageFeatures: [Int]
    /// Correct-vs-wrong comparison; empty lists when the sample is too small.
    let logOdds: (overCorrect: [(FeatureRow, LogOddsRatio)], overWrong: [(FeatureRow, LogOddsRatio)], tested: Int)
    static let rankedPages = 500
    static let frequentPages = 500
    static let logOddsListed = 20

    // Per page feature, one block of counters (by slot, so the block stays in cache):
    // distance-to-</think> bins, distance-to-end bins, activation bins, and tokens in
    // problems without </think>.
    static let thinkOffset = 0
    static let endOffset = PositionBins.thinkCount
    static let actOffset = PositionBins.thinkCount + PositionBins.endCount
    static let withoutThinkOffset = actOffset + featureHistogramBins
    static let stride = withoutThinkOffset + 1
    /// [pageFeatures.count * stride]
    private let counters: UnsafeMutablePointer<UInt32>
    /// [capacity] the feature's page slot, -1 = no page.
    private let pageSlot: UnsafeMutablePointer<Int32>
    /// [pageFeatures.count] featureHistogramBins / max_act
    private let inverseMax: UnsafeMutablePointer<Float>
    private let relevantSlot: UnsafeMutablePointer<Int8>  // [capacity]
    private let heatSlot: UnsafeMutablePointer<Int8>      // [capacity]

    private static func buffer<T>(_ count: Int, _ value: T) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
        p.initialize(repeating: value, count: max(count, 1))
        return p
    }

    deinit {
        counters.deallocate(); pageSlot.deallocate(); inverseMax.deallocate(); relevantSlot.deallocate(); heatSlot.deallocate()
    }

    init(name: String, tables: HookpointTables, correct: Int, wrong: Int) {
        self.name = name
        self.tables = tables
        capacity = max(tables.featureLimit, 1)
        scratch = ProblemScratch(capacity: capacity)
        relevant = bestItems(InferenceCharts.relevantCount, of: tables.rows) { a, b in
            a.maxAct != b.maxAct ? a.maxAct > b.maxAct : a.feature < b.feature
        }
        frequent = Array(tables.rows.prefix(InferenceCharts.frequentCount))
        let ranked = tables.rows.filter { $0.topActInferences > 0 }
        crossProblem = bestItems(Self.crossProblemFeatures, of: ranked) { a, b in
            if a.topActInferences != b.topActInferences { return a.topActInferences > b.topActInferences }
            if a.tokens != b.tokens { return a.tokens > b.tokens }
            return a.feature < b.feature
        }
        logOdds = Self.computeLogOdds(tables, correct: correct, wrong: wrong)
        let analysed = tables.rows.filter { $0.statistics?.reasonScore != nil }
        reasoningRanking = bestItems(Self.reasoningFeatures, of: analysed, by: FeatureSort.reasonScore.precedes)
        segmentRanking = bestItems(Self.reasoningFeatures, of: tables.rows.filter { $0.statistics?.segmentQ != nil }, by: FeatureSort.segmentQ.precedes)

        var pages = Set<Int>()
        for r in relevant + frequent + crossProblem + reasoningRanking + segmentRanking { pages.insert(r.feature) }
        for r in logOdds.overCorrect + logOdds.overWrong { pages.insert(r.0.feature) }
        for r in bestItems(InferenceCharts.pairCount, of: tables.rows, by: { a, b in a.maxAct != b.maxAct ? a.maxAct > b.maxAct : a.feature < b.feature }) {
            pages.insert(r.feature)
        }
        for r in bestItems(Self.rankedPages, of: ranked, by: { a, b in a.topActInferences != b.topActInferences ? a.topActInferences > b.topActInferences : a.feature < b.feature }) {
            pages.insert(r.feature)
        }
        for r in tables.rows.prefix(Self.frequentPages) { pages.insert(r.feature) }
        pageFeatures = pages.sorted()

        counters = Self.buffer(pageFeatures.count * Self.stride, 0)
        pageSlot = Self.buffer(capacity, -1)
        inverseMax = Self.buffer(pageFeatures.count, 0)
        for (slot, f) in pageFeatures.enumerated() {
            pageSlot[f] = Int32(slot)
            if let max = tables.row(f)?.maxAct, max > 0 { inverseMax[slot] = Float(Double(Self.featureHistogramBins) / max) }
        }
        relevantSlot = Self.buffer(capacity, -1)
        for (n, r) in relevant.enumerated() { relevantSlot[r.feature] = Int8(n) }
        relevantTokenMax = [[Int32: Float]](repeating: [:], count: relevant.count)
        heatSlot = Self.buffer(capacity, -1)
        for (n, r) in crossProblem.prefix(Self.heatMapFeatures).enumerated() { heatSlot[r.feature] = Int8(n) }
    }

    static func computeLogOdds(_ tables: HookpointTables, correct: Int, wrong: Int)
        -> (overCorrect: [(FeatureRow, LogOddsRatio)], overWrong: [(FeatureRow, LogOddsRatio)], tested: Int) {
        guard LogOddsRatio.sampleTooSmall(correct: correct, wrong: wrong) == nil else { return ([], [], 0) }
        var scored: [(FeatureRow, LogOddsRatio)] = []
        for row in tables.rows where row.inferencesCorrect + row.inferencesWrong >= LogOddsRatio.minimumFiringProblems {
            scored.append((row, LogOddsRatio(firedCorrect: row.inferencesCorrect, correct: correct, firedWrong: row.inferencesWrong, wrong: wrong)))
        }
        let overCorrect = bestItems(logOddsListed, of: scored.filter { $0.1.low > 0 }) { x, y in
            x.1.low != y.1.low ? x.1.low > y.1.low : x.0.feature < y.0.feature
        }
        let overWrong = bestItems(logOddsListed, of: scored.filter { $0.1.high < 0 }) { x, y in
            x.1.high != y.1.high ? x.1.high < y.1.high : x.0.feature < y.0.feature
        }
        return (overCorrect, overWrong, scored.count)
    }

    /// First pass, one problem.
    func add(_ rows: LatentRows, record: ProblemRecord, ordinal: Int) throws {
        try scratch.collect(rows, hookpoint: name, problem: record.id)
        let top = scratch.relevant()
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
        problemRelevant.append(top.map { ($0, scratch.maxAct[Int($0)]) })
        problemFrequent.append(scratch.frequent().map { ($0, scratch.count[Int($0)]) })
        scratch.reset()

        let k = rows.k
        let promptLength = record.promptIDs.count
        let last = record.sequenceLength - 1
        let thinkEnd = record.thinkEnd
        let problem = Int32(ordinal)
        let hb = Self.featureHistogramBins
        var pairs = self.pairs
        self.pairs = PairSelection(capacity: 0)
        defer { self.pairs = pairs }
        let counters = self.counters, pageSlot = self.pageSlot, inverseMax = self.inverseMax, relevantSlot = self.relevantSlot
        var segmentRows = self.segmentRows
        defer { self.segmentRows = segmentRows }
        rows.indices.withUnsafeBufferPointer { idx in
            rows.activations.withUnsafeBufferPointer { act in
                for r in 0..<rows.rowCount {
                    let position = Int(rows.positions[r])
                    let segment = Int(rows.segments[r])
                    if segment < 3 { segmentRows[segment] += 1 }
                    let endBin = Self.endOffset + PositionBins.end(last - position)
                    let thinkBin = thinkEnd.map { Self.thinkOffset + PositionBins.think(position - $0) } ?? Self.withoutThinkOffset
                    let isGenerated = position >= promptLength
                    for j in 0..<k {
                        let a = act[r * k + j]
                        guard a > 0 else { break }
                        let f = Int(idx[r * k + j])
                        pairs.offer(ActivationPair(act: a, feature: Int32(f), problem: problem, position: Int32(position)))
                        let slot = Int(pageSlot[f])
                        if slot >= 0 {
                            let block = counters + slot * Self.stride
                            block[Self.actOffset + min(hb - 1, Int(a * inverseMax[slot]))] += 1
                            if isGenerated {
                                block[endBin] += 1
                                block[thinkBin] += 1
                            }
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

    private func block(_ f: Int) -> UnsafeMutablePointer<UInt32>? {
        guard f >= 0, f < capacity, pageSlot[f] >= 0 else { return nil }
        return counters + Int(pageSlot[f]) * Self.stride
    }

    /// Tokens of a page feature by distance to </think> (PositionBins.think).
    func thinkHistogram(_ f: Int) -> [Int] {
        guard let b = block(f) else { return [Int](repeating: 0, count: PositionBins.thinkCount) }
        return (0..<PositionBins.thinkCount).map { Int(b[Self.thinkOffset + $0]) }
    }

    /// Tokens of a page feature by distance to the end (PositionBins.end).
    func endHistogram(_ f: Int) -> [Int] {
        guard let b = block(f) else { return [Int](repeating: 0, count: PositionBins.endCount) }
        return (0..<PositionBins.endCount).map { Int(b[Self.endOffset + $0]) }
    }

    /// Generated tokens of a page feature in problems that never wrote </think>.
    func withoutThink(_ f: Int) -> Int { block(f).map { Int($0[Self.withoutThinkOffset]) } ?? 0 }

    func activationHistogram(_ f: Int) -> [HistogramBin] {
        let upper = tables.row(f)?.maxAct ?? 0
        let n = Self.featureHistogramBins
        let b = block(f)
        return (0..<n).map { i in
            HistogramBin(lo: upper * Double(i) / Double(n), hi: upper * Double(i + 1) / Double(n), count: b.map { Int($0[Self.actOffset + i]) } ?? 0)
        }
    }
}
