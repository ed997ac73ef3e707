/// Remembers the ids of pieces already encoded. Text repeats its words, so most pieces are
/// found here and skip the merge loop. Keys and ids live in two flat arenas; the table is
/// cleared when it fills, which keeps memory bounded without bookkeeping.
struct WordCache {
    private struct Entry {
        var hash: UInt64
        var keyStart: Int32
        var keyCount: Int32
        var idStart: Int32
        var idCount: Int32
    }

    // slots[s] = index into entries, or -1.  [capacity]
    private var slots: [Int32]
    private var entries: [Entry] = []
    private var keyBytes: [UInt8] = []
    private var ids: [Int32] = []
    private let mask: Int
    private let maxEntries: Int
    /// Pieces longer than this are not cached (rare, and they would crowd the arenas).
    static let maxKeyLength = 128

    init(maxEntries: Int = 1 << 16) {
        var capacity = 16
        while capacity < maxEntries * 2 { capacity <<= 1 }
        slots = [Int32](repeating: -1, count: capacity)
        mask = capacity - 1
        self.maxEntries = maxEntries
    }

    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        // FNV-1a, 64-bit.
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in key {
            h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// Appends the cached ids for `key` to `out` and returns true, or returns false.
    @inline(__always)
    func appendIDs(for key: UnsafeBufferPointer<UInt8>, hash: UInt64, to out: inout [Int32]) -> Bool {
        var s = Int(truncatingIfNeeded: hash) & mask
        while true {
            let e = Int(slots[s])
            if e < 0 { return false }
            let entry = entries[e]
            if entry.hash == hash && Int(entry.keyCount) == key.count && keyMatches(entry, key) {
                let start = Int(entry.idStart)
                out.append(contentsOf: ids[start..<(start + Int(entry.idCount))])
                return true
            }
            s = (s + 1) & mask
        }
    }

    @inline(__always)
    private func keyMatches(_ entry: Entry, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        keyBytes.withUnsafeBufferPointer { stored in
            var k = 0
            var p = Int(entry.keyStart)
            while k < key.count {
                if stored[p] != key[k] { return false }
                k += 1
                p += 1
            }
            return true
        }
    }

    mutating func insert(key: UnsafeBufferPointer<UInt8>, hash: UInt64, ids newIDs: ArraySlice<Int32>) {
        if entries.count >= maxEntries { removeAll() }
        let entry = Entry(
            hash: hash,
            keyStart: Int32(keyBytes.count), keyCount: Int32(key.count),
            idStart: Int32(ids.count), idCount: Int32(newIDs.count)
        )
        keyBytes.append(contentsOf: key)
        ids.append(contentsOf: newIDs)
        var s = Int(truncatingIfNeeded: hash) & mask
        while slots[s] >= 0 { s = (s + 1) & mask }
        slots[s] = Int32(entries.count)
        entries.append(entry)
    }

    mutating func removeAll() {
        for k in slots.indices { slots[k] = -1 }
        entries.removeAll(keepingCapacity: true)
        keyBytes.removeAll(keepingCapacity: true)
        ids.removeAll(keepingCapacity: true)
    }
}
