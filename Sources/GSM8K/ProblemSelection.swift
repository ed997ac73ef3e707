import Experiment
/// Which problems a run uses, written as
///
///     gsm8k:train                 the whole split
///     gsm8k:test[0:32]            a slice (Python-style; [:32], [100:], [-10:] too; a bound
///                                 past the split is an error, not cut short)
///     gsm8k:test[1,5,9]           an index list (items may mix: [0:4,10,20:22])
///     gsm8k:test:17               one problem, by its id
///     jsonl:PATH                  every line of a JSONL prompt set (see `JSONLPromptSet`)
///     jsonl:PATH[0:32]            a slice or index list of its lines, as for GSM8K
///
/// optionally narrowed by a seeded random sample (`--sample 32 --sample-seed 1`), which picks
/// `count` problems from the selection without replacement and keeps them in index order.
public struct ProblemSelection: Sendable, Equatable, CustomStringConvertible {
    public enum Item: Sendable, Equatable {
        case index(Int)
        /// Python slice bounds; nil = open end; negatives count from the end.
        case range(Int?, Int?)
    }

    public struct Sample: Sendable, Equatable {
        public var count: Int
        public var seed: UInt64
    }

    /// Where the problems come from.
    public enum Source: Sendable, Equatable {
        case gsm8k(GSM8KSplit)
        /// A JSONL file, one problem per line; indices count its non-blank lines from 0.
        case jsonl(path: String)
    }

    public var source: Source
    /// The GSM8K split; nil for a JSONL prompt set.
    public var split: GSM8KSplit? {
        if case .gsm8k(let split) = source { return split }
        return nil
    }
    /// nil selects the whole split.
    public var items: [Item]?
    public var sample: Sample?
    public let text: String

    public var description: String {
        text + (sample.map { " (sample \($0.count), seed \($0.seed))" } ?? "")
    }

    public static func parse(_ text: String) throws -> ProblemSelection {
        let trimmed = text.trimmingWhitespace()
        func bad(_ problem: String) -> GSM8KError {
            GSM8KError(
                "problem selection \"\(text)\": \(problem); write gsm8k:train, gsm8k:test[0:32], gsm8k:test[1,5,9], gsm8k:test:17, jsonl:PATH or jsonl:PATH[0:32]")
        }
        if trimmed.hasPrefix("jsonl:") {
            var path = trimmed.dropFirst("jsonl:".count)
            var items: [Item]? = nil
            // The brackets are the last [...] (a path may hold brackets of its own only before them).
            if path.hasSuffix("]"), let open = path.lastIndex(of: "[") {
                items = try parseItems(path[path.index(after: open)..<path.index(before: path.endIndex)], bad: bad)
                path = path[..<open]
            }
            guard !path.isEmpty else { throw bad("no file after \"jsonl:\"") }
            return ProblemSelection(source: .jsonl(path: String(path)), items: items, sample: nil, text: trimmed)
        }
        guard trimmed.hasPrefix("gsm8k:") else { throw bad("must start with \"gsm8k:\" or \"jsonl:\"") }
        var rest = trimmed.dropFirst("gsm8k:".count)
        let splitName = rest.prefix { $0.isLetter }
        guard let split = GSM8KSplit(rawValue: String(splitName)) else {
            throw bad("unknown split \"\(splitName)\" (train or test)")
        }
        rest = rest.dropFirst(splitName.count)
        if rest.isEmpty { return ProblemSelection(source: .gsm8k(split), items: nil, sample: nil, text: trimmed) }
        if rest.first == ":" {
            guard let index = Int(rest.dropFirst()), index >= 0 else { throw bad("\"\(rest.dropFirst())\" is not a problem index") }
            return ProblemSelection(source: .gsm8k(split), items: [.index(index)], sample: nil, text: trimmed)
        }
        guard rest.first == "[", rest.last == "]" else { throw bad("expected [slice] or [index list] after the split") }
        let items = try parseItems(rest.dropFirst().dropLast(), bad: bad)
        return ProblemSelection(source: .gsm8k(split), items: items, sample: nil, text: trimmed)
    }

    /// The items between the brackets: indices and slices, comma-separated.
    private static func parseItems(_ inside: Substring, bad: (String) -> GSM8KError) throws -> [Item] {
        var items: [Item] = []
        for part in inside.split(separator: ",", omittingEmptySubsequences: false) {
            let field = part.trimmingWhitespace()
            if field.isEmpty { throw bad("empty item in the brackets") }
            if let colon = field.firstIndex(of: ":") {
                let lowText = field[..<colon].trimmingWhitespace()
                let highText = field[field.index(after: colon)...].trimmingWhitespace()
                if highText.contains(":") { throw bad("slice steps are not supported") }
                let low = lowText.isEmpty ? nil : Int(lowText)
                let high = highText.isEmpty ? nil : Int(highText)
                if (!lowText.isEmpty && low == nil) || (!highText.isEmpty && high == nil) {
                    throw bad("\"\(field)\" is not a slice of integers")
                }
                items.append(.range(low, high))
            } else {
                guard let index = Int(field) else { throw bad("\"\(field)\" is not an integer index") }
                items.append(.index(index))
            }
        }
        return items
    }

    /// How errors name the set: "gsm8k:train", "jsonl:data/math500.jsonl".
    private var setName: String {
        switch source {
        case .gsm8k(let split): return "gsm8k:\(split.rawValue)"
        case .jsonl(let path): return "jsonl:\(path)"
        }
    }

    /// The same selection narrowed to a seeded random sample of `count` problems.
    public func sampling(_ count: Int, seed: UInt64) -> ProblemSelection {
        var copy = self
        copy.sample = Sample(count: count, seed: seed)
        return copy
    }

    /// Row indices this selection names in a split of `count` problems, in order.
    public func indices(splitCount count: Int) throws -> [Int] {
        var chosen: [Int] = []
        if let items {
            for item in items {
                switch item {
                case .index(let raw):
                    let index = raw < 0 ? count + raw : raw
                    guard index >= 0 && index < count else {
                        throw GSM8KError("problem selection \"\(text)\": index \(raw) is outside \(setName) (\(count) problems)")
                    }
                    chosen.append(index)
                case .range(let low, let high):
                    // Bounds past either end are errors, as indices are: a slice that silently
                    // gave fewer problems than written would mislead (write [7470:] for "to the end").
                    func resolve(_ bound: Int?, _ open: Int) throws -> Int {
                        guard let bound else { return open }
                        guard (-count...count).contains(bound) else {
                            throw GSM8KError("problem selection \"\(text)\": slice bound \(bound) is outside \(setName) (\(count) problems: bounds run from -\(count) to \(count); leave a bound out to mean the end)")
                        }
                        return bound < 0 ? count + bound : bound
                    }
                    let lower = try resolve(low, 0)
                    let upper = try resolve(high, count)
                    if lower < upper { chosen.append(contentsOf: lower..<upper) }
                }
            }
        } else {
            chosen = Array(0..<count)
        }
        var seen = Set<Int>()
        chosen = chosen.filter { seen.insert($0).inserted }
        if let sample {
            guard sample.count >= 0 else { throw GSM8KError("--sample \(sample.count) must not be negative") }
            guard sample.count <= chosen.count else {
                throw GSM8KError("--sample \(sample.count) is more than the \(chosen.count) problems \"\(text)\" selects")
            }
            var generator = SplitMix64(seed: sample.seed)
            // Partial Fisher–Yates: the first `count` slots become a uniform sample.
            var pool = chosen
            for k in 0..<sample.count {
                let j = k + Int(generator.next() % UInt64(pool.count - k))
                pool.swapAt(k, j)
            }
            chosen = pool.prefix(sample.count).sorted()
        }
        return chosen
    }

    /// The GSM8K problems this selection names; a JSONL selection is an error here.
    public func resolve(in dataset: GSM8KDataset) throws -> [GSM8KProblem] {
        guard let split else { throw GSM8KError("problem selection \"\(text)\" names a JSONL file, not GSM8K") }
        let problems = try dataset.load(split: split)
        return try indices(splitCount: problems.count).map { problems[$0] }
    }

    /// The problems of a JSONL prompt set this selection names.
    public func resolve(in promptSet: JSONLPromptSet) throws -> [PromptSetProblem] {
        let problems = try promptSet.load()
        return try indices(splitCount: problems.count).map { problems[$0] }
    }
}
