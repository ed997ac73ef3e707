/// Per hookpoint of one committed problem: k, rows captured, and the largest activation.
public struct HookpointSummary: Sendable, Equatable {
    public let name: String
    public let k: Int
    public let rows: Int
    public let maxAct: Float

    public init(name: String, k: Int, rows: Int, maxAct: Float) {
        self.name = name
        self.k = k
        self.rows = rows
        self.maxAct = maxAct
    }
}

/// What the bundle writer knows about a problem before reading its latents.
public struct TaskSummary: Sendable, Equatable {
    public let id: String
    public let split: String
    public let index: Int
    public let hookpoints: [HookpointSummary]

    public init(id: String, split: String, index: Int, hookpoints: [HookpointSummary]) {
        self.id = id
        self.split = split
        self.index = index
        self.hookpoints = hookpoints
    }

    public func hookpoint(_ name: String) -> HookpointSummary? { hookpoints.first { $0.name == name } }
}

/// Committed tasks to build a bundle from: a run's journal, an existing bundle, or several
/// of those merged. Tasks are read one at a time, so memory does not grow with the run.
public protocol CommittedTaskSource: AnyObject {
    /// One entry per distinct problem, in any order.
    var taskSummaries: [TaskSummary] { get }
    /// The full task for `taskSummaries[i]`.
    func task(_ i: Int) throws -> CommittedTask
}

/// Turns token ids into their text for the tables (`feature_tokens.csv`, `examples.jsonl`,
/// `tokens.csv`). The coordinator implements it with the run's tokenizer; merge uses the
/// `tokens.csv` of the input bundles.
public protocol TokenTextDecoding {
    /// The text of one token (byte-level pieces that are not valid UTF-8 on their own are
    /// the implementation's choice, e.g. U+FFFD, as long as it is deterministic).
    func tokenText(_ id: Int32) -> String
}

/// A decoder from a fixed table, e.g. a bundle's tokens.csv.
public struct TokenTextTable: TokenTextDecoding, Sendable {
    public var texts: [Int32: String]

    public init(texts: [Int32: String]) {
        self.texts = texts
    }

    public func tokenText(_ id: Int32) -> String {
        texts[id] ?? "<token \(id)>"
    }
}

extension TaskJournal: CommittedTaskSource {
    public var taskSummaries: [TaskSummary] { entries.map(\.summary) }

    public func task(_ i: Int) throws -> CommittedTask {
        try readTask(entries[i])
    }
}
