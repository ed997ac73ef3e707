/// The deterministic top-n selection shared by the tables, the report and the synthetic bundles.

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
