/// Small deterministic helpers shared by the tables, the report and the synthetic bundles.

/// The `n` best items under `better`, best first, by insertion into a short sorted list
/// (items that cannot enter are rejected with one comparison).
public func bestItems<T>(_ n: Int, of items: some Sequence<T>, by better: (T, T) -> Bool) -> [T] {
    var top: [T] = []
    guard n > 0 else { return top }
    top.reserveCapacity(n + 1)
    for item in items {
        if top.count == n, !better(item, top[n - 1]) { continue }
        var at = top.count
        while at > 0, better(item, top[at - 1]) { at -= 1 }
        top.insert(item, at: at)
        if top.count > n { top.removeLast() }
    }
    return top
}

/// SplitMix64: a tiny generator with a fixed sequence per seed, so synthetic bundles, benchmark
/// inputs and test fixtures never depend on the platform's random number generator.
public struct SplitMix64 {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1), 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
    /// Uniform in 0 ..< n (0 when n < 1).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}
