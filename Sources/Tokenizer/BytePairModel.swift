/// A merge of two adjacent tokens into one, as in a BPE merges list.
public struct Merge: Hashable, Sendable {
    public var left: Int32
    public var right: Int32
    public var merged: Int32
}

/// Rank-based byte-pair encoding over byte tokens: start from one token per byte, then
/// repeatedly join the adjacent pair whose merge has the lowest priority (ties: leftmost),
/// exactly as Hugging Face's BPE model does.
struct BytePairModel {
    /// tokenBytes[id] = the raw bytes of token id (empty for ids the vocabulary lacks).  [vocabularySize]
    let tokenBytes: [[UInt8]]
    /// byteTokens[b] = id of the single-byte token for byte b, or -1.  [256]
    let byteTokens: [Int32]
    /// merges in priority order (index = priority).  [mergeCount]
    let merges: [Merge]
    let table: MergeTable
    /// Hugging Face's `ignore_merges`: a word that is itself a token skips merging.
    let ignoreMerges: Bool
    let idsByBytes: TokenIndex

    init(tokenBytes: [[UInt8]], idsByBytes: TokenIndex, merges: [Merge], ignoreMerges: Bool) {
        self.tokenBytes = tokenBytes
        self.idsByBytes = idsByBytes
        self.merges = merges
        self.ignoreMerges = ignoreMerges
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { byteTokens[b] = idsByBytes.id(for: [UInt8(b)]) ?? -1 }
        self.byteTokens = byteTokens
        var table = MergeTable(expectedCount: merges.count)
        for (priority, merge) in merges.enumerated() {
            table.insert(left: merge.left, right: merge.right, priority: Int32(priority), merged: merge.merged)
        }
        self.table = table
    }

    /// Appends the ids of one pre-tokenized piece to `ids`.
    func encode(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], scratch: inout BPEScratch) {
        if piece.count == 1 {
            let id = byteTokens[Int(piece[0])]
            if id >= 0 { ids.append(id) }
            return
        }
        if ignoreMerges, let id = idsByBytes.id(for: piece) {
            ids.append(id)
            return
        }
        scratch.symbols.removeAll(keepingCapacity: true)
        for b in piece {
            let id = byteTokens[Int(b)]
            // A byte with no token is dropped, as Hugging Face's BPE does without an unk token.
            if id >= 0 { scratch.symbols.append(id) }
        }
        if scratch.symbols.count > 64 {
            mergeLong(&scratch)
        } else {
            mergeShort(&scratch.symbols, &scratch.pairPriorities)
        }
        ids.append(contentsOf: scratch.symbols)
    }

    /// Quadratic scan over pair priorities; the fastest for the short words text is made of.
    private func mergeShort(_ symbols: inout [Int32], _ priorities: inout [UInt64]) {
        let none = UInt64.max
        priorities.removeAll(keepingCapacity: true)
        for k in 0..<max(symbols.count - 1, 0) {
            priorities.append(table.lookup(symbols[k], symbols[k + 1]) ?? none)
        }
        while !priorities.isEmpty {
            var best = 0
            var bestValue = priorities[0]
            for k in 1..<priorities.count where priorities[k] < bestValue {
                best = k
                bestValue = priorities[k]
            }
            if bestValue == none { break }
            symbols[best] = Int32(truncatingIfNeeded: bestValue & 0xFFFF_FFFF)
            symbols.remove(at: best + 1)
            priorities.remove(at: best)
            if best > 0 {
                priorities[best - 1] = table.lookup(symbols[best - 1], symbols[best]) ?? none
            }
            if best < priorities.count {
                priorities[best] = table.lookup(symbols[best], symbols[best + 1]) ?? none
            }
        }
    }

    /// Linked list plus a min-heap of candidate merges keyed by (priority, position): the same
    /// order as the quadratic scan, in O(n log n) for long runs (e.g. a line of 5,000 '=').
    private func mergeLong(_ scratch: inout BPEScratch) {
        let n = scratch.symbols.count
        var symbols = scratch.symbols
        var next = Array(1...n)  // n means none
        var previous = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()
        for k in 0..<(n - 1) {
            if let found = table.lookup(symbols[k], symbols[k + 1]) {
                heap.push(priority: found >> 32, position: k, merged: Int32(truncatingIfNeeded: found & 0xFFFF_FFFF))
            }
        }
        while let top = heap.pop() {
            let k = top.position
            guard alive[k], next[k] < n else { continue }
            let right = next[k]
            // Stale entry: one side changed since it was queued.
            guard let found = table.lookup(symbols[k], symbols[right]),
                  Int32(truncatingIfNeeded: found & 0xFFFF_FFFF) == top.merged else { continue }
            symbols[k] = top.merged
            alive[right] = false
            next[k] = next[right]
            if next[k] < n { previous[next[k]] = k }
            if previous[k] >= 0, let left = table.lookup(symbols[previous[k]], symbols[k]) {
                heap.push(priority: left >> 32, position: previous[k], merged: Int32(truncatingIfNeeded: left & 0xFFFF_FFFF))
            }
            if next[k] < n, let rightMerge = table.lookup(symbols[k], symbols[next[k]]) {
                heap.push(priority: rightMerge >> 32, position: k, merged: Int32(truncatingIfNeeded: rightMerge & 0xFFFF_FFFF))
            }
        }
        scratch.symbols.removeAll(keepingCapacity: true)
        var k = 0
        while k < n {
            scratch.symbols.append(symbols[k])
            k = next[k]
        }
    }
}

/// Buffers reused across words so the merge loop does not allocate.
struct BPEScratch {
    var symbols: [Int32] = []
    var pairPriorities: [UInt64] = []
}

/// Binary min-heap of candidate merges ordered by (priority, position).
private struct MinHeap {
    struct Entry {
        var priority: UInt64
        var position: Int
        var merged: Int32
        @inline(__always) func precedes(_ other: Entry) -> Bool {
            priority != other.priority ? priority < other.priority : position < other.position
        }
    }
    private var entries: [Entry] = []

    mutating func push(priority: UInt64, position: Int, merged: Int32) {
        entries.append(Entry(priority: priority, position: position, merged: merged))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = entries.first else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < entries.count else { break }
                var smallest = left
                if left + 1 < entries.count && entries[left + 1].precedes(entries[left]) { smallest = left + 1 }
                guard entries[smallest].precedes(entries[parent]) else { break }
                entries.swapAt(smallest, parent)
                parent = smallest
            }
        }
        return first
    }
}
