import Experiment
import Foundation
import Logging
import Protocol
import ResultBundle

/// The coordinator's protocol logic as a state machine without I/O, in the swift-nio manner:
/// each event (a decoded message from a peer, an undecodable frame, a clock tick, the outcome
/// of a commit, a failed send) is a method call that returns the actions to perform (send a
/// message, make a failure durable, log). The socket loop (`CoordinatorLoop`) owns the socket,
/// the clock and the journal, feeds this, and does what it says; tests drive it directly with
/// scripted peers and a fake clock.
///
/// It wraps the `Scheduler` (which task goes where, leases, attempts) and adds what the wire
/// needs around it:
/// - Admission: a hello whose protocol version or fingerprints differ from the run's is refused
///   with a `reject` naming every difference; the peer gets no state. A repeated hello (our
///   welcome was lost) is welcomed again and keeps its tasks.
/// - Only peers that said hello are heard; anything else from an unknown peer is ignored (a
///   worker of an earlier coordinator notices the silence and says hello again).
/// - Staging: latent chunks are kept per task, for its current attempt from the worker that
///   holds it; chunks of abandoned attempts, of unknown hookpoints or of other workers are
///   dropped. A `done` is assembled from its staged chunks and checked (`TaskAssembler`); a
///   result that does not add up fails that attempt.
/// - Group commit: finished tasks wait in `pendingCommits` until the loop has drained the
///   socket, then become durable together (one fsync); only then do they count as done.
/// - Dispatch waits for `minWorkers` ready workers (or `minWorkersWaitSeconds`), so the first
///   hello of a small run does not take every problem.
/// - Heartbeats go to every admitted worker once per interval; a worker silent past its lease,
///   one that sends an undecodable message, or one we cannot send to is dropped and its tasks
///   requeued.
/// - Nothing a peer sends can crash or bloat the coordinator: its credit is capped at its batch
///   slots (and must be added without overflow), the latents staged for a task can never exceed
///   the rows its prompt, `maxNewTokens` and hookpoints allow (a peer that sends more is
///   dropped), and a task that makes no progress for the progress timeout is taken from its
///   worker, which is dropped, even while that worker keeps heartbeating.
public struct CoordinatorStateMachine {
    public typealias Peer = [UInt8]

    public enum Action: Equatable, Sendable {
        /// Send a message to an admitted worker; report a failure to deliver with `sendFailed`.
        case send(Message, to: Peer)
        /// Send once, best effort, to a peer that holds no state here (a refused hello).
        case sendBestEffort(Message, to: Peer)
        /// Make a newly failed problem durable, so a restart reports it instead of retrying it.
        case recordFailure(TaskJournal.FailureEntry, condition: Int)
        /// Make a step of a cross-check durable (`--verify-fraction`).
        case recordVerification(VerificationRecord)
        /// Durably put this result in the place of its problem's committed result (a
        /// cross-check found the committed one wrong).
        case replaceResult(CommittedTask, condition: Int)
        case log(Logger.Level, String)
    }

    /// Why a message could not be delivered.
    public enum SendFailure: Equatable {
        /// The peer's queue is full: it stopped reading.
        case queueFull
        /// The peer is gone (ROUTER_MANDATORY's host-unreachable).
        case unreachable
        case failed(String)
    }

    /// A finished task waiting for the group commit.
    public struct PendingCommit {
        public let task: Int
        /// Which condition's journal it goes to: 0 is the baseline (the run itself), 1... the
        /// `--intervene` conditions in order.
        public let condition: Int
        public let attempt: UInt32
        public let worker: Peer
        /// The worker's name ("id@host"), kept for the cross-checks: it may be gone by the commit.
        public let workerName: String
        public let done: TaskDone
        public let committed: CommittedTask
    }

    private struct WorkerInfo {
        var hello: Hello
        var lastHeartbeatSent = 0.0
        var heartbeatSequence: UInt64 = 0
        /// "id@host" as the peer gave them, escaped for logs and run.json.
        var name: String { PeerText.escaped("\(hello.workerID)@\(hello.host)") }
    }

    private struct Staged {
        var attempt: UInt32
        var chunks: [String: [LatentChunk]] = [:]
        /// Rows staged per hookpoint, duplicates included: bounded by `rowLimit`.
        var rows: [String: Int] = [:]
    }

    /// The worker holding an in-flight task, and when the task last made progress.
    private struct Progress {
        var worker: Peer
        var at: Double
    }

    /// The largest batch a worker may announce; more is refused at the hello.
    public static let maximumBatchSlots = 4096
    /// The automatic progress timeout never goes below this many seconds.
    public static let minimumProgressTimeout = 120.0

    public let configuration: CoordinatorConfiguration
    public let runID: String
    let promptIDs: [[Int32]]
    /// Problems (P) and conditions (baseline + `--intervene` ones): the scheduler's first
    /// P × conditions tasks are (condition, problem) pairs, task = condition × P + problem.
    let problemCount: Int
    let conditionCount: Int
    var primaryCount: Int { problemCount * conditionCount }
    private let assembler: TaskAssembler
    private let hookpointNames: Set<String>
    private(set) var scheduler: Scheduler<Peer>
    private var workers: [Peer: WorkerInfo] = [:]
    private var staged: [Int: Staged] = [:]
    private var inProgress: [Int: Progress] = [:]
    /// Peers whose hello was refused (bounded), and the repeats since the last summary.
    private var rejectedPeers: Set<Peer> = []
    private var repeatedRejections = 0
    private var lastRejectionSummary = -Double.infinity
    static let rememberedRejections = 10_000
    /// The longest gap between two progress events of one task seen so far (seconds).
    private(set) var longestProgressGap = 0.0
    /// Latent rows a task may stage per hookpoint, and the k each hookpoint's SAE uses (when
    /// its cfg.json says).
    private let rowLimits: [Int]
    private let kByHookpoint: [String: Int]
    /// Failed tasks already in the journal (from an earlier start or this one).
    private var journalledFailures: Set<Int>
    /// Cross-checks (`--verify-fraction`), and the extra runs they queued, by scheduler task
    /// (tasks past the problems' indices); `blockedSince` is when every queued extra run last
    /// found no worker it may go to, with nothing else left to do.
    private var crossCheck: CrossCheck
    private var extraRuns: [Int: CrossCheck.Run] = [:]
    private var abandonedRuns: Set<Int> = []
    private var blockedSince: Double?
    private var pending: [PendingCommit] = []
    private var listeningSince: Double
    private var waitedForWorkers = false
    private var startupLog: [Action] = []
    private(set) var statistics: RunStatistics
    public private(set) var progress: RunProgress

    /// `committedIDs`, `earlierFailures` (id → reasons) and `verificationRecords` come from the
    /// journal of an earlier start with the same --out; `committedResult` reads a committed
    /// result back from it (for the checks an earlier start left open); `now` is the monotonic
    /// clock's reading.
    /// With `--intervene`, `conditionCommittedIDs` and `conditionEarlierFailures` hold the same for
    /// each condition's journal, in order; `committedResult(condition, id)` reads from that
    /// condition's journal (0: the baseline's).
    public init(configuration: CoordinatorConfiguration, committedIDs: Set<String>, earlierFailures: [String: [String]],
                conditionCommittedIDs: [Set<String>] = [], conditionEarlierFailures: [[String: [String]]] = [],
                verificationRecords: [VerificationRecord] = [],
                committedResult: (_ condition: Int, _ id: String) throws -> CommittedTask = { _, id in
                    throw CoordinatorError("no journal to read the committed result of \(id) from")
                }, promptIDs knownPromptIDs: [[Int32]]? = nil, runID: String, now: Double) throws {
        self.configuration = configuration
        self.runID = runID
        let index = try Self.validate(configuration)
        problemCount = configuration.problems.count
        conditionCount = 1 + configuration.conditions.count
        if let knownPromptIDs, knownPromptIDs.count != configuration.problems.count {
            throw CoordinatorError("\(knownPromptIDs.count) tokenized prompts given for \(configuration.problems.count) problems")
        }
        promptIDs = knownPromptIDs ?? Self.promptIDs(of: configuration)
        assembler = TaskAssembler(configuration: configuration, promptIDs: promptIDs)
        hookpointNames = Set(configuration.hookpoints.map(\.name))
        rowLimits = promptIDs.map { (configuration.includePrompt ? $0.count : 0) + configuration.generation.maxNewTokens }
        var kByHookpoint: [String: Int] = [:]
        for h in configuration.hookpoints { kByHookpoint[h.name] = configuration.saes[h.sae]?.cfg["k"]?.intValue }
        self.kByHookpoint = kByHookpoint

        let committedSets = [committedIDs] + (0..<configuration.conditions.count).map { conditionCommittedIDs.indices.contains($0) ? conditionCommittedIDs[$0] : [] }
        let failureSets = [earlierFailures] + (0..<configuration.conditions.count).map { conditionEarlierFailures.indices.contains($0) ? conditionEarlierFailures[$0] : [:] }
        var done: Set<Int> = []
        var failedBefore: [Int: [String]] = [:]
        for condition in 0..<conditionCount {
            let base = condition * configuration.problems.count
            for id in committedSets[condition] { if let p = index[id] { done.insert(base + p) } }
            for (id, reasons) in failureSets[condition] { if let p = index[id] { failedBefore[base + p] = reasons } }
        }
        let total = configuration.problems.count * conditionCount
        let labels = (0..<total).map { Self.label(configuration, task: $0) }
        if !done.isEmpty {
            startupLog.append(.log(.info, "resuming \(configuration.outDirectory): \(done.count) of \(total) \(conditionCount > 1 ? "(problem, condition) tasks" : "problems") already committed"))
        }
        if !failedBefore.isEmpty {
            let ids = failedBefore.keys.sorted().map { labels[$0] }
            if configuration.retryFailed {
                startupLog.append(.log(.info, "--retry-failed: trying again \(ids.count) problem(s) that failed in an earlier start: \(ids.joined(separator: ", "))"))
                failedBefore = [:]
            } else {
                startupLog.append(.log(.notice, "\(ids.count) problem(s) failed in an earlier start and stay failed (\(ids.joined(separator: ", "))); add --retry-failed to try them again"))
            }
        }
        journalledFailures = Set(failedBefore.keys)
        scheduler = Scheduler(taskCount: total, alreadyDone: done, alreadyFailed: failedBefore,
                              configuration: .init(leaseSeconds: configuration.leaseSeconds, maxAttempts: configuration.maxAttempts))
        crossCheck = CrossCheck(fraction: configuration.verifyFraction, seed: configuration.generation.seed,
                                problemIDs: labels, earlier: verificationRecords)
        progress = RunProgress(total: total, started: now)
        progress.done = done.count
        progress.resumed = done.count
        progress.failed = failedBefore.count
        statistics = RunStatistics(started: now)
        listeningSince = now
        if crossCheck.isEnabled {
            startupLog.append(.log(.info, "--verify-fraction \(configuration.verifyFraction): \(crossCheck.selected.count) of \(total) \(conditionCount > 1 ? "(problem, condition) tasks" : "problems") will be run again on another worker and compared bit for bit"))
            var digests: [Int: [UInt8]] = [:]
            for task in crossCheck.problemsNeedingDigests(committed: done) {
                digests[task] = CrossCheck.digest(of: try committedResult(task / problemCount, configuration.problems[task % problemCount].id))
            }
            var resumed: [Action] = []
            let decisions = crossCheck.resume(committedDigests: digests)
            apply(decisions, into: &resumed)
            if !decisions.isEmpty {
                startupLog.append(.log(.info, "resuming \(decisions.count) cross-check(s) an earlier start left open"))
            }
            startupLog += resumed
        }
    }

    /// Every problem's prompt as token ids, in selection order: what the assigns carry. A caller
    /// that needs them before the run starts (`thinklens run` sizes its workers' KV caches by the
    /// longest) tokenizes once and hands them to `init`.
    public static func promptIDs(of configuration: CoordinatorConfiguration) -> [[Int32]] {
        configuration.problems.map { configuration.prompt.ids(for: $0.question, tokenizer: configuration.tokenizer) }
    }

    /// Refuses a configuration no run can use, before anything is written; returns the task
    /// index of each problem id.
    @discardableResult
    public static func validate(_ configuration: CoordinatorConfiguration) throws -> [String: Int] {
        guard !configuration.problems.isEmpty else { throw CoordinatorError("the problem selection '\(configuration.selectionText)' is empty") }
        guard !configuration.hookpoints.isEmpty else { throw CoordinatorError("no hookpoints given (--hookpoints layers.5.mlp,...)") }
        for h in configuration.hookpoints {
            try BundleLayout.checkHookpointName(h.name)
            guard configuration.saes[h.sae] != nil else {
                throw CoordinatorError("no SAE for hookpoint '\(h.sae)' (have: \(configuration.saes.keys.sorted().joined(separator: ", ")))")
            }
        }
        var index: [String: Int] = [:]
        for (i, p) in configuration.problems.enumerated() {
            if index[p.id] != nil { throw CoordinatorError("problem \(p.id) is selected twice in '\(configuration.selectionText)'") }
            index[p.id] = i
        }
        return index
    }

    // MARK: Queries

    public var isFinished: Bool { scheduler.isFinished }

    /// The (condition, problem) task a scheduler task runs: its own index, or that of the
    /// task an extra run checks.
    func primary(of task: Int) -> Int { task < primaryCount ? task : extraRuns[task]!.problem }
    /// The problem (index into the selection) a scheduler task runs.
    func problem(of task: Int) -> Int { primary(of: task) % problemCount }
    /// The condition a scheduler task runs under: 0 the baseline, 1... the `--intervene` ones.
    func condition(of task: Int) -> Int { primary(of: task) / problemCount }
    /// How logs and cross-check records name a task: the problem id, after "NAME/" for a condition.
    func label(of task: Int) -> String { Self.label(configuration, task: primary(of: task)) }

    static func label(_ configuration: CoordinatorConfiguration, task: Int) -> String {
        let problems = configuration.problems.count
        let id = configuration.problems[task % problems].id
        return task < problems ? id : "\(configuration.conditions[task / problems - 1].name)/\(id)"
    }

    /// The hookpoints whose latents a condition's tasks stream (none for a condition when
    /// `--intervention-latents none`).
    func hookpoints(ofCondition condition: Int) -> [HookpointSpec] {
        condition == 0 || configuration.interventionLatents ? configuration.hookpoints : []
    }

    /// Whether `task` is a valid scheduler task number from the wire.
    private func knownTask(_ wire: UInt64) -> Int? {
        guard let task = Int(exactly: wire), task < scheduler.taskCount else { return nil }
        return task
    }
    /// Admitted workers, in no particular order (to tell them the run is over).
    public var admittedWorkers: [Peer] { Array(workers.keys) }
    public func describe(_ peer: Peer) -> String { workers[peer]?.name ?? "(unknown peer)" }
    /// Failed problems, id → one reason per attempt.
    public var failedProblems: [String: [String]] {
        var failed: [String: [String]] = [:]
        for t in scheduler.failed where t < primaryCount { failed[label(of: t)] = scheduler.failureReasons(for: t) }
        return failed
    }

    // MARK: The bounds, read-only (for tests and the fuzz harness in Fuzz/)

    /// Latents staged for one task at one hookpoint.
    public struct StagedCount: Equatable, Sendable {
        public let rows: Int
        public let chunks: Int
    }

    /// Credit `peer` has granted and not yet used: at most its hello's batch slots.
    public func openCredit(of peer: Peer) -> Int { scheduler.openCredit(of: peer) }

    /// What is staged for `task`, per hookpoint: never more rows than `rowLimit(of:)`.
    public func staged(task: Int) -> [String: StagedCount] {
        guard let entry = staged[task] else { return [:] }
        var counts: [String: StagedCount] = [:]
        for (hookpoint, rows) in entry.rows { counts[hookpoint] = StagedCount(rows: rows, chunks: entry.chunks[hookpoint]?.count ?? 0) }
        return counts
    }

    /// The most latent rows `task` may stage per hookpoint (its prompt when included, plus `maxNewTokens`).
    public func rowLimit(of task: Int) -> Int { rowLimits[problem(of: task)] }

    /// Workers quarantined by cross-checks, by name.
    public var quarantinedWorkers: Set<String> { crossCheck.quarantined }
    /// The cross-check records so far (earlier starts' first).
    public var verificationRecords: [VerificationRecord] { crossCheck.records }

    // MARK: Events

    /// The socket is bound: the resume notes, then where we listen.
    public mutating func listening(on endpoint: String, now: Double) -> [Action] {
        listeningSince = now
        var actions = startupLog
        startupLog = []
        actions.append(.log(.info, "coordinator listening on \(endpoint) for \(configuration.problems.count) problems (\(scheduler.completed.count) already committed), hookpoints \(configuration.hookpoints.map(\.name).joined(separator: ","))"))
        if configuration.minWorkers > 1 && !scheduler.isFinished {
            actions.append(.log(.info, "waiting for \(configuration.minWorkers) workers (at most \(Int(configuration.minWorkersWaitSeconds)) s) before assigning tasks"))
        }
        return actions
    }

    /// A frame set that is not (routing id, one message frame).
    public mutating func receivedMalformed(frameCount: Int) -> [Action] {
        statistics.garbageMessages += 1
        return [.log(.warning, "dropped a \(frameCount)-frame message (expected routing id + 1 frame)")]
    }

    /// A message frame the decoder refused. From an admitted worker it ends that worker.
    public mutating func receivedUndecodable(from peer: Peer, error: String) -> [Action] {
        statistics.garbageMessages += 1
        guard scheduler.isKnown(peer) else {
            return [.log(.debug, "dropped an undecodable message from an unknown peer: \(error)")]
        }
        var actions: [Action] = [.log(.warning, "worker \(describe(peer)) sent an undecodable message (\(error)); dropping the worker")]
        let requeued = scheduler.workerLost(peer, reason: "sent an undecodable message")
        if !requeued.isEmpty { actions.append(.log(.info, "requeued \(ids(requeued))")) }
        forget(peer)
        return actions
    }

    public mutating func received(_ message: Message, from peer: Peer, now: Double) -> [Action] {
        if case .hello(let hello) = message { return welcome(peer, hello: hello, now: now) }
        guard scheduler.isKnown(peer) else {
            // A worker of a previous coordinator (or one we expired): it will notice the
            // silence and say hello again.
            return [.log(.debug, "ignored \(message.typeName) from a peer that has not said hello")]
        }
        scheduler.heard(from: peer, now: now)
        switch message {
        case .credit(let credit):
            scheduler.granted(credit.count, by: peer, limit: workers[peer]?.hello.batchSlots ?? 0)
        case .heartbeat:
            break
        case .latentChunk(let chunk):
            return stage(chunk, from: peer, now: now)
        case .taskDone(let done):
            return finish(done, from: peer, now: now)
        case .taskFailed(let failure):
            guard let task = knownTask(failure.taskID) else { return [] }
            let problemID = label(of: task)
            if failure.handedBack {
                if scheduler.handedBack(task, attempt: failure.attempt, by: peer) == .accepted {
                    staged[task] = nil
                    inProgress[task] = nil
                    return [.log(.info, "\(problemID) handed back by \(describe(peer)) (\(PeerText.escaped(failure.reason))); requeued")]
                }
            } else if scheduler.failed(task, attempt: failure.attempt, by: peer, reason: PeerText.escaped(failure.reason, limit: 1000)) == .accepted {
                staged[task] = nil
                inProgress[task] = nil
                return [.log(.warning, "\(problemID) failed on \(describe(peer)): \(PeerText.escaped(failure.reason))")]
            }
        case .hello, .welcome, .reject, .assign, .shutdown:
            return [.log(.warning, "ignored a \(message.typeName) message from worker \(describe(peer)): coordinators do not accept it")]
        }
        return []
    }

    /// The finished tasks of this pass, handed to the loop for one group commit.
    public mutating func takePendingCommits() -> [PendingCommit] {
        defer { pending = [] }
        return pending
    }

    /// The journal's answer for each task of a group commit (in the same order): accepted ones
    /// now count as done, even when their worker was dropped since it sent them; rejected ones
    /// fail that attempt.
    public mutating func committed(_ batch: [PendingCommit], outcomes: [RunStore.CommitOutcome], now: Double) -> [Action] {
        var actions: [Action] = []
        for (entry, outcome) in zip(batch, outcomes) {
            let id = label(of: entry.task)
            switch outcome {
            case .committed, .duplicateIdentical:
                break
            case .duplicateDifferent:
                actions.append(.log(.warning, "\(id) was already committed with different content; keeping the first (generation should be deterministic: check the workers' builds)"))
            case .rejected(let error):
                actions.append(.log(.warning, "\(id) from \(describe(entry.worker)) rejected: \(error)"))
                _ = scheduler.failed(entry.task, attempt: entry.attempt, by: entry.worker, reason: "inconsistent result: \(error.reason)")
                continue
            }
            // Durable now: a task requeued or failed since (its worker was dropped before this
            // commit) must not run again or be reported failed beside its committed result.
            guard scheduler.committed(entry.task) else { continue }
            staged[entry.task] = nil
            inProgress[entry.task] = nil
            apply(crossCheck.committed(entry.task, by: entry.workerName, result: entry.committed), into: &actions)
            let tokens = entry.done.generatedIDs.count
            progress.done += 1
            progress.tokens += tokens
            statistics.lastCommitted = now
            if let info = workers[entry.worker] {
                statistics.recordFinished(by: info.name, host: info.hello.host, tokens: tokens, timings: entry.done.timings)
            }
        }
        return actions
    }

    /// Leases, durable failures, dispatch against credit, heartbeats, progress counters.
    public mutating func tick(now: Double) -> [Action] {
        var actions: [Action] = []
        for (worker, requeued) in scheduler.expire(now: now) {
            actions.append(.log(.warning, "worker \(workers[worker]?.name ?? "?") silent for more than \(configuration.leaseSeconds) s: presumed dead; requeued tasks \(ids(requeued))"))
            forget(worker)
        }
        actions += takeStalledTasks(now: now)
        actions += recordNewFailures()
        actions += abandonUnrunnableChecks(now: now)
        actions += dispatch(now: now)
        for worker in workers.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            guard var info = workers[worker], now - info.lastHeartbeatSent >= configuration.heartbeatInterval else { continue }
            info.lastHeartbeatSent = now
            info.heartbeatSequence += 1
            workers[worker] = info
            actions.append(.send(.heartbeat(Heartbeat(sequence: info.heartbeatSequence)), to: worker))
        }
        progress.workersAlive = workers.count
        progress.requeues = scheduler.requeues
        progress.failed = scheduler.failed.filter { $0 < primaryCount }.count
        return actions
    }

    /// A message to `peer` could not be delivered: the peer is dropped and its tasks requeued.
    public mutating func sendFailed(to peer: Peer, _ failure: SendFailure, messageType: String) -> [Action] {
        guard workers[peer] != nil || scheduler.isKnown(peer) else { return [] }
        let log: Action
        switch failure {
        case .queueFull:
            log = .log(.warning, "worker \(describe(peer)) is not reading (its queue is full); dropping it")
            scheduler.workerLost(peer, reason: "stopped reading messages")
        case .unreachable:
            log = .log(.warning, "worker \(describe(peer)) disconnected; requeueing its tasks")
            scheduler.workerLost(peer, reason: "disconnected")
        case .failed(let error):
            log = .log(.error, "sending \(messageType) to \(describe(peer)) failed: \(error); dropping the worker")
            scheduler.workerLost(peer, reason: "disconnected")
        }
        forget(peer)
        return [log]
    }

    /// Failures not yet in the journal (also called once more when the loop ends).
    public mutating func recordNewFailures() -> [Action] {
        var actions: [Action] = []
        for task in scheduler.failed.subtracting(journalledFailures).sorted() {
            guard task < primaryCount else {
                // An extra run out of attempts: its check cannot happen.
                journalledFailures.insert(task)
                if let run = extraRuns[task], abandonedRuns.insert(task).inserted {
                    actions.append(.log(.warning, "the \(run.purpose) run of \(label(of: run.problem)) failed on every attempt; its check is recorded as skipped"))
                    apply(crossCheck.abandoned(run), into: &actions)
                }
                continue
            }
            let problem = configuration.problems[problem(of: task)]
            actions.append(.recordFailure(.init(id: problem.id, split: problem.split, index: problem.index,
                                                reasons: scheduler.failureReasons(for: task)), condition: condition(of: task)))
            journalledFailures.insert(task)
        }
        return actions
    }

    // MARK: The bundle

    /// The manifest of the baseline's bundle (condition 0: the run's own), or of a condition's.
    public func manifest(condition: Int = 0) -> RunManifest {
        let first = condition * problemCount
        let failed = scheduler.failed.filter { (first..<(first + problemCount)).contains($0) }.sorted().map {
            RunManifest.FailedProblem(id: configuration.problems[$0 - first].id, reasons: scheduler.failureReasons(for: $0))
        }
        let hookpoints = hookpoints(ofCondition: condition)
        return RunManifest(
            thinklensVersion: ThinkLensVersion.program, model: configuration.model,
            tokenizerFingerprint: configuration.tokenizer.fingerprint,
            saes: Dictionary(uniqueKeysWithValues: hookpoints.map { ($0.name, configuration.saes[$0.sae]!) }),
            generation: RunSettings.generationJSON(configuration), promptFormat: RunSettings.promptJSON(configuration.prompt),
            selectedProblemIDs: configuration.problems.map(\.id), hookpoints: hookpoints.map(\.name), failed: failed,
            dataset: configuration.dataset,
            verification: crossCheck.isEnabled && condition == 0 ? VerificationReport.manifestJSON(crossCheck) : nil,
            intervention: condition == 0 ? nil : RunSettings.conditionJSON(configuration.conditions[condition - 1]))
    }

    func runJSON(endpoint: String, now: Double, startedWall: Date, finishedWall: Date) -> JSONValue {
        var json = statistics.json(endpoint: endpoint, requeues: scheduler.requeues, progress: progress, now: now,
                                   startedWall: startedWall, finishedWall: finishedWall)
        if crossCheck.isEnabled, case .object(var members) = json {
            members["verification"] = VerificationReport.runJSON(crossCheck)
            json = .object(members)
        }
        return json
    }

    // MARK: Steps

    private mutating func welcome(_ peer: Peer, hello: Hello, now: Double) -> [Action] {
        var differences: [String] = []
        if hello.protocolVersion != ThinkLensVersion.wireProtocol {
            differences.append("protocol version \(hello.protocolVersion) (coordinator speaks \(ThinkLensVersion.wireProtocol))")
        }
        if hello.modelFingerprint != configuration.model.fingerprint {
            differences.append("model fingerprint \(PeerText.escaped(hello.modelFingerprint)) (run uses \(configuration.model.fingerprint))")
        }
        if hello.tokenizerFingerprint != configuration.tokenizer.fingerprint {
            differences.append("tokenizer fingerprint \(PeerText.escaped(hello.tokenizerFingerprint)) (run uses \(configuration.tokenizer.fingerprint))")
        }
        for sae in Set(configuration.hookpoints.map(\.sae) + configuration.conditions.flatMap { $0.edits.map(\.hookpoint) }).sorted() {
            let expected = configuration.saes[sae]!.fingerprint
            let theirs = hello.saeFingerprints[sae]
            if theirs != expected {
                differences.append(theirs.map { "SAE \(sae) fingerprint \(PeerText.escaped($0)) (run uses \(expected))" }
                    ?? "no SAE \(sae) loaded (its --sae folder needs \(sae)/cfg.json and \(sae)/sae.safetensors)")
            }
        }
        let name = PeerText.escaped("\(hello.workerID)@\(hello.host)")
        if crossCheck.quarantined.contains(name) {
            differences.append("it is quarantined: its results disagreed with two other workers' (see run.json's verification section); check its build and CPU, then start it under another --worker-id")
        }
        if hello.kvCache != configuration.kvCache {
            differences.append("KV cache \(hello.kvCache.rawValue) (\(hello.kvCache.longName); run uses --kv-cache \(configuration.kvCache.rawValue), \(configuration.kvCache.longName)): restart the worker with --kv-cache \(configuration.kvCache.rawValue)")
        }
        if !(1...Self.maximumBatchSlots).contains(hello.batchSlots) {
            differences.append("batch slots \(hello.batchSlots) (must be 1 to \(Self.maximumBatchSlots))")
        }
        if !differences.isEmpty {
            let reason = "worker \(PeerText.escaped("\(hello.workerID)@\(hello.host)")) does not match this run: " + differences.joined(separator: "; ")
            return logRejection(of: peer, reason: reason, now: now) + [.sendBestEffort(.reject(Reject(reason: reason)), to: peer)]
        }
        var actions: [Action] = []
        if scheduler.isKnown(peer) {
            // A repeated hello (our welcome was lost): welcome again, keep its tasks.
            scheduler.heard(from: peer, now: now)
        } else {
            scheduler.workerJoined(peer, now: now)
            workers[peer] = WorkerInfo(hello: hello)
            actions.append(.log(.info, "welcomed worker \(workers[peer]!.name) pid \(hello.pid) (\(hello.batchSlots) slots, \(hello.threads) threads)"))
        }
        actions.append(.send(.welcome(Welcome(runID: runID, heartbeatIntervalMilliseconds: Int(configuration.heartbeatInterval * 1000))), to: peer))
        return actions
    }

    private mutating func stage(_ chunk: LatentChunk, from peer: Peer, now: Double) -> [Action] {
        guard let task = knownTask(chunk.taskID), scheduler.currentAttempt(of: task, by: peer) == chunk.attempt else {
            return []  // an abandoned attempt or a late duplicate
        }
        guard hookpointNames.contains(chunk.hookpoint), condition(of: task) == 0 || configuration.interventionLatents else {
            return [.log(.warning, "dropped a latent chunk for unknown hookpoint '\(PeerText.escaped(chunk.hookpoint))' from \(describe(peer))")]
        }
        var entry = staged[task] ?? Staged(attempt: chunk.attempt)
        if entry.attempt != chunk.attempt { entry = Staged(attempt: chunk.attempt) }
        let rowLimit = rowLimit(of: task)
        let rows = entry.rows[chunk.hookpoint, default: 0] + chunk.tokenCount
        if rows > rowLimit || (kByHookpoint[chunk.hookpoint].map { chunk.k != $0 } ?? false) {
            let what = rows > rowLimit
                ? "\(rows) latent rows for \(chunk.hookpoint), more than the \(rowLimit) the task allows"
                : "k = \(chunk.k) for \(chunk.hookpoint), whose SAE has k = \(kByHookpoint[chunk.hookpoint]!)"
            var actions: [Action] = [.log(.warning, "worker \(describe(peer)) sent \(what) (\(label(of: task))); dropping the worker")]
            let requeued = scheduler.workerLost(peer, reason: "sent \(what)")
            if !requeued.isEmpty { actions.append(.log(.info, "requeued \(ids(requeued))")) }
            forget(peer)
            return actions
        }
        entry.rows[chunk.hookpoint] = rows
        entry.chunks[chunk.hookpoint, default: []].append(chunk)
        staged[task] = entry
        noteProgress(of: task, now: now)
        return []
    }

    private mutating func finish(_ done: TaskDone, from peer: Peer, now: Double) -> [Action] {
        guard let task = knownTask(done.taskID), scheduler.currentAttempt(of: task, by: peer) == done.attempt,
              !pending.contains(where: { $0.task == task }) else { return [] }  // a duplicate before the commit
        let chunks = staged.removeValue(forKey: task)
        noteProgress(of: task, now: now)
        inProgress[task] = nil
        let committed: CommittedTask
        do {
            committed = try assembler.assemble(task: problem(of: task), done: done, chunks: chunks?.attempt == done.attempt ? chunks!.chunks : [:],
                                               hookpoints: hookpoints(ofCondition: condition(of: task)))
        } catch {
            _ = scheduler.failed(task, attempt: done.attempt, by: peer, reason: "inconsistent result: \(error)")
            return [.log(.warning, "\(label(of: task)) from \(describe(peer)) is inconsistent: \(error)")]
        }
        if let run = extraRuns[task] {
            // A check's result is compared, not committed: the problem's result is durable already.
            guard scheduler.finished(task, attempt: done.attempt, by: peer) == .accepted else { return [] }
            var actions: [Action] = []
            apply(crossCheck.finished(run, by: describe(peer), result: committed), into: &actions)
            return actions
        }
        pending.append(PendingCommit(task: task, condition: condition(of: task), attempt: done.attempt, worker: peer,
                                     workerName: describe(peer), done: done, committed: committed))
        return []
    }

    private mutating func dispatch(now: Double) -> [Action] {
        var actions: [Action] = []
        if !waitedForWorkers {
            let ready = scheduler.readyWorkerCount
            let waited = now - listeningSince
            guard ready >= configuration.minWorkers || waited >= configuration.minWorkersWaitSeconds else { return [] }
            waitedForWorkers = ready > 0
            if waitedForWorkers && ready < configuration.minWorkers {
                actions.append(.log(.warning, "only \(ready) of \(configuration.minWorkers) workers ready after \(Int(waited)) s; starting with them"))
            }
        }
        let extraRuns = self.extraRuns, workers = self.workers
        let assignments = scheduler.assign { task, worker in
            guard let run = extraRuns[task], let name = workers[worker]?.name else { return true }
            return !run.excluded.contains(name)
        }
        for a in assignments {
            let index = problem(of: a.task), condition = condition(of: a.task)
            let problem = configuration.problems[index]
            actions.append(.send(.assign(Assign(
                taskID: UInt64(a.task), attempt: a.attempt, problemID: problem.id, promptIDs: promptIDs[index],
                generation: configuration.generation, hookpoints: configuration.hookpoints,
                includePrompt: configuration.includePrompt,
                edits: condition == 0 ? [] : configuration.conditions[condition - 1].edits,
                streamsLatents: condition == 0 || configuration.interventionLatents)), to: a.worker))
            inProgress[a.task] = Progress(worker: a.worker, at: now)
            if statistics.firstAssigned == nil { statistics.firstAssigned = now }
            if a.attempt > 1 { actions.append(.log(.info, "\(label(of: a.task)) attempt \(a.attempt) → \(describe(a.worker))")) }
        }
        return actions
    }

    /// Carries out the cross-checks' decisions.
    private mutating func apply(_ decisions: [CrossCheck.Decision], into actions: inout [Action]) {
        for decision in decisions {
            switch decision {
            case .queue(let run):
                let task = scheduler.addTask()
                extraRuns[task] = run
            case .record(let record):
                actions.append(.recordVerification(record))
                let workers = record.workers.joined(separator: ", ")
                switch record.event {
                case .match, .rerunIdentical, .rerunQueued:
                    actions.append(.log(.info, "check \(record.event.rawValue): \(record.problem) (\(workers))"))
                case .mismatch:
                    actions.append(.log(.warning, "check mismatch: \(record.problem) differs between \(workers); a third worker decides"))
                case .resolved:
                    actions.append(.log(.warning, "check resolved: \(record.problem): \(record.oddWorker ?? "?") disagreed with the other two (\(workers))"))
                case .unresolved:
                    actions.append(.log(.error, "check unresolved: \(record.problem) gave three different results (\(workers)); the first stays. Generation should be deterministic: check the workers' builds"))
                case .skipped:
                    actions.append(.log(.warning, "check skipped: \(record.problem) (no other worker could run it)"))
                case .rerunReplaced:
                    actions.append(.log(.warning, "rerun of \(record.problem) differed from the quarantined worker's result (\(workers)); replaced it"))
                }
            case .replace(let result, let task):
                actions.append(.replaceResult(result, condition: task / problemCount))
            case .quarantine(let name):
                actions.append(.log(.error, "quarantined worker \(name): its results disagreed with two other workers'; dropping it, refusing it from now on and running its other results again"))
                for (peer, info) in workers.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) where info.name == name {
                    let requeued = scheduler.workerLost(peer, reason: "quarantined by a cross-check")
                    if !requeued.isEmpty { actions.append(.log(.info, "requeued \(ids(requeued))")) }
                    forget(peer)
                    actions.append(.sendBestEffort(.reject(Reject(reason: "worker \(name) is quarantined: its results disagreed with two other workers'")), to: peer))
                }
            }
        }
    }

    /// Checks no connected worker may run (each needs another worker than the ones that ran
    /// the problem), once everything else is done and no other worker came for as long as a
    /// run waits for its workers (`minWorkersWaitSeconds`, at least a lease): recorded as
    /// skipped, so a run with a single worker left still ends.
    private mutating func abandonUnrunnableChecks(now: Double) -> [Action] {
        guard !extraRuns.isEmpty, scheduler.inFlightCount == 0 else {
            blockedSince = nil
            return []
        }
        let queued = scheduler.pendingTasks
        let names = Set(workers.values.map(\.name))
        let blocked = !names.isEmpty && queued.allSatisfy { task in
            guard let run = extraRuns[task], run.purpose != .rerun else { return false }
            return names.isSubset(of: run.excluded)
        }
        guard blocked, !queued.isEmpty else {
            blockedSince = nil
            return []
        }
        guard let since = blockedSince else {
            blockedSince = now
            return []
        }
        guard now - since > max(configuration.leaseSeconds, configuration.minWorkersWaitSeconds) else { return [] }
        blockedSince = nil
        var actions: [Action] = []
        for task in queued {
            scheduler.withdraw(task)
            if let run = extraRuns[task], abandonedRuns.insert(task).inserted { apply(crossCheck.abandoned(run), into: &actions) }
        }
        return actions
    }

    /// A chunk or the result of `task` arrived: its clock restarts, and the gap feeds the
    /// automatic progress timeout.
    private mutating func noteProgress(of task: Int, now: Double) {
        guard let last = inProgress[task]?.at else { return }
        longestProgressGap = max(longestProgressGap, now - last)
        inProgress[task]?.at = now
    }

    /// Seconds without progress after which a task is taken from its worker.
    var progressTimeout: Double {
        configuration.progressTimeout > 0 ? configuration.progressTimeout
            : max(Self.minimumProgressTimeout, 10 * longestProgressGap)
    }

    /// Tasks whose worker heartbeats but has not moved them for the progress timeout: the
    /// worker is dropped and its tasks requeued.
    private mutating func takeStalledTasks(now: Double) -> [Action] {
        let limit = progressTimeout
        let stalled = inProgress.filter { now - $0.value.at > limit }.sorted { $0.key < $1.key }
        var actions: [Action] = []
        for (task, progress) in stalled where workers[progress.worker] != nil {
            actions.append(.log(.warning, "worker \(describe(progress.worker)) made no progress on \(label(of: task)) for more than \(Int(limit)) s; dropping it and requeueing its tasks"))
            let requeued = scheduler.workerLost(progress.worker, reason: "no progress for more than \(Int(limit)) s")
            if !requeued.isEmpty { actions.append(.log(.info, "requeued \(ids(requeued))")) }
            forget(progress.worker)
        }
        return actions
    }

    /// Refused hellos are logged once per peer: a worker that is refused keeps saying hello, and
    /// a crowd of them must not flood the log. Repeats are counted and summed up once a minute.
    private mutating func logRejection(of peer: Peer, reason: String, now: Double) -> [Action] {
        statistics.rejectedWorkers += 1
        if rejectedPeers.count >= Self.rememberedRejections { rejectedPeers.removeAll() }
        if rejectedPeers.insert(peer).inserted { return [.log(.error, "rejected \(reason)")] }
        repeatedRejections += 1
        guard now - lastRejectionSummary >= 60 else { return [] }
        lastRejectionSummary = now
        defer { repeatedRejections = 0 }
        return [.log(.notice, "refused \(repeatedRejections) more hello(s) from \(rejectedPeers.count) rejected peer(s) in the last minute")]
    }

    /// Drops a worker and the staged latents of tasks no longer in flight anywhere.
    private mutating func forget(_ peer: Peer) {
        workers[peer] = nil
        inProgress = inProgress.filter { $0.value.worker != peer }
        let scheduler = self.scheduler, workers = self.workers
        staged = staged.filter { task, _ in workers.keys.contains { scheduler.currentAttempt(of: task, by: $0) != nil } }
    }

    private func ids(_ tasks: [Int]) -> [String] { tasks.map { label(of: $0) } }
}
