import Foundation
import GSM8K
import Logging
import Protocol
import Tokenizer
import Transport

/// One (capture point, SAE) pair of a run. `name` is how the bundle calls it:
/// the SAE's hookpoint when both are the same, else `CAPTURE=SAE`.
public struct RunHookpoint: Sendable, Equatable {
    public var capture: String
    public var sae: String
    public var name: String { capture == sae ? sae : "\(capture)=\(sae)" }

    public init(capture: String, sae: String) {
        self.capture = capture
        self.sae = sae
    }

    /// `layers.10.mlp` or `hidden_states.10=layers.10.mlp`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw RunDataError(subject: "hookpoint '\(text)'", reason: "expected HOOKPOINT or CAPTURE=SAE, e.g. layers.10.mlp or hidden_states.10=layers.10.mlp")
        }
        self.init(capture: parts[0], sae: parts.count == 2 ? parts[1] : parts[0])
    }
}

/// What the coordinator of one run is given.
public struct CoordinatorConfiguration {
    public var listen: String
    public var problems: [GSM8KProblem]
    public var selectionText: String
    public var hookpoints: [RunHookpoint]
    public var outDirectory: String
    public var generation: GenerationParameters
    public var includePrompt: Bool
    public var prompt: ChatPrompt
    public var tokenizer: BPETokenizer
    /// The model's config.json and fingerprint, as workers must match them.
    public var model: RunManifest.Model
    /// SAE hookpoint name → cfg and fingerprint, for the SAEs this run uses.
    public var saes: [String: RunManifest.SAE]
    public var curveKeys: CurveKeyPair?
    /// Z85 public keys allowed to connect (CURVE only); nil admits any key that knows ours.
    public var allowedWorkerKeys: Set<String>?
    public var heartbeatInterval: Double = 1
    /// Seconds of silence after which a worker is presumed dead.
    public var leaseSeconds: Double = 15
    public var maxAttempts: Int = 3
    /// Tell workers to exit when the run is complete (true for `thinklens run`).
    public var shutdownWorkersAtEnd: Bool = true
    /// On resume, try again the problems an earlier start recorded as failed (by default they
    /// stay failed, so a restarted run ends as the uninterrupted one would have).
    public var retryFailed: Bool = false
    /// Hand out no task until this many workers are ready (or `minWorkersWaitSeconds` have
    /// passed since listening): the first worker to say hello would otherwise take a whole
    /// batch, which for a run of few problems leaves the others idle.
    public var minWorkers: Int = 1
    public var minWorkersWaitSeconds: Double = 60

    public init(listen: String, problems: [GSM8KProblem], selectionText: String, hookpoints: [RunHookpoint], outDirectory: String,
                generation: GenerationParameters, includePrompt: Bool, prompt: ChatPrompt, tokenizer: BPETokenizer,
                model: RunManifest.Model, saes: [String: RunManifest.SAE]) {
        self.listen = listen
        self.problems = problems
        self.selectionText = selectionText
        self.hookpoints = hookpoints
        self.outDirectory = outDirectory
        self.generation = generation
        self.includePrompt = includePrompt
        self.prompt = prompt
        self.tokenizer = tokenizer
        self.model = model
        self.saes = saes
    }
}

public struct CoordinatorError: Error, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// How a coordinator run ended.
public struct CoordinatorOutcome {
    public var committed: Int
    public var failed: [String: [String]]
    public var interrupted: Bool
    public var bundle: BundleSummary?
}

/// The coordinator's event loop: one thread owns the ROUTER socket (and the ZAP handler),
/// the scheduler and the run store. Each pass polls the sockets, handles what arrived,
/// hands out work against credit, sends heartbeats and expires silent workers.
public final class CoordinatorLoop {
    public let configuration: CoordinatorConfiguration
    public private(set) var endpoint = ""
    private let logger: Logger
    private let store: RunStore
    private var scheduler: Scheduler<[UInt8]>
    private let taskIndexByID: [String: Int]
    private let promptIDs: [[Int32]]
    private let runID: String
    private let started = MonotonicClock.now()
    private let startedWall = Date()
    private var progress: RunProgress
    private let reporter: ProgressReporter

    private struct WorkerInfo {
        var hello: Hello
        var tasks = 0
        var tokens = 0
        var lastHeartbeatSent = 0.0
        var heartbeatSequence: UInt64 = 0
    }
    private var workers: [[UInt8]: WorkerInfo] = [:]
    /// What each worker (by "id@host") did over the run, for run.json.
    private struct WorkerHistory {
        var host: String
        var tasks = 0, tokens = 0
        var seconds = 0.0
        var phases: [String: Double] = [:]
    }
    private var workerHistory: [String: WorkerHistory] = [:]
    /// When the first task went out and the last was committed (monotonic seconds).
    private var firstAssigned: Double?
    /// When the socket was bound, and whether dispatch stopped waiting for --min-workers.
    private var listeningSince = 0.0
    private var waitedForWorkers = false
    private var lastCommitted: Double?
    private var staged: [Int: (attempt: UInt32, chunks: [String: [LatentChunk]])] = [:]
    private var rejectedWorkers = 0
    private var garbageMessages = 0
    /// Failed tasks already in the journal (from an earlier start or this one).
    private var journalledFailures: Set<Int> = []
    /// Finished tasks assembled during one pass, committed together with one fsync.
    private var pendingCommits: [(task: Int, attempt: UInt32, worker: [UInt8], done: TaskDone, committed: CommittedTask)] = []

    /// Called after each pass of the loop with the current progress (for `thinklens run`).
    public var onProgress: ((RunProgress) -> Void)?
    /// Called once the socket is bound, with the actual endpoint (ephemeral ports resolved).
    public var onListening: ((String) -> Void)?

    public init(configuration: CoordinatorConfiguration, logger: Logger, reporter: ProgressReporter = ProgressReporter()) throws {
        self.configuration = configuration
        self.logger = logger
        self.reporter = reporter
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
        taskIndexByID = index
        promptIDs = configuration.problems.map { configuration.prompt.ids(for: $0.question, tokenizer: configuration.tokenizer) }

        try FileManager.default.createDirectory(atPath: configuration.outDirectory, withIntermediateDirectories: true)
        try Self.checkOrRecordSettings(configuration)
        store = try RunStore(outDirectory: configuration.outDirectory, hookpoints: configuration.hookpoints.map(\.name))
        for warning in store.journal.recoveryWarnings { logger.warning("\(warning)") }
        let done = Set(store.committedIDs.compactMap { index[$0] })
        if !done.isEmpty { logger.info("resuming \(configuration.outDirectory): \(done.count) of \(configuration.problems.count) problems already committed") }
        var failedBefore: [Int: [String]] = [:]
        for (id, failure) in store.failures { if let t = index[id] { failedBefore[t] = failure.reasons } }
        if !failedBefore.isEmpty {
            let ids = failedBefore.keys.sorted().map { configuration.problems[$0].id }
            if configuration.retryFailed {
                logger.info("--retry-failed: trying again \(ids.count) problem(s) that failed in an earlier start: \(ids.joined(separator: ", "))")
                failedBefore = [:]
            } else {
                logger.notice("\(ids.count) problem(s) failed in an earlier start and stay failed (\(ids.joined(separator: ", "))); add --retry-failed to try them again")
            }
        }
        journalledFailures = Set(failedBefore.keys)
        scheduler = Scheduler(taskCount: configuration.problems.count, alreadyDone: done, alreadyFailed: failedBefore,
                              configuration: .init(leaseSeconds: configuration.leaseSeconds, maxAttempts: configuration.maxAttempts))
        progress = RunProgress(total: configuration.problems.count, started: started)
        progress.done = done.count
        progress.resumed = done.count
        progress.failed = failedBefore.count
        runID = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    // MARK: Run settings (resume safety)

    static let settingsFile = "run-settings.json"

    /// A restarted coordinator must run the same experiment: the first start records the
    /// settings that shape results; later starts with the same --out must match them.
    static func checkOrRecordSettings(_ c: CoordinatorConfiguration) throws {
        let settings = JSONValue.object([
            "model_fingerprint": .string(c.model.fingerprint),
            "tokenizer_fingerprint": .string(c.tokenizer.fingerprint),
            "saes": .object(c.saes.mapValues { .string($0.fingerprint) }),
            "hookpoints": .array(c.hookpoints.map { .string($0.name) }),
            "problems": .string(c.selectionText),
            "generation": generationJSON(c),
            "prompt": promptJSON(c.prompt),
        ]).serialized(pretty: true) + "\n"
        let path = (c.outDirectory as NSString).appendingPathComponent(settingsFile)
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            guard existing == settings else {
                throw CoordinatorError("\(path) records a run with different settings (model, SAEs, hookpoints, problems, generation or prompt); resume with the original settings or choose another --out.\nrecorded:\n\(existing)\nrequested:\n\(settings)")
            }
            return
        }
        do {
            try settings.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw CoordinatorError("cannot write \(path): \(error.localizedDescription); check that --out is writable and the disk is not full")
        }
    }

    static func generationJSON(_ c: CoordinatorConfiguration) -> JSONValue {
        .object([
            "max_new_tokens": .int(Int64(c.generation.maxNewTokens)),
            // Via the shortest decimal text, so 0.6 is written as 0.6, not 0.6000000238418579.
            "temperature": .double(Double("\(c.generation.temperature)") ?? 0),
            "top_p": .double(Double("\(c.generation.topP)") ?? 0),
            "top_k": .int(Int64(c.generation.topK)),
            "seed": .int(Int64(bitPattern: c.generation.seed)),
            "include_prompt": .bool(c.includePrompt),
        ])
    }

    static func promptJSON(_ p: ChatPrompt) -> JSONValue {
        .object([
            "template": .string(p.text(for: "{question}")),
            "suffix": .string(p.suffix),
            "think_prefix": .bool(p.thinkPrefix),
        ])
    }

    // MARK: The loop

    public func run(shouldStop: () -> Bool) throws -> CoordinatorOutcome {
        let context = try ZMQContext()
        defer { context.shutdown() }
        var authenticator: ZAPAuthenticator?
        if let allowed = configuration.allowedWorkerKeys, configuration.curveKeys != nil {
            let zap = try ZAPAuthenticator(context, allowedKeys: allowed)
            zap.onRefusal = { [logger] address, key in
                logger.warning("refused a CURVE connection from \(address): public key \(key) is not in the allow-list")
            }
            authenticator = zap
        }
        let socket = try ZMQSocket(context, kind: .router)
        defer { socket.close() }
        try socket.setRouterMandatory(true)
        try socket.setMaximumMessageSize(64 << 20)
        try socket.setReceiveHighWaterMark(100_000)
        try socket.setSendHighWaterMark(100_000)
        if let keys = configuration.curveKeys { try socket.setCurveServer(keys) }
        do {
            endpoint = try socket.bind(configuration.listen)
        } catch {
            throw CoordinatorError("cannot listen on \(configuration.listen): \(error); is the port in use or the address not local?")
        }
        logger.info("coordinator listening on \(endpoint) for \(configuration.problems.count) problems (\(scheduler.completed.count) already committed), hookpoints \(configuration.hookpoints.map(\.name).joined(separator: ","))")
        onListening?(endpoint)
        listeningSince = MonotonicClock.now()
        if configuration.minWorkers > 1 {
            logger.info("waiting for \(configuration.minWorkers) workers (at most \(Int(configuration.minWorkersWaitSeconds)) s) before assigning tasks")
        }

        var interrupted = false
        while !scheduler.isFinished {
            if shouldStop() {
                interrupted = true
                break
            }
            var items = [PollItem(socket, events: .readable)]
            if let zap = authenticator { items.append(PollItem(zap.socket, events: .readable)) }
            let ready = try ZMQPoll.poll(items, timeoutMilliseconds: 50)
            if ready.count > 1, ready[1].contains(.readable) { try authenticator?.handlePending() }
            if ready[0].contains(.readable) {
                var handled = 0
                while handled < 1000, let frames = try socket.receive(mode: .nonBlocking) {
                    handled += 1
                    try handle(frames, socket: socket)
                }
                try commitPending()
            }
            let now = MonotonicClock.now()
            for (worker, requeued) in scheduler.expire(now: now) {
                let name = workers[worker].map { "\($0.hello.workerID)@\($0.hello.host)" } ?? "?"
                logger.warning("worker \(name) silent for more than \(configuration.leaseSeconds) s: presumed dead; requeued tasks \(requeued.map { configuration.problems[$0].id })")
                forget(worker)
            }
            try journalNewFailures()
            try dispatch(socket)
            sendHeartbeats(socket, now: now)
            progress.workersAlive = workers.count
            progress.requeues = scheduler.requeues
            progress.failed = scheduler.failed.count
            reporter.update(progress, now: now)
            onProgress?(progress)
        }
        try journalNewFailures()
        reporter.finish(progress, now: MonotonicClock.now())

        if interrupted {
            logger.notice("interrupted: \(store.committedIDs.count) problems are committed in \(configuration.outDirectory)/journal; run the same command again to resume")
            return CoordinatorOutcome(committed: store.committedIDs.count, failed: [:], interrupted: true, bundle: nil)
        }
        if configuration.shutdownWorkersAtEnd {
            for worker in workers.keys {
                _ = try? socket.send([worker, Message.shutdown(Shutdown(reason: "run complete")).encode()], mode: .nonBlocking)
            }
        }
        let bundle = try writeBundle()
        var failed: [String: [String]] = [:]
        for t in scheduler.failed { failed[configuration.problems[t].id] = scheduler.failureReasons(for: t) }
        return CoordinatorOutcome(committed: store.committedIDs.count, failed: failed, interrupted: false, bundle: bundle)
    }

    // MARK: Messages

    private func handle(_ frames: [Frame], socket: ZMQSocket) throws {
        guard frames.count == 2 else {
            garbageMessages += 1
            logger.warning("dropped a \(frames.count)-frame message (expected routing id + 1 frame)")
            return
        }
        let worker = frames[0].bytes
        let message: Message
        do {
            message = try frames[1].withUnsafeBytes { try Message.decode($0) }
        } catch {
            garbageMessages += 1
            if scheduler.isKnown(worker) {
                logger.warning("worker \(describe(worker)) sent an undecodable message (\(error)); dropping the worker")
                let requeued = scheduler.workerLost(worker, reason: "sent an undecodable message")
                if !requeued.isEmpty { logger.info("requeued \(requeued.map { configuration.problems[$0].id })") }
                forget(worker)
            } else {
                logger.debug("dropped an undecodable message from an unknown peer: \(error)")
            }
            return
        }
        let now = MonotonicClock.now()
        if case .hello(let hello) = message {
            welcome(worker, hello: hello, socket: socket, now: now)
            return
        }
        guard scheduler.isKnown(worker) else {
            // A worker of a previous coordinator (or one we expired): it will notice the
            // silence and say hello again.
            logger.debug("ignored \(message.typeName) from a peer that has not said hello")
            return
        }
        scheduler.heard(from: worker, now: now)
        switch message {
        case .credit(let credit):
            scheduler.granted(credit.count, by: worker)
        case .heartbeat:
            break
        case .latentChunk(let chunk):
            stage(chunk, from: worker)
        case .taskDone(let done):
            try commit(done, from: worker)
        case .taskFailed(let failure):
            guard let task = Int(exactly: failure.taskID), task < configuration.problems.count else { return }
            if failure.handedBack {
                if scheduler.handedBack(task, attempt: failure.attempt, by: worker) == .accepted {
                    staged[task] = nil
                    logger.info("\(configuration.problems[task].id) handed back by \(describe(worker)) (\(failure.reason)); requeued")
                }
            } else if scheduler.failed(task, attempt: failure.attempt, by: worker, reason: failure.reason) == .accepted {
                staged[task] = nil
                logger.warning("\(configuration.problems[task].id) failed on \(describe(worker)): \(failure.reason)")
            }
        case .hello, .welcome, .reject, .assign, .cancel, .shutdown:
            logger.warning("ignored a \(message.typeName) message from worker \(describe(worker)): coordinators do not accept it")
        }
    }

    private func describe(_ worker: [UInt8]) -> String {
        workers[worker].map { "\($0.hello.workerID)@\($0.hello.host)" } ?? "(unknown peer)"
    }

    private func welcome(_ worker: [UInt8], hello: Hello, socket: ZMQSocket, now: Double) {
        var differences: [String] = []
        if hello.protocolVersion != ThinkLensVersion.wireProtocol {
            differences.append("protocol version \(hello.protocolVersion) (coordinator speaks \(ThinkLensVersion.wireProtocol))")
        }
        if hello.modelFingerprint != configuration.model.fingerprint {
            differences.append("model fingerprint \(hello.modelFingerprint) (run uses \(configuration.model.fingerprint))")
        }
        if hello.tokenizerFingerprint != configuration.tokenizer.fingerprint {
            differences.append("tokenizer fingerprint \(hello.tokenizerFingerprint) (run uses \(configuration.tokenizer.fingerprint))")
        }
        for sae in Set(configuration.hookpoints.map(\.sae)).sorted() {
            let expected = configuration.saes[sae]!.fingerprint
            let theirs = hello.saeFingerprints[sae]
            if theirs != expected {
                differences.append("SAE \(sae) fingerprint \(theirs ?? "missing") (run uses \(expected))")
            }
        }
        if !differences.isEmpty {
            rejectedWorkers += 1
            let reason = "worker \(hello.workerID)@\(hello.host) does not match this run: " + differences.joined(separator: "; ")
            logger.error("rejected \(reason)")
            _ = try? socket.send([worker, Message.reject(Reject(reason: reason)).encode()], mode: .nonBlocking)
            return
        }
        if scheduler.isKnown(worker) {
            // A repeated hello (our welcome was lost): welcome again, keep its tasks.
            scheduler.heard(from: worker, now: now)
        } else {
            scheduler.workerJoined(worker, now: now)
            workers[worker] = WorkerInfo(hello: hello)
            logger.info("welcomed worker \(hello.workerID)@\(hello.host) pid \(hello.pid) (\(hello.batchSlots) slots, \(hello.threads) threads)")
        }
        send(.welcome(Welcome(runID: runID, heartbeatIntervalMilliseconds: Int(configuration.heartbeatInterval * 1000))), to: worker, socket: socket)
    }

    private func stage(_ chunk: LatentChunk, from worker: [UInt8]) {
        guard let task = Int(exactly: chunk.taskID), task < configuration.problems.count,
              scheduler.currentAttempt(of: task, by: worker) == chunk.attempt else {
            return  // an abandoned attempt or a late duplicate
        }
        guard configuration.hookpoints.contains(where: { $0.name == chunk.hookpoint }) else {
            logger.warning("dropped a latent chunk for unknown hookpoint '\(chunk.hookpoint)' from \(describe(worker))")
            return
        }
        var entry = staged[task] ?? (chunk.attempt, [:])
        if entry.attempt != chunk.attempt { entry = (chunk.attempt, [:]) }
        entry.chunks[chunk.hookpoint, default: []].append(chunk)
        staged[task] = entry
    }

    private func commit(_ done: TaskDone, from worker: [UInt8]) throws {
        guard let task = Int(exactly: done.taskID), task < configuration.problems.count,
              scheduler.currentAttempt(of: task, by: worker) == done.attempt else { return }
        let chunks = staged.removeValue(forKey: task)
        let problem = configuration.problems[task]
        let committed: CommittedTask
        do {
            committed = try assemble(problem: problem, task: task, done: done, chunks: chunks?.attempt == done.attempt ? chunks!.chunks : [:])
        } catch {
            logger.warning("\(problem.id) from \(describe(worker)) is inconsistent: \(error)")
            _ = scheduler.failed(task, attempt: done.attempt, by: worker, reason: "inconsistent result: \(error)")
            return
        }
        pendingCommits.append((task, done.attempt, worker, done, committed))
    }

    /// Group commit: everything that finished during this pass becomes durable with one
    /// fsync; only then do the tasks count as done.
    private func commitPending() throws {
        guard !pendingCommits.isEmpty else { return }
        let batch = pendingCommits
        pendingCommits.removeAll()
        let outcomes: [RunStore.CommitOutcome]
        do {
            outcomes = try store.commit(batch.map(\.committed))
        } catch {
            throw CoordinatorError("could not commit \(batch.map { configuration.problems[$0.task].id }) to the journal in \(configuration.outDirectory): \(error). Everything committed before is safe; free disk space and rerun the same command to resume.")
        }
        for (entry, outcome) in zip(batch, outcomes) {
            let id = configuration.problems[entry.task].id
            switch outcome {
            case .committed, .duplicateIdentical:
                break
            case .duplicateDifferent:
                logger.warning("\(id) was already committed with different content; keeping the first (generation should be deterministic: check the workers' builds)")
            case .rejected(let error):
                logger.warning("\(id) from \(describe(entry.worker)) rejected: \(error)")
                _ = scheduler.failed(entry.task, attempt: entry.attempt, by: entry.worker, reason: "inconsistent result: \(error.reason)")
                continue
            }
            guard scheduler.finished(entry.task, attempt: entry.attempt, by: entry.worker) == .accepted else { continue }
            let tokens = entry.done.generatedIDs.count
            progress.done += 1
            lastCommitted = MonotonicClock.now()
            progress.tokens += tokens
            if var info = workers[entry.worker] {
                info.tasks += 1
                info.tokens += tokens
                workers[entry.worker] = info
                let key = "\(info.hello.workerID)@\(info.hello.host)"
                var history = workerHistory[key] ?? WorkerHistory(host: info.hello.host)
                history.tasks += 1
                history.tokens += tokens
                history.seconds += entry.done.timings["total"] ?? 0
                for (phase, seconds) in entry.done.timings where phase != "total" && seconds.isFinite && seconds >= 0 {
                    history.phases[phase, default: 0] += seconds
                }
                workerHistory[key] = history
            }
        }
    }

    /// Makes each newly failed problem durable, so a restart reports it instead of retrying it.
    private func journalNewFailures() throws {
        for task in scheduler.failed.subtracting(journalledFailures).sorted() {
            let problem = configuration.problems[task]
            do {
                try store.recordFailure(.init(id: problem.id, split: problem.split.rawValue, index: problem.index,
                                              reasons: scheduler.failureReasons(for: task)))
            } catch {
                throw CoordinatorError("could not record the failure of \(problem.id) in the journal in \(configuration.outDirectory): \(error). Everything committed before is safe; free disk space and rerun the same command to resume.")
            }
            journalledFailures.insert(task)
        }
    }

    /// Builds the committed form of a finished task, checking that the latents cover
    /// exactly the expected positions with the tokens the worker reported.
    private func assemble(problem: GSM8KProblem, task: Int, done: TaskDone, chunks: [String: [LatentChunk]]) throws -> CommittedTask {
        let prompt = promptIDs[task]
        guard done.promptTokens == prompt.count else {
            throw CoordinatorError("worker reports a \(done.promptTokens)-token prompt; the coordinator sent \(prompt.count)")
        }
        let tokenizer = configuration.tokenizer
        let text = tokenizer.decode(done.generatedIDs)
        let check = AnswerChecker.verdict(modelOutput: text, gold: problem.gold)
        let thinkEnd = ChatPrompt.thinkEndIndex(in: done.generatedIDs, tokenizer: tokenizer).map { prompt.count + $0 }
        let record = ProblemRecord(
            id: problem.id, split: problem.split.rawValue, index: problem.index, question: problem.question,
            gold: problem.gold, promptIDs: prompt, generatedIDs: done.generatedIDs, text: text,
            stop: done.stopReason, answer: check.answer,
            verdict: check.verdict, thinkEnd: thinkEnd)
        let first = configuration.includePrompt ? 0 : prompt.count
        let end = prompt.count + done.generatedIDs.count
        var latents: [String: LatentRows] = [:]
        for hookpoint in configuration.hookpoints {
            let parts = (chunks[hookpoint.name] ?? []).sorted { $0.firstPosition < $1.firstPosition }
            var positions: [Int32] = [], tokens: [Int32] = [], indices: [Int32] = [], acts: [Float] = []
            var k: Int? = nil
            var next = first
            for chunk in parts {
                guard chunk.firstPosition == next else {
                    throw CoordinatorError("\(hookpoint.name): latents jump from position \(next) to \(chunk.firstPosition)")
                }
                if let k, k != chunk.k { throw CoordinatorError("\(hookpoint.name): chunks disagree on k (\(k) vs \(chunk.k))") }
                k = chunk.k
                for (i, token) in chunk.tokenIDs.enumerated() {
                    let p = chunk.firstPosition + i
                    guard p < end, record.token(at: p) == token else {
                        throw CoordinatorError("\(hookpoint.name): position \(p) carries token \(token), the sequence has \(p < end ? String(record.token(at: p)) : "no token there")")
                    }
                    positions.append(Int32(p))
                }
                tokens += chunk.tokenIDs
                indices += chunk.indices
                acts += chunk.activations
                next += chunk.tokenIDs.count
            }
            guard next == end else {
                throw CoordinatorError("\(hookpoint.name): latents cover positions \(first)..<\(next), expected \(first)..<\(end)")
            }
            // Every task generates at least one token, so `next == end > first` means chunks arrived.
            guard let k else { throw CoordinatorError("\(hookpoint.name): no latents arrived") }
            latents[hookpoint.name] = LatentRows(k: k, positions: positions, tokens: tokens, indices: indices, acts: acts, record: record)
        }
        var fvu: [String: Double] = [:]
        for (name, value) in done.fvu where configuration.hookpoints.contains(where: { $0.name == name }) { fvu[name] = value }
        return CommittedTask(record: record, latents: latents, fvu: fvu)
    }

    // MARK: Sending

    private func dispatch(_ socket: ZMQSocket) throws {
        if !waitedForWorkers {
            let ready = scheduler.readyWorkerCount
            let waited = MonotonicClock.now() - listeningSince
            guard ready >= configuration.minWorkers || waited >= configuration.minWorkersWaitSeconds else { return }
            waitedForWorkers = ready > 0
            if waitedForWorkers && ready < configuration.minWorkers {
                logger.warning("only \(ready) of \(configuration.minWorkers) workers ready after \(Int(waited)) s; starting with them")
            }
        }
        for a in scheduler.assign() {
            let problem = configuration.problems[a.task]
            let message = Message.assign(Assign(
                taskID: UInt64(a.task), attempt: a.attempt, problemID: problem.id, promptIDs: promptIDs[a.task],
                generation: configuration.generation,
                hookpoints: configuration.hookpoints.map { HookpointSpec(capture: $0.capture, sae: $0.sae) },
                includePrompt: configuration.includePrompt))
            send(message, to: a.worker, socket: socket)
            if firstAssigned == nil { firstAssigned = MonotonicClock.now() }
            if a.attempt > 1 { logger.info("\(problem.id) attempt \(a.attempt) → \(describe(a.worker))") }
        }
    }

    private func send(_ message: Message, to worker: [UInt8], socket: ZMQSocket) {
        do {
            if try socket.send([worker, message.encode()], mode: .nonBlocking) == .wouldBlock {
                logger.warning("worker \(describe(worker)) is not reading (its queue is full); dropping it")
                scheduler.workerLost(worker, reason: "stopped reading messages")
                forget(worker)
            }
        } catch {
            if error.isHostUnreachable {
                logger.warning("worker \(describe(worker)) disconnected; requeueing its tasks")
            } else {
                logger.error("sending \(message.typeName) to \(describe(worker)) failed: \(error); dropping the worker")
            }
            scheduler.workerLost(worker, reason: "disconnected")
            forget(worker)
        }
    }

    private func sendHeartbeats(_ socket: ZMQSocket, now: Double) {
        for worker in Array(workers.keys) {
            guard var info = workers[worker], now - info.lastHeartbeatSent >= configuration.heartbeatInterval else { continue }
            info.lastHeartbeatSent = now
            info.heartbeatSequence += 1
            workers[worker] = info
            send(.heartbeat(Heartbeat(sequence: info.heartbeatSequence)), to: worker, socket: socket)
        }
    }

    /// Drops a worker and the staged latents of tasks no longer in flight anywhere.
    private func forget(_ worker: [UInt8]) {
        workers[worker] = nil
        staged = staged.filter { task, _ in workers.keys.contains { scheduler.currentAttempt(of: task, by: $0) != nil } }
    }

    // MARK: Bundle

    private func writeBundle() throws -> BundleSummary {
        var failed: [RunManifest.FailedProblem] = []
        for t in scheduler.failed.sorted() {
            failed.append(.init(id: configuration.problems[t].id, reasons: scheduler.failureReasons(for: t)))
        }
        let manifest = RunManifest(
            thinklensVersion: ThinkLensVersion.program, model: configuration.model,
            tokenizerFingerprint: configuration.tokenizer.fingerprint,
            saes: Dictionary(uniqueKeysWithValues: configuration.hookpoints.map { ($0.name, configuration.saes[$0.sae]!) }),
            generation: Self.generationJSON(configuration), promptFormat: Self.promptJSON(configuration.prompt),
            selectedProblemIDs: configuration.problems.map(\.id), hookpoints: configuration.hookpoints.map(\.name), failed: failed)
        let now = MonotonicClock.now()
        let elapsed = now - started
        let formatter = ISO8601DateFormatter()
        // Coordinator wall time: until the first task went out (loading, tokenizing, waiting for
        // workers), generating until the last commit, then the rest (before the bundle is written).
        let generationStart = firstAssigned ?? now, generationEnd = max(lastCommitted ?? generationStart, generationStart)
        var phases: [String: JSONValue] = [
            "setup": .double(generationStart - started), "generation": .double(generationEnd - generationStart),
            "finalize": .double(now - generationEnd),
        ]
        var workerPhases: [String: Double] = [:]
        for h in workerHistory.values { workerPhases.merge(h.phases) { $0 + $1 } }
        phases["worker_seconds"] = .object(workerPhases.mapValues { .double($0) })
        let run = JSONValue.object([
            "started": .string(formatter.string(from: startedWall)),
            "finished": .string(formatter.string(from: Date())),
            "seconds": .double(elapsed),
            "endpoint": .string(endpoint),
            "requeues": .int(Int64(scheduler.requeues)),
            "rejected_workers": .int(Int64(rejectedWorkers)),
            "dropped_messages": .int(Int64(garbageMessages)),
            "resumed_problems": .int(Int64(progress.resumed)),
            "tokens_generated_here": .int(Int64(progress.tokens)),
            "tokens_per_second": .double(Double(progress.tokens) / max(elapsed, 1e-9)),
            "phases": .object(phases),
            "workers": .array(workerHistory.keys.sorted().map { key in
                let h = workerHistory[key]!
                return .object([
                    "worker": .string(key), "host": .string(h.host), "tasks": .int(Int64(h.tasks)),
                    "tokens": .int(Int64(h.tokens)), "busy_seconds": .double(h.seconds),
                    "tokens_per_second": .double(h.seconds > 0 ? Double(h.tokens) / h.seconds : 0),
                    "phase_seconds": .object(h.phases.mapValues { .double($0) }),
                ])
            }),
        ])
        let writeStarted = MonotonicClock.now()
        logger.info("writing the bundle to \(configuration.outDirectory)")
        let summary = try store.writeBundle(manifest: manifest, run: run, decoder: TokenizerText(tokenizer: configuration.tokenizer))
        logger.info("bundle written in \(String(format: "%.1f", MonotonicClock.now() - writeStarted)) s")
        return summary
    }
}

/// Token texts for the tables, from the run's tokenizer (invalid UTF-8 pieces become U+FFFD).
public struct TokenizerText: TokenTextDecoding {
    public let tokenizer: BPETokenizer
    public init(tokenizer: BPETokenizer) { self.tokenizer = tokenizer }
    public func tokenText(_ id: Int32) -> String { tokenizer.decode([id]) }
}
