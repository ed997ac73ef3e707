import Experiment
import ResultBundle
import Tokenizer

/// Cross-checking results (`--verify-fraction F`), as volunteer-computing projects verify
/// their hosts: results are bitwise deterministic across workers, batch sizes and CPUs, so a
/// problem run twice must give the same bytes. A seeded fraction of the problems is run a
/// second time on another worker and the two results are compared (SHA-256 of their journal
/// encoding, which holds every token, latent and FVU). On a mismatch a third worker decides:
/// the worker that disagrees with the other two is quarantined (refused from then on), and
/// every other result it committed runs again elsewhere, replacing its result where the rerun
/// differs. Three different results leave the committed one in place and say so.
///
/// This type holds only the decisions, without I/O or scheduling: the state machine feeds it
/// commits and results and carries out what it returns.
struct CrossCheck {
    /// What an extra run of a problem is for.
    enum Purpose: Equatable {
        /// The second run of a selected problem.
        case verify
        /// The third run, after the first two disagreed.
        case tiebreak
        /// A result of a quarantined worker, run again.
        case rerun
    }

    /// An extra run of a problem, beside its first run: not to be given to `excluded` workers.
    struct Run: Equatable {
        let problem: Int
        let purpose: Purpose
        let excluded: Set<String>
    }

    /// What the state machine must do.
    enum Decision: Equatable {
        /// Queue this extra run.
        case queue(Run)
        /// Make this record durable (and list it in run.json and manifest.json).
        case record(VerificationRecord)
        /// Put this result in the place of the committed result of this (condition, problem) task.
        case replace(CommittedTask, task: Int)
        /// Refuse this worker from now on and drop its connections.
        case quarantine(String)
    }

    /// A second result that differs from the committed one, waiting for the third. Both digests
    /// are kept as they were: the committed result may be replaced meanwhile (its worker
    /// quarantined by another check), and the vote is about these two results.
    private struct Dispute {
        let first: String
        let firstDigest: [UInt8]
        let second: String
        let secondDigest: [UInt8]
    }

    /// Stands for the worker of a result committed by an earlier start of this coordinator
    /// (workers are known by name only while they are connected to this one).
    static let earlierStart = "(earlier start)"

    let fraction: Double
    let problemIDs: [String]
    /// Problems (indices) selected for checking.
    let selected: Set<Int>
    private var committedBy: [Int: String] = [:]
    private var digests: [Int: [UInt8]] = [:]
    private var disputes: [Int: Dispute] = [:]
    private(set) var quarantined: Set<String> = []
    /// Every record so far, earlier starts' first.
    private(set) var records: [VerificationRecord] = []

    var isEnabled: Bool { fraction > 0 }

    /// `earlier` are the records an earlier start journalled; quarantines they made still hold.
    init(fraction: Double, seed: UInt64, problemIDs: [String], earlier: [VerificationRecord] = []) {
        self.fraction = fraction
        self.problemIDs = problemIDs
        selected = fraction > 0
            ? Set(problemIDs.indices.filter { Self.isSelected(problemIDs[$0], seed: seed, fraction: fraction) }) : []
        records = earlier
        for record in earlier {
            if record.event == .resolved, let odd = record.oddWorker { quarantined.insert(odd) }
        }
    }

    /// Whether a problem is checked: a draw from a stream seeded by the run seed and the problem
    /// id, so the same problems are checked whatever the order, the workers or the restarts.
    static func isSelected(_ problemID: String, seed: UInt64, fraction: Double) -> Bool {
        guard fraction > 0 else { return false }
        guard fraction < 1 else { return true }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over the id's UTF-8 bytes
        for byte in problemID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        var random = SplitMix64(seed: seed ^ hash)
        return random.unit() < fraction
    }

    /// The digest results are compared by.
    static func digest(of task: CommittedTask) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(TaskJournal.canonicalBytes(of: task))
        return hasher.finalize()
    }

    // MARK: Restart

    /// The checks an earlier start left open, given the digests of the committed results of
    /// `problems` (the selected and rerun problems that are committed, from the journal).
    mutating func resume(committedDigests: [Int: [UInt8]]) -> [Decision] {
        var verifyFinal: Set<String> = [], rerunOpen: [String: Bool] = [:]
        for record in records {
            switch record.event {
            case .match, .resolved, .unresolved, .skipped: verifyFinal.insert(record.problem)
            case .mismatch: verifyFinal.remove(record.problem)
            case .rerunQueued: rerunOpen[record.problem] = true
            case .rerunIdentical, .rerunReplaced: rerunOpen[record.problem] = false
            }
        }
        var decisions: [Decision] = []
        for (problem, digest) in committedDigests.sorted(by: { $0.key < $1.key }) {
            digests[problem] = digest
            committedBy[problem] = Self.earlierStart
            let id = problemIDs[problem]
            if selected.contains(problem) && !verifyFinal.contains(id) {
                decisions.append(.queue(Run(problem: problem, purpose: .verify, excluded: [])))
            }
            if rerunOpen[id] == true {
                decisions.append(.queue(Run(problem: problem, purpose: .rerun, excluded: quarantined)))
            }
        }
        return decisions
    }

    /// Problems whose committed result a restart needs the digest of.
    func problemsNeedingDigests(committed: Set<Int>) -> Set<Int> {
        guard isEnabled else { return [] }
        var rerun: Set<String> = []
        for record in records {
            if record.event == .rerunQueued { rerun.insert(record.problem) }
        }
        return committed.filter { selected.contains($0) || rerun.contains(problemIDs[$0]) }
    }

    // MARK: Events

    /// The first result of `problem` is durable.
    mutating func committed(_ problem: Int, by worker: String, result: CommittedTask) -> [Decision] {
        guard isEnabled else { return [] }
        // Every result's digest is kept (32 bytes): a quarantined worker's results are
        // compared with their reruns.
        committedBy[problem] = worker
        digests[problem] = Self.digest(of: result)
        var decisions: [Decision] = []
        if quarantined.contains(worker) {
            // Sent before its worker was quarantined and committed in the same pass.
            decisions += [record(problemIDs[problem], .rerunQueued, [worker]),
                          .queue(Run(problem: problem, purpose: .rerun, excluded: quarantined))]
        }
        guard selected.contains(problem) else { return decisions }
        return decisions + [.queue(Run(problem: problem, purpose: .verify, excluded: [worker]))]
    }

    /// An extra run's result arrived from `worker`.
    mutating func finished(_ run: Run, by worker: String, result: CommittedTask) -> [Decision] {
        let p = run.problem
        let id = problemIDs[p]
        let digest = Self.digest(of: result)
        let first = committedBy[p] ?? Self.earlierStart
        switch run.purpose {
        case .verify:
            if digest == digests[p] {
                return [record(id, .match, [first, worker])]
            }
            disputes[p] = Dispute(first: first, firstDigest: digests[p] ?? [], second: worker, secondDigest: digest)
            return [record(id, .mismatch, [first, worker]),
                    .queue(Run(problem: p, purpose: .tiebreak, excluded: [first, worker]))]
        case .tiebreak:
            guard let dispute = disputes.removeValue(forKey: p) else { return [] }
            let workers = [dispute.first, dispute.second, worker]
            if digest == dispute.firstDigest {
                return [record(id, .resolved, workers, odd: dispute.second)] + quarantine(dispute.second)
            }
            if digest == dispute.secondDigest {
                // The committed result was the odd one (unless a rerun replaced it meanwhile).
                var decisions = replacingCommitted(p, with: result, digest: digest, by: worker)
                decisions.append(record(id, .resolved, workers, odd: dispute.first))
                return decisions + quarantine(dispute.first)
            }
            // Three different results. The committed one stays, unless its worker was quarantined
            // by another check meanwhile: then a trusted worker's result takes its place.
            let committedWorker = committedBy[p] ?? Self.earlierStart
            let decisions = quarantined.contains(committedWorker) ? replacingCommitted(p, with: result, digest: digest, by: worker) : []
            return decisions + [record(id, .unresolved, workers)]
        case .rerun:
            if digest == digests[p] {
                committedBy[p] = worker
                return [record(id, .rerunIdentical, [first, worker])]
            }
            digests[p] = digest
            committedBy[p] = worker
            return [.replace(result, task: p), record(id, .rerunReplaced, [first, worker])]
        }
    }

    /// Puts `result` in the place of the committed result of `problem`, when they differ.
    private mutating func replacingCommitted(_ problem: Int, with result: CommittedTask, digest: [UInt8], by worker: String) -> [Decision] {
        guard digests[problem] != digest else { return [] }
        digests[problem] = digest
        committedBy[problem] = worker
        return [.replace(result, task: problem)]
    }

    /// An extra run that cannot happen (no other worker, or out of attempts).
    mutating func abandoned(_ run: Run) -> [Decision] {
        let workers: [String]
        if let dispute = disputes.removeValue(forKey: run.problem) {
            workers = [dispute.first, dispute.second]
        } else {
            workers = [committedBy[run.problem] ?? Self.earlierStart]
        }
        return [record(problemIDs[run.problem], .skipped, workers)]
    }

    // MARK: Steps

    private mutating func record(_ id: String, _ event: VerificationRecord.Event, _ workers: [String],
                                 odd: String? = nil) -> Decision {
        let record = VerificationRecord(problem: id, event: event, workers: workers, oddWorker: odd)
        records.append(record)
        return .record(record)
    }

    /// The worker is not trusted any more: its connections go and its other results run again.
    /// A result of an earlier start is not anybody's to rerun by name.
    private mutating func quarantine(_ worker: String) -> [Decision] {
        guard worker != Self.earlierStart, quarantined.insert(worker).inserted else { return [] }
        var decisions: [Decision] = [.quarantine(worker)]
        // A problem whose check is being decided is settled by its third run instead.
        for problem in committedBy.keys.sorted() where committedBy[problem] == worker && disputes[problem] == nil {
            decisions.append(record(problemIDs[problem], .rerunQueued, [worker]))
            decisions.append(.queue(Run(problem: problem, purpose: .rerun, excluded: quarantined)))
        }
        return decisions
    }
}
