/// One step of cross-checking a run's results (`--verify-fraction`): a problem's result run
/// again on another worker and compared bit for bit, a third run deciding a disagreement, a
/// quarantined worker's result run again. The journal keeps these (kind 4), so a restarted
/// coordinator knows which checks are done and which worker it must not trust; the bundle's
/// run.json and manifest.json list them.
public struct VerificationRecord: Sendable, Equatable {
    public enum Event: String, Sendable, CaseIterable {
        /// A second worker's result equals the committed one.
        case match
        /// A second worker's result differs: a third run decides.
        case mismatch
        /// The third run agreed with one of the two: the other worker (`oddWorker`) is
        /// quarantined; when it was the committed result's worker, the result was replaced.
        case resolved
        /// Three different results: the committed one stays, nobody is quarantined.
        case unresolved
        /// No other worker was there to run the check before the run ended.
        case skipped
        /// The committed result came from a quarantined worker: it runs again elsewhere.
        case rerunQueued = "rerun-queued"
        /// The rerun gave the same result: it stays.
        case rerunIdentical = "rerun-identical"
        /// The rerun gave another result, which replaced the quarantined worker's.
        case rerunReplaced = "rerun-replaced"

        /// Whether this ends the story of a problem's check (or of its rerun).
        public var isFinal: Bool {
            switch self {
            case .match, .resolved, .unresolved, .skipped, .rerunIdentical, .rerunReplaced: true
            case .mismatch, .rerunQueued: false
            }
        }
    }

    /// The problem id.
    public var problem: String
    public var event: Event
    /// The workers whose results took part, as "id@host", in the order they ran.
    public var workers: [String]
    /// The worker found to disagree with the other two (`resolved`), if any.
    public var oddWorker: String?

    public init(problem: String, event: Event, workers: [String], oddWorker: String? = nil) {
        self.problem = problem
        self.event = event
        self.workers = workers
        self.oddWorker = oddWorker
    }
}
