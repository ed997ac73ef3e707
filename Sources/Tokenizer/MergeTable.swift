/// Open-addressing hash table from a token pair (left id, right id) to the merge that joins
/// them: its priority (lower merges first) and the id of the merged token.
///
/// Swift's Dictionary hashes with SipHash; this table, probed with a multiplicative hash of
/// the packed pair, is what keeps the BPE loop fast.
struct MergeTable {
    // keys[slot] = left << 32 | right, or `empty`.  [capacity]
    private var keys: [UInt64]
    // values[slot] = priority << 32 | merged id.  [capacity]
    private var values: [UInt64]
    private let shift: UInt64
    private let mask: Int
    private(set) var count = 0
    private static let empty = UInt64.max

    init(expectedCount: Int) {
        var capacity = 16
        while capacity < expectedCount * 2 { capacity <<= 1 }
        keys = [UInt64](repeating: MergeTable.empty, count: capacity)
        values = [UInt64](repeating: 0, count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        mask = capacity - 1
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    private func slot(for key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Adds a merge; a pair listed twice keeps the later priority, as Hugging Face's BPE does
    /// (it collects the merges list into a map, so later entries overwrite earlier ones).
    mutating func insert(left: Int32, right: Int32, priority: Int32, merged: Int32) {
        let k = MergeTable.key(left, right)
        var s = slot(for: k)
        while keys[s] != MergeTable.empty && keys[s] != k { s = (s + 1) & mask }
        if keys[s] == MergeTable.empty { count += 1 }
        keys[s] = k
        values[s] = UInt64(UInt32(bitPattern: priority)) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    /// The merge for (left, right) packed as priority << 32 | merged id, or nil.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> UInt64? {
        let k = MergeTable.key(left, right)
        var s = slot(for: k)
        return keys.withUnsafeBufferPointer { keys in
            while true {
                let found = keys[s]
                if found == k { return values[s] }
                if found == MergeTable.empty { return nil }
                s = (s + 1) & mask
            }
        }
    }
}
