import Experiment
import Foundation
import TestSupport
@testable import ResultBundle

/// Hand-made bundles for the statistics tests: every generated token is written as text, every
/// activation by hand, and `Reference` recomputes each statistic from these dense values
/// with the textbook formulas, independently of the bundle code.
enum StatisticsFixtures {
    struct Problem {
        /// Generated token texts; the prompt is one token ("P") that is not captured.
        var texts: [String]
        /// Index in `texts` of the `</think>` token, or nil.
        var thinkEnd: Int?
        var verdict: Verdict
        /// Per generated token, feature → activation (> 0).
        var acts: [[Int: Float]]
        /// The prompt token's activations when the run captured the prompt (--include-prompt).
        var promptActs: [Int: Float]? = nil
    }

    static let hookpoint = "h"
    static let promptText = "P"

    /// Token ids: the prompt token is 1, the others 100, 101, ... in sorted text order.
    static func tokenIDs(_ problems: [Problem]) -> [String: Int32] {
        var ids: [String: Int32] = [promptText: 1]
        for (n, text) in Set(problems.flatMap(\.texts)).sorted().enumerated() { ids[text] = Int32(100 + n) }
        return ids
    }

    static func tasks(_ problems: [Problem]) -> [CommittedTask] {
        let ids = tokenIDs(problems)
        // One k for the whole run, as a real run has.
        let k = max(1, problems.flatMap { $0.acts.map(\.count) + [$0.promptActs?.count ?? 0] }.max() ?? 1)
        return problems.enumerated().map { index, p in
            let generated = p.texts.map { ids[$0]! }
            let record = ProblemRecord(id: "gsm8k:test:\(index)", split: "test", index: index, question: "q\(index)", gold: "1",
                                       promptIDs: [1], generatedIDs: generated, text: p.texts.joined(), stop: .eos, answer: "1",
                                       verdict: p.verdict, thinkEnd: p.thinkEnd.map { $0 + 1 })
            var indices: [Int32] = [], acts: [Float] = []
            let captured = (p.promptActs.map { [$0] } ?? []) + p.acts
            for row in captured {
                let sorted = row.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                for (f, a) in sorted { indices.append(Int32(f)); acts.append(a) }
                for j in sorted.count..<k { indices.append(Int32(9_000 + j)); acts.append(0) }
            }
            let positions = ((p.promptActs == nil ? 1 : 0)...p.texts.count).map { Int32($0) }
            let latents = LatentRows(k: k, positions: positions, tokens: positions.map { record.token(at: Int($0)) }, indices: indices, activations: acts, record: record)
            return CommittedTask(record: record, latents: [hookpoint: latents])
        }
    }

    /// Writes the bundle (tables and statistics with the default settings) into `out`.
    static func bundle(_ problems: [Problem], out: String) throws -> String {
        let store = try RunStore(outDirectory: out)
        for task in tasks(problems).reversed() { _ = try store.commit(task) }
        var texts: [Int32: String] = [:]
        for (text, id) in tokenIDs(problems) { texts[id] = text }
        try store.writeBundle(manifest: BundleFixtures.manifest(selected: [], hookpoints: [hookpoint]), run: .null,
                              decoder: TokenTextTable(texts: texts))
        return out
    }

    /// features.csv as feature → column → cell text.
    static func features(_ bundle: String) throws -> [Int: [String: String]] {
        let text = try String(contentsOfFile: bundle + "/tables/\(hookpoint)/features.csv", encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        var out: [Int: [String: String]] = [:]
        for line in lines.dropFirst() {
            var row: [String: String] = [:]
            for (name, cell) in zip(lines[0], line) { row[name] = cell }
            out[Int(line[0])!] = row
        }
        return out
    }

    /// Textbook computations over the dense activations of all generated positions.
    struct Reference {
        let problems: [Problem]

        /// Every generated position in bundle order: (problem, index, token text, activations).
        var positions: [(problem: Int, index: Int, text: String, acts: [Int: Float])] {
            problems.enumerated().flatMap { p, problem in problem.texts.indices.map { (p, $0, problem.texts[$0], problem.acts[$0]) } }
        }

        func act(_ acts: [Int: Float], _ f: Int) -> Double { Double(acts[f] ?? 0) }

        /// η² = Σ_t n_t (m_t − m)² / Σ (a − m)².
        func eta2(_ f: Int) -> Double? {
            let all = positions
            let values = all.map { act($0.acts, f) }
            guard values.contains(where: { $0 > 0 }) else { return nil }
            let mean = values.reduce(0, +) / Double(values.count)
            let total = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            guard total > 0 else { return nil }
            var byToken: [String: [Double]] = [:]
            for (position, value) in zip(all, values) { byToken[position.text, default: []].append(value) }
            let between = byToken.values.reduce(0.0) { sum, group in
                let m = group.reduce(0, +) / Double(group.count)
                return sum + Double(group.count) * (m - mean) * (m - mean)
            }
            return between / total
        }

        /// ReasonScore from windows given by hand: word → [(problem, generated indices)].
        func reasonScore(_ f: Int, features: [Int], windows: [String: [(problem: Int, indices: ClosedRange<Int>)]], alpha: Double)
            -> (score: Double, muIn: Double, muOut: Double, entropy: Double) {
            var inside = Set<[Int]>()
            for list in windows.values { for w in list { for i in w.indices { inside.insert([w.problem, i]) } } }
            func means(_ g: Int) -> (Double, Double) {
                var sumIn = 0.0, nIn = 0.0, sumOut = 0.0, nOut = 0.0
                for p in positions {
                    if inside.contains([p.problem, p.index]) { sumIn += act(p.acts, g); nIn += 1 } else { sumOut += act(p.acts, g); nOut += 1 }
                }
                return (nIn > 0 ? sumIn / nIn : 0, nOut > 0 ? sumOut / nOut : 0)
            }
            let (muIn, muOut) = means(f)
            let totalIn = features.reduce(0.0) { $0 + means($1).0 }, totalOut = features.reduce(0.0) { $0 + means($1).1 }
            var wordMeans: [Double] = []
            for list in windows.values {
                var covered = Set<[Int]>()
                for w in list { for i in w.indices { covered.insert([w.problem, i]) } }
                let sum = positions.filter { covered.contains([$0.problem, $0.index]) }.reduce(0.0) { $0 + act($1.acts, f) }
                wordMeans.append(sum / Double(covered.count))
            }
            var entropy = 0.0
            let total = wordMeans.reduce(0, +)
            if wordMeans.count >= 2, total > 0 {
                for m in wordMeans where m > 0 { entropy -= m / total * Foundation.log(m / total) }
                entropy /= Foundation.log(Double(wordMeans.count))
            }
            return (muIn / totalIn * Foundation.pow(entropy, alpha) - muOut / totalOut, muIn, muOut, entropy)
        }

        /// Per problem with both segments: share of reasoning tokens where f fires minus share of answer tokens.
        func segmentDifferences(_ f: Int) -> [Double] {
            problems.compactMap { p in
                guard let end = p.thinkEnd, end + 1 < p.texts.count else { return nil }
                let reasoning = p.acts[...end], answer = p.acts[(end + 1)...]
                return Double(reasoning.filter { ($0[f] ?? 0) > 0 }.count) / Double(reasoning.count)
                    - Double(answer.filter { ($0[f] ?? 0) > 0 }.count) / Double(answer.count)
            }
        }
    }

    /// Two-sided exact sign-flip p-value by listing all 2^n sign patterns.
    static func exactSignFlipP(_ d: [Double]) -> Double {
        let observed = abs(d.reduce(0, +))
        var extreme = 0
        for mask in 0..<(1 << d.count) {
            let s = d.indices.reduce(0.0) { $0 + ((mask >> $1) & 1 == 1 ? -d[$1] : d[$1]) }
            if abs(s) >= observed - 1e-12 { extreme += 1 }
        }
        return Double(extreme) / Double(1 << d.count)
    }

    /// Benjamini–Hochberg from its definition: q_i = min over p_j ≥ p_i of m·p_j / rank(p_j).
    static func bhByDefinition(_ p: [Double]) -> [Double] {
        let sorted = p.sorted()
        return p.map { pi in
            var best = 1.0
            for (j, pj) in sorted.enumerated() where pj >= pi { best = min(best, pj * Double(p.count) / Double(j + 1)) }
            return best
        }
    }
}
