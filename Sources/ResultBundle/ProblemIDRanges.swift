/// Problem ids "dataset:split:index" and the compact range form "dataset:split[start:end]" in
/// which the manifest lists a selection (`problem_selection`). Not the `--problems` grammar,
/// which `GSM8K.ProblemSelection` parses: this only writes and reads back the manifest's lists.
enum ProblemIDRanges {
    static func parse(_ id: String) -> (prefix: String, index: Int)? {
        guard let colon = id.lastIndex(of: ":"), let index = Int(id[id.index(after: colon)...]), index >= 0 else { return nil }
        let prefix = String(id[..<colon])
        guard prefix.contains(":") else { return nil }
        return (prefix, index)
    }

    /// Order of ids in listings: by prefix, then numeric index, then text.
    static func precedes(_ a: String, _ b: String) -> Bool {
        switch (parse(a), parse(b)) {
        case let (x?, y?): return x.prefix != y.prefix ? x.prefix < y.prefix : (x.index != y.index ? x.index < y.index : a < b)
        case (nil, _?): return false
        case (_?, nil): return true
        case (nil, nil): return a < b
        }
    }

    /// Canonical ranges for a set of ids: the same set always gives the same list, however it
    /// was split across runs (two halves merged read like the whole).
    static func ranges(of ids: [String]) -> [String] {
        var byPrefix: [String: Set<Int>] = [:]
        var loose: Set<String> = []
        for id in ids {
            if let p = parse(id) { byPrefix[p.prefix, default: []].insert(p.index) } else { loose.insert(id) }
        }
        var out: [String] = []
        for prefix in byPrefix.keys.sorted() {
            let sorted = byPrefix[prefix]!.sorted()
            var start = sorted[0]
            var previous = start
            for n in sorted.dropFirst() {
                if n != previous + 1 {
                    out.append("\(prefix)[\(start):\(previous + 1)]")
                    start = n
                }
                previous = n
            }
            out.append("\(prefix)[\(start):\(previous + 1)]")
        }
        return out + loose.sorted()
    }

    /// Inverse of `ranges`: "gsm8k:train[0:3]" → the three ids; anything else is one id.
    static func expand(_ text: String) -> [String] {
        guard text.hasSuffix("]"), let open = text.lastIndex(of: "[") else { return [text] }
        let body = text[text.index(after: open)..<text.index(before: text.endIndex)]
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a >= 0, a <= b else { return [text] }
        let prefix = text[..<open]
        return (a..<b).map { "\(prefix):\($0)" }
    }
}
