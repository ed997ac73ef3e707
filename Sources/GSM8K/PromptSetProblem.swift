/// One problem of a run, whatever set it comes from: what the coordinator prompts with and
/// what it checks the answer against.
public struct PromptSetProblem: Sendable, Equatable {
    /// "gsm8k:test:17", or "<dataset name>:<index or id>" for a JSONL prompt set.
    public var id: String
    /// GSM8K's split ("train", "test"), or the dataset name for a JSONL prompt set.
    public var split: String
    /// The row in its file, from 0.
    public var index: Int
    public var question: String
    /// Nil when the set has no answers: the verdict is then `none`.
    public var gold: GoldAnswer?

    public init(id: String, split: String, index: Int, question: String, gold: GoldAnswer?) {
        self.id = id
        self.split = split
        self.index = index
        self.question = question
        self.gold = gold
    }

    /// A GSM8K problem, checked numerically against its "####" answer as always.
    public init(_ problem: GSM8KProblem) {
        self.init(id: problem.id, split: problem.split.rawValue, index: problem.index, question: problem.question,
                  gold: .number(problem.gold))
    }

    /// The last `\boxed{…}` of `modelOutput` (normalised) and its verdict against the gold.
    public func check(modelOutput: String) -> (answer: String?, verdict: Verdict) {
        switch gold {
        case .number(let number)?: return AnswerChecker.verdict(modelOutput: modelOutput, gold: number)
        case .latex(let latex)?: return AnswerChecker.latexVerdict(modelOutput: modelOutput, gold: latex)
        case nil:
            let boxed = AnswerChecker.extractBoxed(modelOutput).map { LaTeXNormalizer.normalize($0).text }
            return (boxed, .none)
        }
    }
}
