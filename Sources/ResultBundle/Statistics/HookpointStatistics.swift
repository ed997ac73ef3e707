import Experiment
import Foundation
import Platform

/// What every hookpoint shares about one problem: where the reasoning-word windows are.
struct ProblemWindows: Sendable {
    let id: String
    /// Prompt + generation, for the examples' contexts.
    let tokens: [Int32]
    let promptLength: Int
    let generated: Int
    let verdict: Verdict
    /// For generated token j, the words whose windows cover it: `words[start[j]..<start[j+1]]`.
    /// Both empty when the problem has no window.
    let start: [Int32]
    let words: [Int32]

    func wordsCovering(_ j: Int) -> Range<Int> {
        start.isEmpty ? 0..<0 : Int(start[j])..<Int(start[j + 1])
    }
}

/// Everything the statistics write for one hookpoint.
struct HookpointStatisticsResult {
    var features: [Int: FeatureStatistics] = [:]
    /// cooccurrence.csv's rows, in file order.
    var cooccurrence: [(feature: Int, partner: Int, both: Int, jaccard: Double)] = []
    /// The quantile examples, in file order; `example.problem` is the problem's ordinal.
    var quantileExamples: [(feature: Int, quantile: Int, rank: Int, example: FeatureTable.Example)] = []
}

/// Computes `FeatureStatistics` for one hookpoint in a fixed order over the bundle (problems
/// in bundle order, rows in file order), so the result depends on the bundle's content and
/// the settings only.
struct HookpointStatistics {
    static let segmentMinimumProblems = 5
    static let bootstrapResamples = 2_000
    static let stream: (segment: UInt64, bootstrap: UInt64, quantiles: UInt64) = (1, 2, 3)
    /// Co-occurrence and quantile examples cover this many of the most frequent features.
    static let frequentFeatures = 1_000
    static let cooccurrenceMinimumJaccard = 0.05
    static let cooccurrencePartners = 50
    static let quantileCount = 10
    static let examplesPerQuantile = 2

    let hookpoint: String
    let columns: LatentColumns
    let rowRanges: [Range<Int>]
    let problems: [ProblemWindows]
    /// Per word, whether it occurs anywhere in the bundle.
    let wordOccurs: [Bool]
    let settings: StatisticsSettings
    /// features.csv's rows: feature id, tokens, inferences, inferences_correct, inferences_wrong.
    let featureRows: [(feature: Int, tokens: Int, inferences: Int, correct: Int, wrong: Int)]
    /// Called once the passes over the latents are done.
    var releasePages: () -> Void = {}

    /// A random stream per hookpoint, test and feature, fixed by the run seed alone.
    static func generator(seed: UInt64, hookpoint: String, stream: UInt64, feature: Int) -> SplitMix64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a of the hookpoint name
        for b in hookpoint.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        var g = SplitMix64(seed: seed ^ h)
        g.state ^= stream &* 0xD1B5_4A32_D192_ED03 ^ UInt64(bitPattern: Int64(feature)) &* 0x9E37_79B9_7F4A_7C15
        _ = g.next()
        return g
    }

    func compute(timings: inout StatisticsTimings) throws -> HookpointStatisticsResult {
        let featureLimit = (featureRows.map(\.feature).max() ?? -1) + 1
        let F = featureLimit, W = settings.words.words.count, k = columns.k
        var clock = MonotonicClock.now()
        func lap(_ name: String) {
            let now = MonotonicClock.now()
            timings.add(name, now - clock)
            clock = now
        }

        // Pass 1, problems in order: sums inside and outside the windows, per word, per problem
        // segment shares, each problem's top features by maximum activation.
        // Per feature (latent id) unless said otherwise; raw buffers, as these are touched
        // for every activation of the bundle.
        let acc = ScratchBuffer<PositionSums>(F, PositionSums())
        // The most frequent features (features.csv order): pair counts and every activation.
        let frequent = featureRows.prefix(Self.frequentFeatures).map(\.feature)
        let slotOf = ScratchBuffer<Int32>(F, -1)
        for (i, f) in frequent.enumerated() { slotOf[f] = Int32(i) }
        let pairs = ScratchBuffer<UInt32>(frequent.count * frequent.count, 0)  // [slot, slot], upper triangle
        let rowSlots = ScratchBuffer<Int32>(k, 0)
        var rowSlotCount = 0
        // Per frequent feature, (activation bits << 32 | row) of every generated position where it
        // fired (positive floats order as their bits), in one buffer: slot i owns
        // activationStart[i] ..< activationStart[i] + its features.csv `tokens`, an upper bound.
        var activationStart = [Int](repeating: 0, count: frequent.count + 1)
        for (i, row) in featureRows.prefix(frequent.count).enumerated() { activationStart[i + 1] = activationStart[i] + row.tokens }
        let activations = ScratchBuffer<UInt64>(activationStart[frequent.count], 0)
        let activationCount = ScratchBuffer<Int>(frequent.count, 0)
        let sumWord = ScratchBuffer<Double>(W * F, 0)                 // [word, feature]
        var generatedRows = 0, rowsIn = 0, rowsOut = 0
        var rowsWord = [Int](repeating: 0, count: W)
        var segmentProblems = 0
        let segmentFiring = ScratchBuffer<Int>(F, 0), sumDifference = ScratchBuffer<Double>(F, 0)
        // Per feature, its non-zero differences in problem order, in one buffer: feature f owns
        // differenceStart[f] ..< differenceStart[f + 1], sized by its features.csv `inferences`.
        var differenceStart = [Int](repeating: 0, count: F + 1)
        for row in featureRows { differenceStart[row.feature + 1] = row.inferences }
        for f in 0..<F { differenceStart[f + 1] += differenceStart[f] }
        let differences = ScratchBuffer<Float>(differenceStart[F], 0)
        let differenceCount = ScratchBuffer<Int>(F, 0)
        var topFeatures: [[Int32]] = []
        topFeatures.reserveCapacity(problems.count)
        var touchedAll: [Int32] = [], touchedGenerated: [Int32] = []
        for (p, facts) in problems.enumerated() {
            var reasoningRows = 0, answerRows = 0
            for r in rowRanges[p] {
                // Prompt rows (of an --include-prompt run) count only towards the problem's top features.
                let segment = columns.segment(r)
                let generated = segment != TokenSegment.prompt.rawValue
                var covering = 0..<0
                var inside = false, reasoning = false
                if generated {
                    let g = Int(columns.position(r)) - facts.promptLength
                    guard g >= 0, g < facts.generated else {
                        throw RunDataError(subject: "latents/\(hookpoint).safetensors row \(r)", reason: "position \(columns.position(r)) is marked generated but lies outside problem \(p + 1)'s generation (prompt \(facts.promptLength), generated \(facts.generated) tokens); latents/index.csv and inferences.jsonl disagree")
                    }
                    generatedRows += 1
                    covering = facts.wordsCovering(g)
                    inside = !covering.isEmpty
                    if inside { rowsIn += 1 } else { rowsOut += 1 }
                    for c in covering { rowsWord[Int(facts.words[c])] += 1 }
                    reasoning = segment == TokenSegment.reasoning.rawValue
                    if reasoning { reasoningRows += 1 } else { answerRows += 1 }
                }
                for j in 0..<k {
                    let a = columns.act(r, j)
                    guard a > 0 else { break }
                    let f = Int(columns.index(r, j))
                    guard f < F else {
                        throw RunDataError(subject: "latents/\(hookpoint).safetensors row \(r)", reason: "latent \(f) fired but tables/\(hookpoint)/features.csv does not list it; the tables and latents disagree (rewrite the bundle with thinklens merge)")
                    }
                    let sums = acc.pointer + f
                    if sums.pointee.problemMax == 0 { touchedAll.append(Int32(f)) }
                    if a > sums.pointee.problemMax { sums.pointee.problemMax = a }
                    guard generated else { continue }
                    let x = Double(a)
                    sums.pointee.sum += x
                    sums.pointee.fired += 1
                    if inside { sums.pointee.sumIn += x } else { sums.pointee.sumOut += x }
                    for c in covering { sumWord[Int(facts.words[c]) * F + f] += x }
                    if sums.pointee.countReasoning == 0 && sums.pointee.countAnswer == 0 { touchedGenerated.append(Int32(f)) }
                    if reasoning { sums.pointee.countReasoning += 1 } else { sums.pointee.countAnswer += 1 }
                    let slot = slotOf.pointer[f]
                    if slot >= 0 {
                        rowSlots.pointer[rowSlotCount] = slot
                        rowSlotCount += 1
                        let i = Int(slot), used = activationCount.pointer[i]
                        guard activationStart[i] + used < activationStart[i + 1] else {
                            throw RunDataError(subject: "tables/\(hookpoint)/features.csv", reason: "feature \(f) fired at more positions than its tokens column says; the tables and latents disagree")
                        }
                        activations.pointer[activationStart[i] + used] = UInt64(a.bitPattern) << 32 | UInt64(r)
                        activationCount.pointer[i] = used + 1
                    }
                }
                if rowSlotCount > 1 {
                    let n = frequent.count
                    for x in 0..<(rowSlotCount - 1) {
                        let sx = rowSlots.pointer[x]
                        for y in (x + 1)..<rowSlotCount {
                            let sy = rowSlots.pointer[y]
                            pairs.pointer[Int(min(sx, sy)) * n + Int(max(sx, sy))] += 1
                        }
                    }
                }
                rowSlotCount = 0
            }
            topFeatures.append(bestItems(FeatureTable.featuresPerProblem, of: touchedAll) { a, b in
                let x = acc.pointer[Int(a)].problemMax, y = acc.pointer[Int(b)].problemMax
                return x != y ? x > y : a < b
            })
            if reasoningRows > 0 && answerRows > 0 {
                segmentProblems += 1
                for f32 in touchedGenerated {
                    let f = Int(f32)
                    let d = Double(acc.pointer[f].countReasoning) / Double(reasoningRows) - Double(acc.pointer[f].countAnswer) / Double(answerRows)
                    segmentFiring[f] += 1
                    sumDifference[f] += d
                    if d != 0 {
                        // At most one per problem where it fired: within its `inferences`.
                        differences.pointer[differenceStart[f] + differenceCount.pointer[f]] = Float(d)
                        differenceCount.pointer[f] += 1
                    }
                }
            }
            for f in touchedAll { acc.pointer[Int(f)].problemMax = 0 }
            for f in touchedGenerated { acc.pointer[Int(f)].countReasoning = 0; acc.pointer[Int(f)].countAnswer = 0 }
            touchedAll.removeAll(keepingCapacity: true)
            touchedGenerated.removeAll(keepingCapacity: true)
        }
        lap("pass over positions")

        var result = HookpointStatisticsResult()
        result.cooccurrence = cooccurrence(frequent: frequent, pairs: pairs, sums: acc)
        result.quantileExamples = quantileExamples(frequent: frequent, activations: activations, start: activationStart, count: activationCount)
        lap("co-occurrence and quantiles")

        var out: [Int: FeatureStatistics] = [:]
        for row in featureRows { out[row.feature] = FeatureStatistics() }

        // Token dependence: η² from sums per (token, feature), generated rows grouped by token.
        if generatedRows > 0 {
            let eta = tokenEta2(featureLimit: F, sums: acc, generatedRows: generatedRows)
            releasePages()
            for row in featureRows { out[row.feature]!.tokenEta2 = eta[row.feature] }
        }
        lap("token dependence")

        // ReasonScore.
        if generatedRows > 0 {
            var muIn = [Double](repeating: 0, count: F), muOut = muIn
            var totalIn = 0.0, totalOut = 0.0
            for f in 0..<F {
                muIn[f] = rowsIn > 0 ? acc.pointer[f].sumIn / Double(rowsIn) : 0
                muOut[f] = rowsOut > 0 ? acc.pointer[f].sumOut / Double(rowsOut) : 0
                totalIn += muIn[f]
                totalOut += muOut[f]
            }
            let occurring = (0..<W).filter { wordOccurs[$0] }
            for row in featureRows {
                let f = row.feature
                var entropy = 0.0
                if occurring.count >= 2 {
                    let means = occurring.map { rowsWord[$0] > 0 ? sumWord[$0 * F + f] / Double(rowsWord[$0]) : 0 }
                    let total = means.reduce(0, +)
                    if total > 0 {
                        for m in means where m > 0 { entropy -= m / total * Foundation.log(m / total) }
                        entropy /= Foundation.log(Double(occurring.count))
                    }
                }
                let share = totalIn > 0 ? muIn[f] / totalIn : 0
                let outside = totalOut > 0 ? muOut[f] / totalOut : 0
                out[f]!.reasonMuIn = muIn[f]
                out[f]!.reasonMuOut = muOut[f]
                out[f]!.reasonEntropy = entropy
                out[f]!.reasonScore = share * Foundation.pow(entropy, settings.alpha) - outside
            }
        }
        lap("reason score")

        // Reasoning vs answer segment: sign-flip tests, then Benjamini–Hochberg.
        let segmentTested = featureRows.map(\.feature).filter { segmentFiring[$0] >= Self.segmentMinimumProblems }.sorted()
        var segmentP = [Double](repeating: 1, count: segmentTested.count)
        segmentP.withUnsafeMutableBufferPointer { results in
            let results = UnsafeSendable(results)
            let differences = UnsafeSendable(differences.pointer), counts = UnsafeSendable(differenceCount.pointer)
            let start = differenceStart, seed = settings.seed, hookpoint = hookpoint, problems = segmentProblems
            DispatchQueue.concurrentPerform(iterations: segmentTested.count) { i in
                let f = segmentTested[i]
                var g = Self.generator(seed: seed, hookpoint: hookpoint, stream: Self.stream.segment, feature: f)
                let d = UnsafeBufferPointer(start: differences.value + start[f], count: counts.value[f]).map(Double.init)
                results.value[i] = SignFlipTest.pValue(nonZero: d, problems: problems, generator: &g)
            }
        }
        for (i, q) in BenjaminiHochberg.adjust(segmentP).enumerated() {
            let f = segmentTested[i]
            out[f]!.segmentDiff = sumDifference[f] / Double(segmentProblems)
            out[f]!.segmentP = segmentP[i]
            out[f]!.segmentQ = q
        }
        lap("segment tests")

        // Correct vs wrong: exact label-shuffle p-values of the log odds ratio, then BH.
        let correct = problems.filter { $0.verdict == .correct }.count, wrong = problems.filter { $0.verdict == .wrong }.count
        if LogOddsRatio.sampleTooSmall(correct: correct, wrong: wrong) == nil {
            let tested = featureRows.filter { $0.correct + $0.wrong >= LogOddsRatio.minimumFiringProblems }.sorted { $0.feature < $1.feature }
            var p = [Double](repeating: 1, count: tested.count)
            let test = LabelShuffleTest(correct: correct, wrong: wrong)
            p.withUnsafeMutableBufferPointer { results in
                let results = UnsafeSendable(results)
                DispatchQueue.concurrentPerform(iterations: tested.count) { i in
                    results.value[i] = test.pValue(firedCorrect: tested[i].correct, firedWrong: tested[i].wrong)
                }
            }
            for (i, q) in BenjaminiHochberg.adjust(p).enumerated() {
                out[tested[i].feature]!.correctWrongP = p[i]
                out[tested[i].feature]!.correctWrongQ = q
            }
        }
        lap("correct-wrong tests")

        // Bootstrap interval of the share of problems where the feature is a top-10 feature.
        let interval = topActInterval(topFeatures: topFeatures, featureLimit: F)
        for row in featureRows { out[row.feature]!.topActLow = interval[row.feature].low; out[row.feature]!.topActHigh = interval[row.feature].high }
        lap("bootstrap")
        result.features = out
        return result
    }

    /// For each frequent feature, its partners among them with Jaccard index (positions where
    /// both fire / positions where either fires, over generated positions) ≥ 0.05: highest
    /// first (ties: lower id), at most 50.
    private func cooccurrence(frequent: [Int], pairs: ScratchBuffer<UInt32>, sums: ScratchBuffer<PositionSums>)
        -> [(feature: Int, partner: Int, both: Int, jaccard: Double)] {
        let n = frequent.count
        var out: [(feature: Int, partner: Int, both: Int, jaccard: Double)] = []
        var candidates: [(partner: Int, both: Int, jaccard: Double)] = []
        for a in 0..<n {
            candidates.removeAll(keepingCapacity: true)
            let fa = frequent[a]
            for b in 0..<n where b != a {
                let both = Int(pairs[min(a, b) * n + max(a, b)])
                guard both > 0 else { continue }
                let fb = frequent[b]
                let jaccard = Double(both) / Double(sums.pointer[fa].fired + sums.pointer[fb].fired - both)
                if jaccard >= Self.cooccurrenceMinimumJaccard { candidates.append((fb, both, jaccard)) }
            }
            let best = bestItems(Self.cooccurrencePartners, of: candidates) { x, y in
                x.jaccard != y.jaccard ? x.jaccard > y.jaccard : x.partner < y.partner
            }
            for c in best { out.append((fa, c.partner, c.both, c.jaccard)) }
        }
        return out
    }

    /// Per frequent feature, its activations over generated positions in ascending order (ties:
    /// earlier row) cut into 10 bins of equal count (bin q holds ranks ⌊q·n/10⌋ ..< ⌊(q+1)·n/10⌋);
    /// from each, 2 positions drawn at random without replacement (fewer when the bin is
    /// smaller), listed in ascending order of activation.
    private func quantileExamples(frequent: [Int], activations: ScratchBuffer<UInt64>, start: [Int], count: ScratchBuffer<Int>)
        -> [(feature: Int, quantile: Int, rank: Int, example: FeatureTable.Example)] {
        var out: [(feature: Int, quantile: Int, rank: Int, example: FeatureTable.Example)] = []
        func problem(_ row: Int) -> Int32 {
            // Rows are in problem order: bisect the ranges.
            var lo = 0, hi = rowRanges.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if rowRanges[mid].upperBound <= row { lo = mid + 1 } else { hi = mid }
            }
            return Int32(lo)
        }
        for (slot, f) in frequent.enumerated() {
            var entries = UnsafeMutableBufferPointer(start: activations.pointer + start[slot], count: count[slot])
            entries.sort()
            let n = entries.count
            guard n > 0 else { continue }
            var g = Self.generator(seed: settings.seed, hookpoint: hookpoint, stream: Self.stream.quantiles, feature: f)
            for q in 0..<Self.quantileCount {
                let lo = q * n / Self.quantileCount, hi = (q + 1) * n / Self.quantileCount
                let size = hi - lo
                guard size > 0 else { continue }
                var picks: [Int]
                if size <= Self.examplesPerQuantile {
                    picks = Array(lo..<hi)
                } else {
                    let i = g.below(size)
                    var j = g.below(size - 1)
                    if j >= i { j += 1 }
                    picks = [lo + min(i, j), lo + max(i, j)]
                }
                for (rank, index) in picks.enumerated() {
                    let entry = entries[index]
                    let row = Int(entry & 0xFFFF_FFFF)
                    let act = Float(bitPattern: UInt32(entry >> 32))
                    out.append((f, q, rank, FeatureTable.Example(act: act, problem: problem(row), position: columns.position(row))))
                }
            }
        }
        return out
    }

    /// η² per feature over the generated rows: between-token over total sum of squares, each
    /// as a sum of deviations (not a difference of raw moments, which cancels badly).
    private func tokenEta2(featureLimit F: Int, sums: ScratchBuffer<PositionSums>, generatedRows n: Int) -> [Double?] {
        let k = columns.k
        // Generated rows grouped by token (counting sort, rows in file order within a token).
        var largestToken: Int32 = 0
        var generated: [Int32] = []
        generated.reserveCapacity(n)
        for p in rowRanges.indices {
            for r in rowRanges[p] where columns.segment(r) != TokenSegment.prompt.rawValue {
                generated.append(Int32(r))
                largestToken = max(largestToken, columns.token(r))
            }
        }
        var groupStart = [Int](repeating: 0, count: Int(largestToken) + 2)
        for r in generated { groupStart[Int(max(0, columns.token(Int(r)))) + 1] += 1 }
        for t in 1..<groupStart.count { groupStart[t] += groupStart[t - 1] }
        var fill = groupStart
        var byToken = [Int32](repeating: 0, count: generated.count)
        for r in generated {
            let t = Int(max(0, columns.token(Int(r))))
            byToken[fill[t]] = r
            fill[t] += 1
        }
        generated = []; fill = []

        // One 48-byte record per feature, so an activation touches one cache line.
        struct Deviations {
            var mean = 0.0, within = 0.0, between = 0.0, groupSum = 0.0
            var covered = 0
            var inGroup: Int32 = -1
        }
        let dev = ScratchBuffer<Deviations>(F, Deviations())
        for f in 0..<F { dev.pointer[f].mean = sums.pointer[f].sum / Double(n) }
        var touched: [Int32] = []
        for t in 0..<(groupStart.count - 1) where groupStart[t + 1] > groupStart[t] {
            let size = groupStart[t + 1] - groupStart[t]
            for slot in groupStart[t]..<groupStart[t + 1] {
                let r = Int(byToken[slot])
                for j in 0..<k {
                    let a = columns.act(r, j)
                    guard a > 0 else { break }
                    let f = Int(columns.index(r, j)), x = Double(a)
                    if dev.pointer[f].inGroup != Int32(t) { dev.pointer[f].inGroup = Int32(t); dev.pointer[f].groupSum = 0; touched.append(Int32(f)) }
                    let d = x - dev.pointer[f].mean
                    dev.pointer[f].groupSum += x
                    dev.pointer[f].within += d * d
                }
            }
            for f32 in touched {
                let f = Int(f32)
                let deviation = dev.pointer[f].groupSum - Double(size) * dev.pointer[f].mean
                dev.pointer[f].between += deviation * deviation / Double(size)
                dev.pointer[f].covered += size
            }
            touched.removeAll(keepingCapacity: true)
        }
        var eta = [Double?](repeating: nil, count: F)
        for f in 0..<F where sums.pointer[f].fired > 0 {
            let m2 = dev.pointer[f].mean * dev.pointer[f].mean
            let total = dev.pointer[f].within + Double(n - sums.pointer[f].fired) * m2
            let explained = dev.pointer[f].between + Double(n - dev.pointer[f].covered) * m2
            if total > 0 { eta[f] = min(1, max(0, explained / total)) }
        }
        return eta
    }

    /// Percentile bootstrap over problems: 2,000 resamples of the problems (with replacement,
    /// one seeded stream, shared by all features), in each the share of resampled problems
    /// where the feature is among the problem's 10 features of highest maximum activation;
    /// the interval is the 2.5th and 97.5th percentiles (the 50th and 1,950th of the sorted shares).
    private func topActInterval(topFeatures: [[Int32]], featureLimit F: Int) -> [(low: Double, high: Double)] {
        let n = topFeatures.count, B = Self.bootstrapResamples
        var result = [(low: Double, high: Double)](repeating: (0, 0), count: F)
        guard n > 0 else { return result }
        var slot = [Int](repeating: -1, count: F)
        var listed: [Int] = []
        for list in topFeatures { for f in list where slot[Int(f)] < 0 { slot[Int(f)] = listed.count; listed.append(Int(f)) } }
        let width = listed.count
        guard width > 0 else { return result }
        var counts = [UInt32](repeating: 0, count: B * width)
        var g = Self.generator(seed: settings.seed, hookpoint: hookpoint, stream: Self.stream.bootstrap, feature: -1)
        let topSlots = topFeatures.map { $0.map { slot[Int($0)] } }
        counts.withUnsafeMutableBufferPointer { counts in
            for b in 0..<B {
                let base = b * width
                for _ in 0..<n {
                    for s in topSlots[g.below(n)] { counts[base + s] += 1 }
                }
            }
        }
        let lowRank = Int((0.025 * Double(B)).rounded(.up)) - 1, highRank = Int((0.975 * Double(B)).rounded(.up)) - 1
        var column = [UInt32](repeating: 0, count: B)
        for (s, f) in listed.enumerated() {
            for b in 0..<B { column[b] = counts[b * width + s] }
            column.sort()
            result[f] = (Double(column[lowRank]) / Double(n), Double(column[highRank]) / Double(n))
        }
        return result
    }
}

/// What pass 1 accumulates per feature, in one 48-byte record so that an activation costs one
/// cache line: sums over the generated positions (all, inside and outside the reasoning-word
/// windows), how many fired, and the problem being added's segment counts and maximum.
struct PositionSums {
    var sum = 0.0, sumIn = 0.0, sumOut = 0.0
    var fired = 0
    var countReasoning: Int32 = 0, countAnswer: Int32 = 0
    var problemMax: Float = 0
}
