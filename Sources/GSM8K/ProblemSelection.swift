import Experiment
/// Which problems a run uses, written as
///
///     gsm8k:train                 the whole split
///     gsm8k:test[0:32]            a slice (Python-style; [:32], [100:], [-10:] too; a bound
///                                 past the split is an error, not cut short)
///     gsm8k:test[1,5,9]           an index list (items may mix: [0:4,10,20:22])
///     gsm8k:test:17               one problem, by its id
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

    public var split: GSM8KSplit
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
                "problem selection \"\(text)\": \(problem); write gsm8k:train, gsm8k:test[0:32], gsm8k:test[1,5,9] or gsm8k:test:17")
        }
        guard trimmed.hasPrefix("gsm8k:") else { throw bad("must start with \"gsm8k:\"") }
        var rest = trimmed.dropFirst("gsm8k:".count)
        let splitName = rest.prefix { $0.isLetter }
        guard let split = GSM8KSplit(rawValue: String(splitName)) else {
            throw bad("unknown split \"\(splitName)\" (train or test)")
        }
        rest = rest.dropFirst(splitName.count)
        if rest.isEmpty { return ProblemSelection(split: split, items: nil, sample: nil, text: trimmed) }
        if rest.first == ":" {
            guard let index = Int(rest.dropFirst()), index >= 0 else { throw bad("\"\(rest.dropFirst())\" is not a problem index") }
            return ProblemSelection(split: split, items: [.index(index)], sample: nil, text: trimmed)
        }
        guard rest.first == "[", rest.last == "]" else { throw bad("expected [slice] or [index list] after the split") }
        let inside = rest.dropFirst().dropLast()
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
        return ProblemSelection(split: split, items: items, sample: nil, text: trimmed)
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
                        throw GSM8KError("problem selection \"\(text)\": index \(raw) is outside gsm8k:\(split.rawValue) (\(count) problems)")
                    }
                    chosen.append(index)
                case .range(let low, let high):
                    // Bounds past either end are errors, as indices are: a slice that silently
                    // gave fewer problems than written would mislead (write [7470:] for "to the end").
                    func resolve(_ bound: Int?, _ open: Int) throws -> Int {
                        guard let bound else { return open }
                        guard (-count...count).contains(bound) else {
                            throw GSM8KError("problem selection \"\(text)\": slice bound \(bound) is outside gsm8k:\(split.rawValue) (\(count) problems: bounds run from -\(count) to \(count); leave a bound out to mean the end)")
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

    public func resolve(in dataset: GSM8KDataset) throws -> [GSM8KProblem] {
        let problems = try dataset.load(split: split)
        return try indices(splitCount: problems.count).map { problems[$0] }
    }
}
