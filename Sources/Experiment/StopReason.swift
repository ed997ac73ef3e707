/// Why a generation stopped; travels in `TaskDone` and is written as the `stop` field of
/// `inferences.jsonl`.
public enum StopReason: String, Equatable, Sendable, CaseIterable {
    /// The model produced an end-of-sequence token.
    case eos
    /// `maxNewTokens` were generated.
    case length
}
