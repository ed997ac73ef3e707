/// Token bytes → id, as an open-addressing table over one byte arena with FNV-1a hashes.
/// Replaces `[[UInt8]: Int32]`, whose SipHash over arrays dominated loading 151k tokens
/// and 150k merges.
struct TokenIndex {
    private struct Entry {
        var hash: UInt64
        var start: Int32
        var count: Int32
        var id: Int32
    }

    // slots[s] = index into entries, or -1.  [capacity]
    private var slots: [Int32]
    private var entries: [Entry] = []
    private var arena: [UInt8] = []
    private let mask: Int

    init(expectedCount: Int) {
        var capacity = 16
        while capacity < expectedCount * 2 { capacity <<= 1 }
        slots = [Int32](repeating: -1, count: capacity)
        mask = capacity - 1
        entries.reserveCapacity(expectedCount)
    }

    var count: Int { entries.count }

    /// Adds `bytes` → `id`; returns false (and changes nothing) when `bytes` is already there.
    @discardableResult
    mutating func insert<C: Collection>(_ bytes: C, id: Int32) -> Bool where C.Element == UInt8 {
        let hash = TokenIndex.hash(bytes)
        var s = Int(truncatingIfNeeded: hash) & mask
        while slots[s] >= 0 {
            if matches(entries[Int(slots[s])], hash, bytes) { return false }
            s = (s + 1) & mask
        }
        slots[s] = Int32(entries.count)
        entries.append(Entry(hash: hash, start: Int32(arena.count), count: Int32(bytes.count), id: id))
        arena.append(contentsOf: bytes)
        return true
    }

    func id<C: Collection>(for bytes: C) -> Int32? where C.Element == UInt8 {
        let hash = TokenIndex.hash(bytes)
        var s = Int(truncatingIfNeeded: hash) & mask
        while slots[s] >= 0 {
            let entry = entries[Int(slots[s])]
            if matches(entry, hash, bytes) { return entry.id }
            s = (s + 1) & mask
        }
        return nil
    }

    /// Id of the concatenation `left + right`, without building it.
    func id(concatenating left: [UInt8], _ right: [UInt8]) -> Int32? {
        var hash = TokenIndex.hash(left)
        for b in right { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        var s = Int(truncatingIfNeeded: hash) & mask
        while slots[s] >= 0 {
            let entry = entries[Int(slots[s])]
            if entry.hash == hash && Int(entry.count) == left.count + right.count {
                let start = Int(entry.start)
                if arena[start..<(start + left.count)].elementsEqual(left)
                    && arena[(start + left.count)..<(start + Int(entry.count))].elementsEqual(right) {
                    return entry.id
                }
            }
            s = (s + 1) & mask
        }
        return nil
    }

    @inline(__always)
    private func matches<C: Collection>(_ entry: Entry, _ hash: UInt64, _ bytes: C) -> Bool where C.Element == UInt8 {
        guard entry.hash == hash && Int(entry.count) == bytes.count else { return false }
        let start = Int(entry.start)
        return arena[start..<(start + Int(entry.count))].elementsEqual(bytes)
    }

    @inline(__always)
    static func hash<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        // FNV-1a, 64-bit.
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
