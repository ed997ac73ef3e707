import ResultBundle
import Foundation

/// One (feature, activation) entry of the latents: a feature among a position's top-k.
struct ActivationPair: Equatable {
    var act: Float
    var feature: Int32
    /// Ordinal of the problem in bundle order.
    var problem: Int32
    var position: Int32

    /// Higher activation first, then lower feature id, earlier problem, earlier position.
    @inline(__always)
    static func beats(_ x: ActivationPair, _ y: ActivationPair) -> Bool {
        if x.act != y.act { return x.act > y.act }
        if x.feature != y.feature { return x.feature < y.feature }
        if x.problem != y.problem { return x.problem < y.problem }
        return x.position < y.position
    }
}

/// The best `capacity` pairs of a stream, exactly: candidates below the current bar are
/// rejected with one comparison; when the buffer fills, a selection on the activations (no
/// sort) finds the new bar and keeps the pairs at or above it. Sorted once, at the end.
struct PairSelection {
    let capacity: Int
    private(set) var buffer: [ActivationPair] = []
    private var bar: Float = 0
    private var full = false

    init(capacity: Int) {
        self.capacity = capacity
        buffer.reserveCapacity(capacity * 4)
    }

    @inline(__always)
    mutating func offer(_ p: ActivationPair) {
        if full, p.act < bar { return }
        buffer.append(p)
        if buffer.count >= capacity * 4 { prune() }
    }

    /// Keeps the best `capacity` pairs (unordered); the bar becomes the lowest activation kept.
    private mutating func prune() {
        guard capacity > 0, buffer.count > capacity else { return }
        var acts = buffer.map(\.act)
        let threshold = Self.largest(capacity - 1, of: &acts)
        // Fewer than `capacity` pairs lie above the threshold; ties at it are ranked by the full order.
        var kept: [ActivationPair] = []
        kept.reserveCapacity(capacity * 4)
        var ties: [ActivationPair] = []
        for p in buffer {
            if p.act > threshold { kept.append(p) } else if p.act == threshold { ties.append(p) }
        }
        ties.sort(by: ActivationPair.beats)
        kept.append(contentsOf: ties.prefix(capacity - kept.count))
        buffer = kept
        full = true
        bar = threshold
    }

    /// The value of rank `k` (0: the largest) of `values`, which it reorders (Hoare's selection).
    static func largest(_ k: Int, of values: inout [Float]) -> Float {
        var lo = 0, hi = values.count - 1
        while lo < hi {
            let pivot = values[(lo + hi) / 2]
            var i = lo, j = hi
            while i <= j {
                while values[i] > pivot { i += 1 }
                while values[j] < pivot { j -= 1 }
                if i <= j { values.swapAt(i, j); i += 1; j -= 1 }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return values[k] }
        }
        return values[k]
    }

    mutating func result() -> [ActivationPair] {
        if capacity == 0 { return [] }
        prune()
        buffer.sort(by: ActivationPair.beats)
        return buffer
    }
}

/// A "relevant" feature of a set of problems (the study's term): one of the 10 with the
/// highest maximum activation, with its best tokens and a token-id vs activation scatter.
struct RelevantFeature {
    var feature: Int
    var maxAct: Double
    /// Up to 70 tokens by maximum activation (ties: lower id first).
    var tokens: [(token: Int32, maxAct: Double, count: Int)]
    /// One point per position where it fired (one problem) or per distinct token at its maximum (all problems).
    var points: [(token: Int32, act: Double)]
}

/// What the study plotted for one inference (or for all of them together), for one hookpoint.
struct InferenceCharts {
    static let pairCount = 400
    static let frequentCount = 70
    static let relevantCount = 10
    static let tokensPerRelevant = 70
    static let histogramBins = 50

    var pairs: [ActivationPair]
    var frequent: [(feature: Int, count: Int)]
    var histogram: [HistogramBin]
    var relevant: [RelevantFeature]
}

/// Per-feature scratch for one problem, sized to the hookpoint's feature ids; reset after
/// each problem by walking the features it touched, so the cost is per entry, not per feature.
/// One per drawing thread, hence `@unchecked Sendable`.
final class ProblemScratch: @unchecked Sendable {
    let capacity: Int
    // Raw buffers: the per-entry loops index them millions of times, without the
    // uniqueness and exclusivity checks a class's array properties would cost.
    let count: UnsafeMutablePointer<Int32>   // [capacity]
    let maxAct: UnsafeMutablePointer<Float>  // [capacity]
    let slot: UnsafeMutablePointer<Int8>     // [capacity] relevant-feature slot, -1 = none
    var touched: [Int32] = []

    init(capacity: Int) {
        self.capacity = capacity
        count = .allocate(capacity: capacity)
        count.initialize(repeating: 0, count: capacity)
        maxAct = .allocate(capacity: capacity)
        maxAct.initialize(repeating: 0, count: capacity)
        slot = .allocate(capacity: capacity)
        slot.initialize(repeating: -1, count: capacity)
    }

    deinit {
        count.deallocate()
        maxAct.deallocate()
        slot.deallocate()
    }

    /// Fills count/maxAct/touched from the problem's rows; throws when a feature id is out of range.
    func collect(_ rows: LatentRows, hookpoint: String, problem: String) throws {
        let k = rows.k
        try rows.indices.withUnsafeBufferPointer { idx in
            try rows.activations.withUnsafeBufferPointer { act in
                for r in 0..<rows.rowCount {
                    for j in 0..<k {
                        let a = act[r * k + j]
                        guard a > 0 else { break }
                        let f = Int(idx[r * k + j])
                        guard f >= 0, f < capacity else {
                            throw RunDataError(subject: "problem \(problem), hookpoint \(hookpoint)",
                                               reason: "latent id \(f) fired but features.csv lists no such feature; the tables and latents disagree")
                        }
                        if count[f] == 0 { touched.append(Int32(f)) }
                        count[f] += 1
                        if a > maxAct[f] { maxAct[f] = a }
                    }
                }
            }
        }
    }

    /// The problem's 10 features of highest maximum activation (ties: lower id), as the bundle's top_act_inferences counts them.
    func relevant() -> [Int32] {
        bestItems(InferenceCharts.relevantCount, of: touched) { a, b in
            let x = maxAct[Int(a)], y = maxAct[Int(b)]
            return x != y ? x > y : a < b
        }
    }

    /// The problem's 70 features that fired most often (ties: lower id), as top_freq_inferences counts them.
    func frequent() -> [Int32] {
        bestItems(InferenceCharts.frequentCount, of: touched) { a, b in
            let x = count[Int(a)], y = count[Int(b)]
            return x != y ? x > y : a < b
        }
    }

    func reset() {
        for f in touched {
            count[Int(f)] = 0
            maxAct[Int(f)] = 0
        }
        touched.removeAll(keepingCapacity: true)
    }

    /// The study's per-inference charts for one problem's rows, given the problem's relevant
    /// and most frequent features (from the first pass). Uses only `slot`, so it needs no `collect`.
    func charts(_ rows: LatentRows, problem: Int32, relevant relevantMax: [(feature: Int32, maxAct: Float)],
                frequent: [(feature: Int32, count: Int32)]) -> InferenceCharts {
        let k = rows.k
        var selection = PairSelection(capacity: InferenceCharts.pairCount)
        let upper = Double(rows.maxAct)
        var bins = [Int](repeating: 0, count: InferenceCharts.histogramBins)
        let relevant = relevantMax.map(\.feature)
        for (n, f) in relevant.enumerated() { slot[Int(f)] = Int8(n) }
        var points = [[(token: Int32, act: Double)]](repeating: [], count: relevant.count)
        var tokenBest = [[Int32: (maxAct: Float, count: Int)]](repeating: [:], count: relevant.count)
        rows.indices.withUnsafeBufferPointer { idx in
            rows.activations.withUnsafeBufferPointer { act in
                for r in 0..<rows.rowCount {
                    let token = rows.tokens[r]
                    for j in 0..<k {
                        let a = act[r * k + j]
                        guard a > 0 else { break }
                        let f = idx[r * k + j]
                        selection.offer(ActivationPair(act: a, feature: f, problem: problem, position: rows.positions[r]))
                        if upper > 0 {
                            bins[min(InferenceCharts.histogramBins - 1, Int(Double(a) * Double(InferenceCharts.histogramBins) / upper))] += 1
                        }
                        let s = Int(slot[Int(f)])
                        if s >= 0 {
                            points[s].append((token, Double(a)))
                            let old = tokenBest[s][token] ?? (0, 0)
                            tokenBest[s][token] = (max(old.maxAct, a), old.count + 1)
                        }
                    }
                }
            }
        }
        for f in relevant { slot[Int(f)] = -1 }
        let histogram = (0..<InferenceCharts.histogramBins).map { b in
            HistogramBin(lo: upper * Double(b) / Double(InferenceCharts.histogramBins),
                         hi: upper * Double(b + 1) / Double(InferenceCharts.histogramBins), count: bins[b])
        }
        let relevantFeatures = relevant.enumerated().map { n, f in
            let tokens = bestItems(InferenceCharts.tokensPerRelevant, of: tokenBest[n].map { ($0.key, $0.value.maxAct, $0.value.count) }) { x, y in
                x.1 != y.1 ? x.1 > y.1 : x.0 < y.0
            }
            return RelevantFeature(feature: Int(f), maxAct: Double(relevantMax[n].maxAct),
                                   tokens: tokens.map { ($0.0, Double($0.1), $0.2) }, points: points[n])
        }
        return InferenceCharts(pairs: selection.result(), frequent: frequent.map { (Int($0.feature), Int($0.count)) },
                               histogram: histogram, relevant: relevantFeatures)
    }
}
