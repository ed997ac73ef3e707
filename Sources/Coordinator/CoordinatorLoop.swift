import Platform
import Experiment
import Foundation
import Logging
import Protocol
import ResultBundle
import Tokenizer
import Transport

/// The coordinator's socket loop: one thread owns the ROUTER socket (and the ZAP handler) and
/// the run store. Each pass polls, decodes what arrived and hands it to the
/// `CoordinatorStateMachine`, commits the finished tasks of the pass together, ticks the
/// machine, and performs the actions it returns. All protocol decisions live in the machine.
public final class CoordinatorLoop {
    public let configuration: CoordinatorConfiguration
    public private(set) var endpoint = ""
    private let logger: Logger
    /// The baseline's store (the run's --out) and, with `--intervene`, one per condition under
    /// OUT/interventions/<name>/: each a journal and a bundle of its own.
    private let stores: [RunStore]
    private var store: RunStore { stores[0] }
    private var machine: CoordinatorStateMachine
    private let startedWall = Date()
    private let reporter: ProgressReporter

    /// Called after each pass of the loop with the current progress (for `thinklens run`).
    public var onProgress: ((RunProgress) -> Void)?
    /// Called once the socket is bound, with the actual endpoint (ephemeral ports resolved).
    public var onListening: ((String) -> Void)?

    /// `promptIDs`: the problems' prompts already tokenized (`CoordinatorStateMachine.promptIDs(of:)`), if the caller has them.
    public init(configuration: CoordinatorConfiguration, logger: Logger, reporter: ProgressReporter = ProgressReporter(),
                promptIDs: [[Int32]]? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        self.reporter = reporter
        try CoordinatorStateMachine.validate(configuration)
        if let problem = SystemFile.makeDirectories(configuration.outDirectory) {
            throw CoordinatorError("--out: \(problem); choose a directory this user can write")
        }
        try RunSettings.checkOrRecord(configuration)
        var stores = [try RunStore(outDirectory: configuration.outDirectory, hookpoints: configuration.hookpoints.map(\.name))]
        for condition in configuration.conditions {
            stores.append(try RunStore(outDirectory: InterventionLayout.directory(of: condition.name, in: configuration.outDirectory),
                                       hookpoints: configuration.interventionLatents ? configuration.hookpoints.map(\.name) : []))
        }
        self.stores = stores
        for store in stores {
            for warning in store.journal.recoveryWarnings { logger.warning("\(warning)") }
            if !store.leftoversRemoved.isEmpty {
                logger.notice("removed \(store.leftoversRemoved.count) temporary file(s) of an interrupted bundle write in \(store.outDirectory)")
            }
        }
        let journals = stores.map(\.journal)
        machine = try CoordinatorStateMachine(
            configuration: configuration, committedIDs: stores[0].committedIDs, earlierFailures: stores[0].failures.mapValues(\.reasons),
            conditionCommittedIDs: stores.dropFirst().map(\.committedIDs),
            conditionEarlierFailures: stores.dropFirst().map { $0.failures.mapValues(\.reasons) },
            verificationRecords: stores[0].verificationRecords,
            committedResult: { condition, id in
                guard let entry = journals[condition].entry(id: id) else { throw CoordinatorError("\(id) is not in the journal \(journals[condition].path)") }
                return try journals[condition].readTask(entry)
            },
            promptIDs: promptIDs,
            runID: String(UInt64.random(in: 0...UInt64.max), radix: 36), now: MonotonicClock.now())
    }

    public func run(shouldStop: () -> Bool) throws -> CoordinatorOutcome {
        let context = try ZMQContext()
        defer { context.shutdown() }
        let authenticator = try makeAuthenticator(context)
        let socket = try makeSocket(context)
        defer { socket.close() }
        try perform(machine.listening(on: endpoint, now: MonotonicClock.now()), socket)
        onListening?(endpoint)

        var interrupted = false
        while !machine.isFinished {
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
                    try perform(receive(frames), socket)
                }
                try commitPending(socket)
            }
            let now = MonotonicClock.now()
            try perform(machine.tick(now: now), socket)
            reporter.update(machine.progress, now: now)
            onProgress?(machine.progress)
        }
        try perform(machine.recordNewFailures(), socket)
        reporter.finish(machine.progress, now: MonotonicClock.now())

        if interrupted {
            logger.notice("interrupted: \(store.committedIDs.count) problems are committed in \(configuration.outDirectory)/journal\(stores.count > 1 ? " (and \(stores.dropFirst().map(\.committedIDs.count).reduce(0, +)) condition results under interventions/)" : ""); run the same command again to resume")
            return CoordinatorOutcome(committed: store.committedIDs.count, failed: [:], interrupted: true, bundle: nil)
        }
        if configuration.shutdownWorkersAtEnd {
            for worker in machine.admittedWorkers {
                _ = try? socket.send([worker, Message.shutdown(Shutdown(reason: "run complete")).encode()], mode: .nonBlocking)
            }
        }
        let bundle = try writeBundle()
        return CoordinatorOutcome(committed: store.committedIDs.count, failed: machine.failedProblems, interrupted: false, bundle: bundle)
    }

    // MARK: Sockets

    private func makeAuthenticator(_ context: ZMQContext) throws -> ZAPAuthenticator? {
        guard let allowed = configuration.allowedWorkerKeys, configuration.curveKeys != nil else { return nil }
        let zap = try ZAPAuthenticator(context, allowedKeys: allowed)
        zap.onRefusal = { [logger] address, key in
            logger.warning("refused a CURVE connection from \(address): public key \(key) is not in the allow-list")
        }
        return zap
    }

    private func makeSocket(_ context: ZMQContext) throws -> ZMQSocket {
        let socket = try ZMQSocket(context, kind: .router)
        try socket.setRouterMandatory(true)
        try socket.setMaximumMessageSize(64 << 20)
        try socket.setReceiveHighWaterMark(100_000)
        try socket.setSendHighWaterMark(100_000)
        if let keys = configuration.curveKeys { try socket.setCurveServer(keys) }
        do {
            endpoint = try socket.bind(configuration.listen)
        } catch {
            socket.close()
            throw CoordinatorError("cannot listen on \(configuration.listen): \(error); is the port in use or the address not local?")
        }
        return socket
    }

    /// One received frame set as an event for the machine.
    private func receive(_ frames: [Frame]) -> [CoordinatorStateMachine.Action] {
        guard frames.count == 2 else { return machine.receivedMalformed(frameCount: frames.count) }
        let peer = frames[0].bytes
        do {
            let message = try frames[1].withUnsafeBytes { try Message.decode($0) }
            return machine.received(message, from: peer, now: MonotonicClock.now())
        } catch {
            return machine.receivedUndecodable(from: peer, error: "\(error)")
        }
    }

    private func perform(_ actions: [CoordinatorStateMachine.Action], _ socket: ZMQSocket) throws {
        for action in actions {
            switch action {
            case .send(let message, let peer):
                if let failure = send(message, to: peer, socket) {
                    try perform(machine.sendFailed(to: peer, failure, messageType: message.typeName), socket)
                }
            case .sendBestEffort(let message, let peer):
                _ = try? socket.send([peer, message.encode()], mode: .nonBlocking)
            case .recordFailure(let failure, let condition):
                do {
                    try stores[condition].recordFailure(failure)
                } catch {
                    throw CoordinatorError("could not record the failure of \(failure.id) in the journal in \(stores[condition].outDirectory): \(error). Everything committed before is safe; free disk space and rerun the same command to resume.")
                }
            case .recordVerification(let record):
                do {
                    try store.recordVerification(record)
                } catch {
                    throw CoordinatorError("could not record the check of \(record.problem) in the journal in \(configuration.outDirectory): \(error). Everything committed before is safe; free disk space and rerun the same command to resume.")
                }
            case .replaceResult(let result, let condition):
                do {
                    try stores[condition].replace(result)
                } catch {
                    throw CoordinatorError("could not replace the result of \(result.record.id) in the journal in \(stores[condition].outDirectory): \(error). Everything committed before is safe; free disk space and rerun the same command to resume.")
                }
            case .log(let level, let text):
                logger.log(level: level, "\(text)")
            }
        }
    }

    private func send(_ message: Message, to peer: [UInt8], _ socket: ZMQSocket) -> CoordinatorStateMachine.SendFailure? {
        do {
            return try socket.send([peer, message.encode()], mode: .nonBlocking) == .wouldBlock ? .queueFull : nil
        } catch {
            return error.isHostUnreachable ? .unreachable : .failed("\(error)")
        }
    }

    /// Group commit: everything that finished during this pass becomes durable with one
    /// fsync; only then do the tasks count as done.
    private func commitPending(_ socket: ZMQSocket) throws {
        let batch = machine.takePendingCommits()
        guard !batch.isEmpty else { return }
        // One fsync per condition's journal that has something in this pass.
        var outcomes = [RunStore.CommitOutcome?](repeating: nil, count: batch.count)
        for condition in Set(batch.map(\.condition)).sorted() {
            let members = batch.indices.filter { batch[$0].condition == condition }
            do {
                for (i, outcome) in zip(members, try stores[condition].commit(members.map { batch[$0].committed })) { outcomes[i] = outcome }
            } catch {
                throw CoordinatorError("could not commit \(members.map { batch[$0].committed.record.id }) to the journal in \(stores[condition].outDirectory): \(error). Everything committed before is safe; free disk space and rerun the same command to resume.")
            }
        }
        try perform(machine.committed(batch, outcomes: outcomes.map { $0! }, now: MonotonicClock.now()), socket)
    }

    // MARK: Bundle

    private func writeBundle() throws -> BundleSummary {
        let run = machine.runJSON(endpoint: endpoint, now: MonotonicClock.now(), startedWall: startedWall, finishedWall: Date())
        let writeStarted = MonotonicClock.now()
        logger.info("writing the bundle to \(configuration.outDirectory)")
        let decoder = TokenizerText(tokenizer: configuration.tokenizer)
        let summary = try store.writeBundle(manifest: machine.manifest(), run: run, decoder: decoder)
        for (index, condition) in configuration.conditions.enumerated() {
            logger.info("writing the bundle of condition \(condition.name) to \(stores[index + 1].outDirectory)")
            try stores[index + 1].writeBundle(manifest: machine.manifest(condition: index + 1), run: run, decoder: decoder)
        }
        if !configuration.conditions.isEmpty {
            try InterventionLayout.writeConditions(configuration.conditions.map(RunSettings.conditionJSON), in: configuration.outDirectory)
            let comparison = try InterventionComparison.write(bundle: configuration.outDirectory, conditions: configuration.conditions.map(\.name),
                                                              seed: configuration.generation.seed)
            for condition in comparison.conditions where !condition.droppedProblems.isEmpty {
                logger.notice("condition \(condition.name): \(condition.droppedProblems.count) problem(s) not paired with the baseline (failed in one of the two): \(condition.droppedProblems.joined(separator: ", "))")
            }
        }
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
