import Foundation

/// The coordinator's data side in one place: validates committed tasks, journals them
/// durably under `OUT/journal/`, and writes the bundle into `OUT` at the end. Memory: the
/// journal's small per-problem index; latents stay on disk. The bundle's tables are computed
/// from the journal in problem order, so they never depend on arrival order.
///
/// Not thread-safe: use it from the coordinator's event loop only.
public final class RunStore {
    public let outDirectory: String
    public let journal: TaskJournal

    /// What became of one task handed to `commit`.
    public enum CommitOutcome: Equatable {
        /// Durable: acknowledge it.
        case committed
        /// Already committed with the same content: acknowledge, nothing changed.
        case duplicateIdentical
        /// Already committed with different content: the first one stays (log it, acknowledge).
        case duplicateDifferent
        /// Inconsistent data (the error says what); not committed, treat as a failed attempt.
        case rejected(RunDataError)
    }

    /// The run's hookpoints when given: a task must carry exactly these.
    public let hookpoints: [String]?
    /// Temporary files of an interrupted bundle write that opening the store removed.
    public private(set) var leftoversRemoved: [String] = []
    /// k per hookpoint, fixed by the first task committed.
    private var kByHookpoint: [String: Int] = [:]

    /// Opens (or resumes) the run in `outDirectory`. Warnings about a recovered torn tail
    /// are in `journal.recoveryWarnings`. With `hookpoints`, tasks with other hookpoints are
    /// rejected at commit time instead of failing the bundle at the end.
    public init(outDirectory: String, hookpoints: [String]? = nil) throws {
        self.outDirectory = outDirectory
        self.hookpoints = hookpoints
        journal = try TaskJournal(directory: (outDirectory as NSString).appendingPathComponent(BundleLayout.journalDirectory))
        // The journal's lock is ours now: no other coordinator writes into this --out, so any
        // `*.tmp-PID` file here was left by one killed while writing the bundle.
        leftoversRemoved = BundleLayout.removeTemporaryFiles(in: outDirectory)
        for entry in journal.entries {
            for h in entry.hookpoints where kByHookpoint[h.name] == nil { kByHookpoint[h.name] = h.k }
        }
    }

    /// What the bundle needs beyond a task's own consistency: the run's hookpoints and one k per hookpoint.
    private func checkFitsRun(_ task: CommittedTask, pendingK: [String: Int]) throws {
        if let hookpoints, Set(task.latents.keys) != Set(hookpoints) {
            throw RunDataError(subject: "problem \(task.record.id)", reason: "has latents for [\(task.latents.keys.sorted().joined(separator: ", "))], the run's hookpoints are [\(hookpoints.joined(separator: ", "))]")
        }
        for (name, rows) in task.latents {
            if let k = kByHookpoint[name] ?? pendingK[name], k != rows.k {
                throw RunDataError(subject: "problem \(task.record.id), hookpoint \(name)", reason: "k is \(rows.k) but earlier tasks have \(k)")
            }
        }
    }

    /// Problems already committed (skip them when resuming).
    public var committedIDs: Set<String> { journal.committedIDs }

    /// Problems an earlier start recorded as failed (and nobody committed since), by id.
    public var failures: [String: TaskJournal.FailureEntry] { journal.failures }

    /// Durably records that a problem used up its attempts; returns after fsync.
    public func recordFailure(_ failure: TaskJournal.FailureEntry) throws {
        try journal.appendFailure(failure)
    }

    /// The cross-check records of this run so far (from earlier starts too), in order.
    public var verificationRecords: [VerificationRecord] { journal.verificationRecords }

    /// Durably records one step of a cross-check; returns after fsync.
    public func recordVerification(_ record: VerificationRecord) throws {
        try journal.appendVerification(record)
    }

    /// Validates `task` and durably puts it in the place of the committed result of its problem
    /// (which a cross-check found wrong); returns after fsync.
    public func replace(_ task: CommittedTask) throws {
        try task.validate()
        try checkFitsRun(task, pendingK: [:])
        try journal.replace(contentsOf: [task])
    }

    /// Validates and durably commits one task; returns after fsync.
    public func commit(_ task: CommittedTask) throws -> CommitOutcome {
        try commit([task])[0]
    }

    /// Validates and commits several tasks with a single fsync (group commit). Throws only
    /// for I/O failures (disk full, permissions), after which nothing of this call is kept.
    public func commit(_ tasks: [CommittedTask]) throws -> [CommitOutcome] {
        var outcomes = [CommitOutcome?](repeating: nil, count: tasks.count)
        var valid: [Int] = []
        var pendingK: [String: Int] = [:]
        for (i, task) in tasks.enumerated() {
            do {
                try task.validate()
                try checkFitsRun(task, pendingK: pendingK)
                for (name, rows) in task.latents where kByHookpoint[name] == nil { pendingK[name] = rows.k }
                valid.append(i)
            } catch let error as RunDataError {
                outcomes[i] = .rejected(error)
            }
        }
        let appended = try journal.append(contentsOf: valid.map { tasks[$0] })
        for (n, i) in valid.enumerated() {
            switch appended[n] {
            case .committed:
                outcomes[i] = .committed
                for (name, rows) in tasks[i].latents where kByHookpoint[name] == nil { kByHookpoint[name] = rows.k }
            case .duplicateIdentical: outcomes[i] = .duplicateIdentical
            case .duplicateDifferent: outcomes[i] = .duplicateDifferent
            }
        }
        return outcomes.map { $0! }
    }

    /// Writes the bundle into `outDirectory` from the journal (two ordered passes).
    @discardableResult
    public func writeBundle(manifest: RunManifest, run: JSONValue, decoder: TokenTextDecoding) throws -> BundleSummary {
        try BundleWriter.write(source: journal, manifest: manifest, run: run, decoder: decoder, to: outDirectory)
    }
}
