/// Per-feature statistics of one hookpoint, accumulated one problem at a time. Everything
/// here is a count, a maximum, a sum, or a bounded top-N with a total order (ties broken by
/// ids), so tables of disjoint problem sets merge exactly — except `sumAct`, a floating
/// sum whose last bits depend on the order of additions. The bundle therefore computes its
/// tables in one pass in problem order (see `BundleWriter`), which makes every byte,
/// including `mean_act`, independent of arrival order, restarts and merges.
///
/// Definitions (the columns of features.csv):
/// - tokens: positions where the feature is among the position's top-k with activation > 0
///   (tokens_reasoning / tokens_answer: those in segment 1 / 2).
/// - inferences: problems with at least one such position; _correct / _wrong by verdict.
/// - top_act_inferences: problems where the feature is among that problem's 10 features of
///   highest maximum activation (ties: lower feature id first).
/// - top_freq_inferences: problems where it is among that problem's 10 features with the
///   most such positions (ties: lower feature id first).
/// - max_act: the largest activation; mean_act: sum of activations / tokens.
///
/// Not thread-safe; it is `@unchecked Sendable` only so the bundle writer can fill the tables
/// of different hookpoints on different cores, each table touched by one thread at a time.
public final class FeatureTable: @unchecked Sendable {
    public static let featuresPerProblem = 10
    public static let tokensPerFeature = 70
    public static let examplesPerFeature = 20
    /// Token slots per feature, rounded up to whole SIMD vectors for the membership scan.
    static let tokenStride = 72

    /// One line of features.csv.
    public struct Row: Equatable, Sendable {
        public let feature: Int
        public let tokens: Int
        public let tokensReasoning: Int
        public let tokensAnswer: Int
        public let inferences: Int
        public let inferencesCorrect: Int
        public let inferencesWrong: Int
        public let topActInferences: Int
        public let topFreqInferences: Int
        public let maxAct: Float
        public let sumAct: Double
        public var meanAct: Double { tokens == 0 ? 0 : sumAct / Double(tokens) }
    }

    /// A position where a feature fired; `problem` is an ordinal in bundle problem order.
    public struct Example: Equatable, Sendable {
        public let act: Float
        public let problem: Int32
        public let position: Int32
    }

    public private(set) var capacity = 0
    public private(set) var histogram: ActivationHistogram?

    /// What every position of a feature touches, in one 48-byte record so that a position
    /// costs one cache miss per latent; the bars let most offers to the best-of lists be
    /// rejected without touching them.
    struct Stats {
        var tokens: Int64 = 0
        var sumAct: Double = 0
        var tokensReasoning: Int32 = 0
        var tokensAnswer: Int32 = 0
        var maxAct: Float = 0
        /// Positions and maximum in the problem being added.
        var problemCount: Int32 = 0
        var problemMax: Float = 0
        /// The worst kept token's maximum once 70 are kept, else -1 (every positive activation passes).
        var tokenBar: Float = -1
        /// The worst kept example's activation once 20 are kept, else -1.
        var exampleBar: Float = -1
        var tokenCount: UInt8 = 0
        var tokenWorst: UInt8 = 0
        var exampleCount: UInt8 = 0
        var exampleWorst: UInt8 = 0
    }

    private var stats: UnsafeMutablePointer<Stats>!                 // [capacity]
    // Per problem, updated once per (problem, feature). [capacity] each
    private var inferences: UnsafeMutablePointer<Int64>!
    private var inferencesCorrect: UnsafeMutablePointer<Int64>!
    private var inferencesWrong: UnsafeMutablePointer<Int64>!
    private var topActInferences: UnsafeMutablePointer<Int64>!
    private var topFreqInferences: UnsafeMutablePointer<Int64>!
    // Best tokens by maximum activation, unordered.
    private var heapTokens: UnsafeMutablePointer<Int32>!       // [capacity, tokenStride], -1 = empty
    private var heapActs: UnsafeMutablePointer<Float>!         // [capacity, tokenStride]
    // Best positions by activation, unordered.
    private var exampleActs: UnsafeMutablePointer<Float>!      // [capacity, examplesPerFeature]
    private var exampleProblems: UnsafeMutablePointer<Int32>!  // [capacity, examplesPerFeature]
    private var examplePositions: UnsafeMutablePointer<Int32>! // [capacity, examplesPerFeature]
    /// Features the problem being added touched.
    private var touched: [Int32] = []

    /// `histogramUpperBound`: the largest activation the table will see (known before the
    /// ordered pass from the journal index); nil to skip the histogram.
    public init(histogramUpperBound: Float? = nil, initialCapacity: Int = 1024) {
        histogram = histogramUpperBound.map { ActivationHistogram(upperBound: $0) }
        grow(to: max(initialCapacity, 1))
    }

    deinit {
        guard capacity > 0 else { return }
        stats.deallocate()
        inferences.deallocate(); inferencesCorrect.deallocate(); inferencesWrong.deallocate()
        topActInferences.deallocate(); topFreqInferences.deallocate()
        heapTokens.deallocate(); heapActs.deallocate()
        exampleActs.deallocate(); exampleProblems.deallocate(); examplePositions.deallocate()
    }

    private static func regrow<T>(_ old: UnsafeMutablePointer<T>?, from oldCount: Int, to newCount: Int, fill: T) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: newCount)
        if let old {
            p.moveInitialize(from: old, count: oldCount)
            old.deallocate()
        }
        (p + oldCount).initialize(repeating: fill, count: newCount - oldCount)
        return p
    }

    /// Makes room for feature ids below `needed` (capacity doubles, so ids are not bounded in advance).
    private func grow(to needed: Int) {
        guard needed > capacity else { return }
        var newCapacity = max(capacity, 1024)
        while newCapacity < needed { newCapacity *= 2 }
        let c = capacity, n = newCapacity
        let ts = Self.tokenStride, es = Self.examplesPerFeature
        stats = Self.regrow(stats, from: c, to: n, fill: Stats())
        inferences = Self.regrow(inferences, from: c, to: n, fill: 0)
        inferencesCorrect = Self.regrow(inferencesCorrect, from: c, to: n, fill: 0)
        inferencesWrong = Self.regrow(inferencesWrong, from: c, to: n, fill: 0)
        topActInferences = Self.regrow(topActInferences, from: c, to: n, fill: 0)
        topFreqInferences = Self.regrow(topFreqInferences, from: c, to: n, fill: 0)
        heapTokens = Self.regrow(heapTokens, from: c * ts, to: n * ts, fill: -1)
        heapActs = Self.regrow(heapActs, from: c * ts, to: n * ts, fill: 0)
        exampleActs = Self.regrow(exampleActs, from: c * es, to: n * es, fill: 0)
        exampleProblems = Self.regrow(exampleProblems, from: c * es, to: n * es, fill: 0)
        examplePositions = Self.regrow(examplePositions, from: c * es, to: n * es, fill: 0)
        capacity = n
    }

    // MARK: - Adding

    /// Adds one problem's rows of this hookpoint. `problem` orders examples among equal
    /// activations (use the problem's ordinal in bundle order). Each problem is added once.
    public func add(_ rows: LatentRows, problem: Int32, verdict: Verdict) {
        let k = rows.k
        rows.indices.withUnsafeBufferPointer { idx in
            rows.activations.withUnsafeBufferPointer { act in
                // Grow once for the largest id in the problem so the hot loop never checks.
                var largest: Int32 = -1
                for f in idx where f > largest { largest = f }
                grow(to: Int(largest) + 1)
                for r in 0..<rows.rowCount {
                    let segment = rows.segments[r]
                    let token = rows.tokens[r]
                    let position = rows.positions[r]
                    for j in 0..<k {
                        let a = act[r * k + j]
                        // Rows are sorted descending: the first non-positive activation ends the row.
                        guard a > 0 else { break }
                        let f = Int(idx[r * k + j])
                        let st = stats + f
                        st.pointee.tokens += 1
                        if segment == TokenSegment.reasoning.rawValue { st.pointee.tokensReasoning += 1 }
                        else if segment == TokenSegment.answer.rawValue { st.pointee.tokensAnswer += 1 }
                        if a > st.pointee.maxAct { st.pointee.maxAct = a }
                        st.pointee.sumAct += Double(a)
                        if st.pointee.problemCount == 0 { touched.append(Int32(f)) }
                        st.pointee.problemCount += 1
                        if a > st.pointee.problemMax { st.pointee.problemMax = a }
                        if a >= st.pointee.tokenBar { offerToken(feature: f, token: token, act: a) }
                        if a >= st.pointee.exampleBar { offerExample(feature: f, Example(act: a, problem: problem, position: position)) }
                        if histogram != nil { histogram!.add(a) }
                    }
                }
            }
        }
        finishProblem(verdict: verdict)
    }

    private func finishProblem(verdict: Verdict) {
        for f32 in touched {
            let f = Int(f32)
            inferences[f] += 1
            if verdict == .correct { inferencesCorrect[f] += 1 } else if verdict == .wrong { inferencesWrong[f] += 1 }
        }
        // The problem's 10 features of highest maximum activation, and its 10 most frequent (ties: lower id).
        let byMax = bestItems(Self.featuresPerProblem, of: touched) { a, b in
            let x = stats[Int(a)].problemMax, y = stats[Int(b)].problemMax
            return x != y ? x > y : a < b
        }
        for f in byMax { topActInferences[Int(f)] += 1 }
        let byCount = bestItems(Self.featuresPerProblem, of: touched) { a, b in
            let x = stats[Int(a)].problemCount, y = stats[Int(b)].problemCount
            return x != y ? x > y : a < b
        }
        for f in byCount { topFreqInferences[Int(f)] += 1 }
        for f in touched {
            stats[Int(f)].problemCount = 0
            stats[Int(f)].problemMax = 0
        }
        touched.removeAll(keepingCapacity: true)
    }


    /// Token order within a feature: higher maximum first, then lower token id.
    @inline(__always)
    private static func tokenBeats(_ act: Float, _ token: Int32, _ otherAct: Float, _ otherToken: Int32) -> Bool {
        act != otherAct ? act > otherAct : token < otherToken
    }

    /// Keeps the token's maximum if it is (or becomes) one of the feature's best 70. Exact:
    /// a token dropped from the list had a maximum below everything kept, and the bar only
    /// rises, so it can only return with a new, larger activation, which is then its maximum.
    @inline(__always)
    private func offerToken(feature f: Int, token: Int32, act a: Float) {
        let base = f * Self.tokenStride
        let n = Int(stats[f].tokenCount)
        let full = n == Self.tokensPerFeature
        if full {
            let w = base + Int(stats[f].tokenWorst)
            if !Self.tokenBeats(a, token, heapActs[w], heapTokens[w]) { return }
        }
        if let slot = findToken(token, base: base, count: n) {
            if a > heapActs[base + slot] {
                heapActs[base + slot] = a
                if full, slot == Int(stats[f].tokenWorst) { recomputeWorstToken(f) }
            }
            return
        }
        if !full {
            heapTokens[base + n] = token
            heapActs[base + n] = a
            stats[f].tokenCount = UInt8(n + 1)
            if n + 1 == Self.tokensPerFeature { recomputeWorstToken(f) }
        } else {
            let w = base + Int(stats[f].tokenWorst)
            heapTokens[w] = token
            heapActs[w] = a
            recomputeWorstToken(f)
        }
    }

    @inline(__always)
    private func findToken(_ token: Int32, base: Int, count n: Int) -> Int? {
        // Empty slots hold -1, so whole vectors can be compared past the count.
        let wanted = SIMD8<Int32>(repeating: token)
        let raw = UnsafeRawPointer(heapTokens + base)
        var i = 0
        while i < n {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Int32>.self)
            let hit = v .== wanted
            if any(hit) {
                for lane in 0..<8 where hit[lane] && i + lane < n { return i + lane }
            }
            i += 8
        }
        return nil
    }

    private func recomputeWorstToken(_ f: Int) {
        let base = f * Self.tokenStride
        var worst = 0
        for s in 1..<Int(stats[f].tokenCount) where Self.tokenBeats(heapActs[base + worst], heapTokens[base + worst], heapActs[base + s], heapTokens[base + s]) {
            worst = s
        }
        stats[f].tokenWorst = UInt8(worst)
        stats[f].tokenBar = heapActs[base + worst]
    }

    /// Example order: higher activation first, then earlier problem, then earlier position.
    @inline(__always)
    private static func exampleBeats(_ x: Example, _ y: Example) -> Bool {
        if x.act != y.act { return x.act > y.act }
        if x.problem != y.problem { return x.problem < y.problem }
        return x.position < y.position
    }

    private func example(_ f: Int, _ slot: Int) -> Example {
        let i = f * Self.examplesPerFeature + slot
        return Example(act: exampleActs[i], problem: exampleProblems[i], position: examplePositions[i])
    }

    @inline(__always)
    private func offerExample(feature f: Int, _ e: Example) {
        let n = Int(stats[f].exampleCount)
        let slot: Int
        if n < Self.examplesPerFeature {
            slot = n
            stats[f].exampleCount = UInt8(n + 1)
        } else {
            let w = Int(stats[f].exampleWorst)
            guard Self.exampleBeats(e, example(f, w)) else { return }
            slot = w
        }
        let i = f * Self.examplesPerFeature + slot
        exampleActs[i] = e.act
        exampleProblems[i] = e.problem
        examplePositions[i] = e.position
        if Int(stats[f].exampleCount) == Self.examplesPerFeature {
            var worst = 0
            for s in 1..<Self.examplesPerFeature where Self.exampleBeats(example(f, worst), example(f, s)) { worst = s }
            stats[f].exampleWorst = UInt8(worst)
            stats[f].exampleBar = exampleActs[f * Self.examplesPerFeature + worst]
        }
    }

    // MARK: - Merging

    /// Adds another table of a disjoint set of problems. Counts, maxima, the best-70 tokens
    /// and best-20 examples come out exactly as if both had been added to one table;
    /// `sumAct` up to floating-point rounding. Histograms must share their upper bound.
    public func merge(_ other: FeatureTable) throws {
        if let mine = histogram, let theirs = other.histogram {
            guard mine.upperBound == theirs.upperBound else {
                throw RunDataError(subject: "feature table merge", reason: "histograms have different upper bounds (\(mine.upperBound) vs \(theirs.upperBound))")
            }
            histogram!.merge(theirs)
        } else if other.histogram != nil || histogram != nil {
            throw RunDataError(subject: "feature table merge", reason: "one table has a histogram and the other does not")
        }
        grow(to: other.capacity)
        for f in 0..<other.capacity where other.stats[f].tokens > 0 {
            let theirs = other.stats[f]
            stats[f].tokens += theirs.tokens
            stats[f].tokensReasoning += theirs.tokensReasoning
            stats[f].tokensAnswer += theirs.tokensAnswer
            stats[f].maxAct = max(stats[f].maxAct, theirs.maxAct)
            stats[f].sumAct += theirs.sumAct
            inferences[f] += other.inferences[f]
            inferencesCorrect[f] += other.inferencesCorrect[f]
            inferencesWrong[f] += other.inferencesWrong[f]
            topActInferences[f] += other.topActInferences[f]
            topFreqInferences[f] += other.topFreqInferences[f]
            let base = f * Self.tokenStride
            for s in 0..<Int(theirs.tokenCount) {
                offerToken(feature: f, token: other.heapTokens[base + s], act: other.heapActs[base + s])
            }
            for s in 0..<Int(theirs.exampleCount) {
                offerExample(feature: f, other.example(f, s))
            }
        }
    }

    // MARK: - Reading

    /// Features that fired, sorted by tokens (descending) then feature id: the rows of features.csv.
    public func rows() -> [Row] {
        var out: [Row] = []
        for f in 0..<capacity where stats[f].tokens > 0 {
            out.append(row(f))
        }
        out.sort { $0.tokens != $1.tokens ? $0.tokens > $1.tokens : $0.feature < $1.feature }
        return out
    }

    public func row(_ f: Int) -> Row {
        guard f < capacity else {
            return Row(feature: f, tokens: 0, tokensReasoning: 0, tokensAnswer: 0, inferences: 0, inferencesCorrect: 0,
                       inferencesWrong: 0, topActInferences: 0, topFreqInferences: 0, maxAct: 0, sumAct: 0)
        }
        let st = stats[f]
        return Row(feature: f, tokens: Int(st.tokens), tokensReasoning: Int(st.tokensReasoning), tokensAnswer: Int(st.tokensAnswer),
                   inferences: Int(inferences[f]), inferencesCorrect: Int(inferencesCorrect[f]), inferencesWrong: Int(inferencesWrong[f]),
                   topActInferences: Int(topActInferences[f]), topFreqInferences: Int(topFreqInferences[f]),
                   maxAct: st.maxAct, sumAct: st.sumAct)
    }

    /// The feature's best tokens with their maximum activation, best first (ties: lower token id).
    public func topTokens(_ f: Int) -> [(token: Int32, maxAct: Float)] {
        guard f < capacity else { return [] }
        let base = f * Self.tokenStride
        return (0..<Int(stats[f].tokenCount)).map { (heapTokens[base + $0], heapActs[base + $0]) }
            .sorted { Self.tokenBeats($0.1, $0.0, $1.1, $1.0) }
    }

    /// The feature's highest-activating positions, best first (ties: earlier problem, then position).
    public func examples(_ f: Int) -> [Example] {
        guard f < capacity else { return [] }
        return (0..<Int(stats[f].exampleCount)).map { example(f, $0) }.sorted(by: Self.exampleBeats)
    }
}

/// Counts of positive activations in 50 equal-width bins over [0, upperBound]: bin i holds
/// activations a with i ≤ 50·a/upperBound < i+1; the maximum itself falls in the last bin.
public struct ActivationHistogram: Sendable, Equatable {
    public static let binCount = 50
    public let upperBound: Float
    public private(set) var counts: [Int64]

    public init(upperBound: Float) {
        self.upperBound = upperBound
        counts = [Int64](repeating: 0, count: Self.binCount)
    }

    @inline(__always)
    public mutating func add(_ a: Float) {
        guard a > 0, upperBound > 0 else { return }
        let bin = Int(Double(a) * Double(Self.binCount) / Double(upperBound))
        counts[min(max(bin, 0), Self.binCount - 1)] += 1
    }

    public mutating func merge(_ other: ActivationHistogram) {
        for i in 0..<Self.binCount { counts[i] += other.counts[i] }
    }

    public func bounds(_ bin: Int) -> (lo: Double, hi: Double) {
        (Double(upperBound) * Double(bin) / Double(Self.binCount), Double(upperBound) * Double(bin + 1) / Double(Self.binCount))
    }
}
