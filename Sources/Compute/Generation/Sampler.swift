import Experiment
import Foundation

/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
/// counter-based generator. Output depends only on (key, counter), so any worker computes the
/// same number for the same sequence and step, with no state to carry.
public enum Philox4x32 {
    public static func block(counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
        var c = counter
        var k = key
        for round in 0..<10 {
            if round > 0 {
                k.0 &+= 0x9E37_79B9
                k.1 &+= 0xBB67_AE85
            }
            let p0 = UInt64(0xD251_1F53) * UInt64(c.0)
            let p1 = UInt64(0xCD9E_8D57) * UInt64(c.2)
            c = (UInt32(truncatingIfNeeded: p1 >> 32) ^ c.1 ^ k.0, UInt32(truncatingIfNeeded: p1),
                 UInt32(truncatingIfNeeded: p0 >> 32) ^ c.3 ^ k.1, UInt32(truncatingIfNeeded: p0))
        }
        return c
    }
}

/// The random stream of one sequence, keyed by (run seed, problem id) only: the draw for
/// generated token `step` is Philox4x32-10 with key = run seed (low, high 32 bits) and
/// counter = (step low, step high, FNV-1a-64(problem id) low, high); the first two output words
/// give a 53-bit uniform in [0, 1). A retried task reproduces its tokens on any worker, in any batch.
public struct SequenceRandom: Sendable, Equatable {
    public let runSeed: UInt64
    public let problemID: String
    let problemHash: UInt64

    public init(runSeed: UInt64, problemID: String) {
        self.runSeed = runSeed
        self.problemID = problemID
        problemHash = Self.fnv1a64(problemID)
    }

    /// FNV-1a over the UTF-8 bytes: stable across processes and platforms (unlike Swift's Hasher).
    public static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// The uniform draw for the token at `step` (0 = first generated token), in [0, 1).
    public func uniform(step: Int) -> Double {
        let s = UInt64(step)
        let out = Philox4x32.block(
            counter: (UInt32(truncatingIfNeeded: s), UInt32(truncatingIfNeeded: s >> 32),
                      UInt32(truncatingIfNeeded: problemHash), UInt32(truncatingIfNeeded: problemHash >> 32)),
            key: (UInt32(truncatingIfNeeded: runSeed), UInt32(truncatingIfNeeded: runSeed >> 32)))
        let bits = (UInt64(out.0) << 32 | UInt64(out.1)) >> 11
        return Double(bits) * 0x1p-53
    }
}

/// Picks next tokens from logits. Owns its scratch space (sized for the vocabulary once), so a
/// draw allocates nothing.
public final class Sampler {
    public let vocabularySize: Int
    private var candidates: [Int32]     // [vocab] token ids that survive the filters
    private var values: [Float]         // [vocab] their temperature-scaled logits
    private var heap: [Float]           // [topK] smallest-at-root heap for the k-th largest value

    public init(vocabularySize: Int) {
        self.vocabularySize = vocabularySize
        candidates = [Int32](repeating: 0, count: vocabularySize)
        values = [Float](repeating: 0, count: vocabularySize)
        heap = []
    }

    /// The first index of the largest logit (torch.argmax's choice on ties).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        var bestValue = logits[0]
        for i in 1..<logits.count where logits[i] > bestValue {
            best = i
            bestValue = logits[i]
        }
        return Int32(best)
    }

    /// One token: greedy when `parameters.isGreedy`, else the filtered distribution inverted at
    /// `uniform` (tokens in ascending id order).
    public func sample(_ logits: UnsafeBufferPointer<Float>, parameters: SamplingParameters, uniform: Double) -> Int32 {
        precondition(logits.count == vocabularySize)
        if parameters.isGreedy { return Self.argmax(logits) }
        let vocab = vocabularySize

        // Temperature (float32 division, as transformers' TemperatureLogitsWarper).
        var threshold = -Float.infinity
        let k = parameters.topK
        if k > 0 && k < vocab {
            // The k-th largest scaled logit; anything below it is dropped, ties at it are kept.
            if heap.count != k { heap = [Float](repeating: 0, count: k) }
            for i in 0..<k { heap[i] = logits[i] / parameters.temperature }
            buildMinHeap(count: k)
            for i in k..<vocab {
                let v = logits[i] / parameters.temperature
                if v > heap[0] { heap[0] = v; siftDown(0, count: k) }
            }
            threshold = heap[0]
        }
        var count = 0
        for i in 0..<vocab {
            let v = logits[i] / parameters.temperature
            if v >= threshold && v > -Float.infinity {
                candidates[count] = Int32(i)
                values[count] = v
                count += 1
            }
        }
        if count == 0 { return Self.argmax(logits) }

        let maximum = values[0..<count].max()!
        if parameters.topP < 1 {
            // transformers' TopPLogitsWarper: sort ascending, cumulative softmax, drop tokens whose
            // cumulative probability is <= 1 - top_p, always keep the most likely one.
            sortCandidatesAscending(count: count)
            var total: Float = 0
            for i in 0..<count { total += Foundation.exp(values[i] - maximum) }
            let cutoff = Float(1 - parameters.topP)
            var cumulative: Float = 0
            var firstKept = count - 1
            for i in 0..<count {
                cumulative += Foundation.exp(values[i] - maximum) / total
                if cumulative > cutoff { firstKept = i; break }
            }
            // Survivors are [firstKept, count); restore ascending id order for the draw.
            let kept = count - firstKept
            for i in 0..<kept {
                candidates[i] = candidates[firstKept + i]
                values[i] = values[firstKept + i]
            }
            count = kept
            sortCandidatesByID(count: count)
        }

        // Softmax over the survivors and inversion of the cumulative distribution, in double.
        var total = 0.0
        for i in 0..<count { total += Foundation.exp(Double(values[i] - maximum)) }
        let target = uniform * total
        var cumulative = 0.0
        for i in 0..<count {
            cumulative += Foundation.exp(Double(values[i] - maximum))
            if cumulative > target { return candidates[i] }
        }
        return candidates[count - 1]
    }

    private func buildMinHeap(count: Int) {
        var i = count / 2 - 1
        while i >= 0 { siftDown(i, count: count); i -= 1 }
    }

    private func siftDown(_ start: Int, count: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < count && heap[l] < heap[smallest] { smallest = l }
            if r < count && heap[r] < heap[smallest] { smallest = r }
            if smallest == i { return }
            heap.swapAt(i, smallest)
            i = smallest
        }
    }

    /// Ascending by value, ties by ascending id: a deterministic stand-in for torch.sort.
    private func sortCandidatesAscending(count: Int) {
        sortCandidates(count: count) { (a: (Float, Int32), b: (Float, Int32)) in a.0 < b.0 || (a.0 == b.0 && a.1 < b.1) }
    }

    private func sortCandidatesByID(count: Int) {
        sortCandidates(count: count) { (a: (Float, Int32), b: (Float, Int32)) in a.1 < b.1 }
    }

    private func sortCandidates(count: Int, by less: ((Float, Int32), (Float, Int32)) -> Bool) {
        // Insertion sort for the usual top-k sized sets; a full sort otherwise.
        if count <= 64 {
            for i in 1..<max(count, 1) {
                let item = (values[i], candidates[i])
                var j = i - 1
                while j >= 0 && less(item, (values[j], candidates[j])) {
                    values[j + 1] = values[j]
                    candidates[j + 1] = candidates[j]
                    j -= 1
                }
                values[j + 1] = item.0
                candidates[j + 1] = item.1
            }
            return
        }
        var pairs = (0..<count).map { (values[$0], candidates[$0]) }
        pairs.sort(by: less)
        for i in 0..<count {
            values[i] = pairs[i].0
            candidates[i] = pairs[i].1
        }
    }
}
