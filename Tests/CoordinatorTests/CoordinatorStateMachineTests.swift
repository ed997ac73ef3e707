import Experiment
import Foundation
import GSM8K
import Logging
import Protocol
import ResultBundle
import Testing
import TestSupport
import Tokenizer
@testable import Coordinator

/// A small run for the coordinator's state machine: three problems, one hookpoint, the R1
/// byte-level tokenizer, fingerprints that workers echo back. Peers are scripted; time is a
/// plain number.
struct MachineFixture {
    /// Built once per process (a static TemporaryDirectory would never be removed), removed at exit.
    static let directory: String = {
        let path = makeTemporaryDirectory("coordinator-machine")
        removeAtExit(path)
        return path
    }()
    static let tokenizer: BPETokenizer = {
        let path = directory + "/tokenizer.json"
        try! R1TokenizerFixture.json().write(toFile: path, atomically: true, encoding: .utf8)
        return try! BPETokenizer.load(modelDirectoryOrFile: path)
    }()
    static let hookpoint = HookpointSpec(capture: "layers.1.mlp", sae: "layers.1.mlp")

    static func configuration(problems: Int = 3, minWorkers: Int = 1, maxAttempts: Int = 3) -> CoordinatorConfiguration {
        let chosen = (0..<problems).map {
            PromptSetProblem(GSM8KProblem(split: .test, index: $0, question: "What is \($0) + 1?", answerText: "#### \($0 + 1)", gold: "\($0 + 1)"))
        }
        var c = CoordinatorConfiguration(
            listen: "tcp://127.0.0.1:0", problems: chosen, selectionText: "gsm8k:test[0:\(problems)]", hookpoints: [hookpoint],
            outDirectory: directory,
            generation: GenerationParameters(maxNewTokens: 8, sampling: SamplingParameters(temperature: 0.6, topK: 0, topP: 0.95), seed: 0),
            includePrompt: false, prompt: ChatPrompt(), tokenizer: tokenizer,
            model: RunManifest.Model(config: .object([:]), fingerprint: "qwen2-test"),
            saes: [hookpoint.sae: RunManifest.SAE(cfg: .object([:]), fingerprint: "sae1-test")])
        c.leaseSeconds = 15
        c.heartbeatInterval = 1
        c.maxAttempts = maxAttempts
        c.minWorkers = minWorkers
        c.minWorkersWaitSeconds = 60
        return c
    }

    static func machine(_ configuration: CoordinatorConfiguration = configuration(), committed: Set<String> = [],
                        earlierFailures: [String: [String]] = [:]) throws -> CoordinatorStateMachine {
        var m = try CoordinatorStateMachine(configuration: configuration, committedIDs: committed, earlierFailures: earlierFailures,
                                            runID: "run", now: 0)
        _ = m.listening(on: "tcp://127.0.0.1:5555", now: 0)
        return m
    }

    static func hello(_ name: String, slots: Int = 8, model: String = "qwen2-test") -> Message {
        .hello(Hello(workerID: name, host: "host", pid: 1, threads: 1, batchSlots: slots, modelFingerprint: model,
                     tokenizerFingerprint: tokenizer.fingerprint, saeFingerprints: [hookpoint.sae: "sae1-test"]))
    }

    /// A peer that joins and grants credit.
    static func join(_ m: inout CoordinatorStateMachine, _ peer: [UInt8], credit: Int, now: Double = 0) {
        _ = m.received(hello("w\(peer[0])"), from: peer, now: now)
        _ = m.received(.credit(Credit(count: credit)), from: peer, now: now)
    }

    /// The generated tokens a scripted worker reports for every task: "ab" then end of sequence.
    static let generated: [Int32] = [97, 98, R1TokenizerFixture.eos]

    /// Latent chunks covering the generated positions, `split` rows per chunk.
    static func chunks(for assign: Assign, split: Int = 3) -> [LatentChunk] {
        var out: [LatentChunk] = []
        var start = 0
        while start < generated.count {
            let rows = Array(generated[start..<min(generated.count, start + split)])
            out.append(LatentChunk(taskID: assign.taskID, attempt: assign.attempt, hookpoint: hookpoint.name,
                                   firstPosition: assign.promptIDs.count + start, tokens: rows, k: 2,
                                   indices: rows.flatMap { _ in [Int32(3), 7] }, activations: rows.flatMap { _ in [Float(2), 1] }))
            start += split
        }
        return out
    }

    /// An honest worker's whole result for `assign`: its chunks, then its done.
    static func deliver(_ m: inout CoordinatorStateMachine, _ assign: Assign, from peer: [UInt8], now: Double) {
        for chunk in chunks(for: assign) { _ = m.received(.latentChunk(chunk), from: peer, now: now) }
        _ = m.received(.taskDone(done(for: assign)), from: peer, now: now)
    }

    static func done(for assign: Assign) -> TaskDone {
        TaskDone(taskID: assign.taskID, attempt: assign.attempt, generatedIDs: generated, stopReason: .eos,
                 promptTokens: assign.promptIDs.count, timings: ["total": 0.5])
    }
}

func assigns(_ actions: [CoordinatorStateMachine.Action]) -> [(peer: [UInt8], assign: Assign)] {
    actions.compactMap { if case .send(.assign(let a), let peer) = $0 { return (peer, a) } else { return nil } }
}

func sent(_ actions: [CoordinatorStateMachine.Action], to peer: [UInt8]) -> [Message] {
    actions.compactMap { if case .send(let m, let p) = $0, p == peer { return m } else { return nil } }
}

func logs(_ actions: [CoordinatorStateMachine.Action]) -> [String] {
    actions.compactMap { if case .log(_, let text) = $0 { return text } else { return nil } }
}

/// The coordinator's protocol rules, driven without sockets: scripted peers, a fake clock.
@Suite struct CoordinatorStateMachineTests {
    typealias F = MachineFixture
    let a: [UInt8] = [1], b: [UInt8] = [2]

    @Test func aMatchingHelloIsWelcomed() throws {
        var m = try F.machine()
        let actions = m.received(F.hello("w1"), from: a, now: 0)
        #expect(sent(actions, to: a) == [.welcome(Welcome(runID: "run", heartbeatIntervalMilliseconds: 1000))])
    }

    @Test func aHelloWithAnotherModelIsRejectedNamingTheDifferenceAndGetsNoState() throws {
        var m = try F.machine()
        let actions = m.received(F.hello("w1", model: "qwen2-other"), from: a, now: 0)
        let reject = actions.compactMap { if case .sendBestEffort(.reject(let r), let p) = $0, p == a { return r } else { return nil } }
        #expect(reject.count == 1)
        #expect(reject.first?.reason.contains("model fingerprint qwen2-other (run uses qwen2-test)") == true)
        _ = m.received(.credit(Credit(count: 5)), from: a, now: 0)
        #expect(assigns(m.tick(now: 1)).isEmpty)
    }

    @Test func tasksGoOutOnlyAgainstCredit() throws {
        var m = try F.machine()
        F.join(&m, a, credit: 1)
        #expect(assigns(m.tick(now: 0.1)).map(\.assign.problemID) == ["gsm8k:test:0"])
        #expect(assigns(m.tick(now: 0.2)).isEmpty)
        _ = m.received(.credit(Credit(count: 2)), from: a, now: 0.3)
        #expect(assigns(m.tick(now: 0.4)).map(\.assign.problemID) == ["gsm8k:test:1", "gsm8k:test:2"])
    }

    @Test func dispatchWaitsForMinWorkersUntilTheWaitRunsOut() throws {
        var m = try F.machine(F.configuration(minWorkers: 2))
        F.join(&m, a, credit: 3)
        #expect(assigns(m.tick(now: 10)).isEmpty)
        _ = m.received(.heartbeat(Heartbeat(sequence: 1)), from: a, now: 60)
        let late = m.tick(now: 61)
        #expect(assigns(late).count == 3)
        #expect(logs(late).contains { $0.contains("only 1 of 2 workers ready") })
    }

    @Test func dispatchStartsAsSoonAsMinWorkersAreReadyAndSharesTheWork() throws {
        var m = try F.machine(F.configuration(minWorkers: 2))
        F.join(&m, a, credit: 3)
        F.join(&m, b, credit: 3)
        let out = assigns(m.tick(now: 1))
        #expect(out.count == 3)
        #expect(Set(out.map(\.peer)) == [a, b])
    }

    @Test func aFinishedTaskCountsOnlyAfterTheGroupCommit() throws {
        var m = try F.machine(F.configuration(problems: 1))
        F.join(&m, a, credit: 1)
        let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
        for chunk in F.chunks(for: assign) { #expect(m.received(.latentChunk(chunk), from: a, now: 1).isEmpty) }
        _ = m.received(.taskDone(F.done(for: assign)), from: a, now: 1)
        #expect(m.progress.done == 0)
        let batch = m.takePendingCommits()
        #expect(batch.count == 1)
        #expect(batch[0].committed.record.generatedIDs == F.generated)
        #expect(batch[0].committed.record.verdict == .none || batch[0].committed.record.verdict == .wrong)
        _ = m.committed(batch, outcomes: [.committed], now: 2)
        #expect(m.progress.done == 1)
        #expect(m.isFinished)
    }

    @Test func chunksArrivingOutOfOrderAssembleTheSameRows() throws {
        func rows(reversed: Bool) throws -> LatentRows? {
            var m = try F.machine(F.configuration(problems: 1))
            F.join(&m, a, credit: 1)
            let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
            let chunks = F.chunks(for: assign, split: 1)
            for chunk in reversed ? chunks.reversed() : chunks { _ = m.received(.latentChunk(chunk), from: a, now: 1) }
            _ = m.received(.taskDone(F.done(for: assign)), from: a, now: 1)
            return m.takePendingCommits().first?.committed.latents[F.hookpoint.name]
        }
        let inOrder = try #require(try rows(reversed: false))
        let reversed = try #require(try rows(reversed: true))
        #expect(inOrder.positions == reversed.positions)
        #expect(inOrder.indices == reversed.indices)
        #expect(inOrder.activations == reversed.activations)
    }

    @Test func aResultWithAGapInItsLatentsFailsThatAttemptAndIsRetried() throws {
        var m = try F.machine(F.configuration(problems: 1))
        F.join(&m, a, credit: 2)
        let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
        let chunks = F.chunks(for: assign, split: 1)
        _ = m.received(.latentChunk(chunks[0]), from: a, now: 1)
        _ = m.received(.latentChunk(chunks[2]), from: a, now: 1)
        let actions = m.received(.taskDone(F.done(for: assign)), from: a, now: 1)
        #expect(logs(actions).contains { $0.contains("is inconsistent") && $0.contains("latents jump") })
        #expect(m.takePendingCommits().isEmpty)
        let retry = assigns(m.tick(now: 2))
        #expect(retry.map(\.assign.attempt) == [assign.attempt + 1])
    }

    @Test func resultsOfAnAbandonedAttemptAreIgnored() throws {
        var m = try F.machine(F.configuration(problems: 1))
        F.join(&m, a, credit: 1)
        let first = try #require(assigns(m.tick(now: 0)).first?.assign)
        _ = m.receivedUndecodable(from: a, error: "garbage")   // a is dropped; the task is requeued
        F.join(&m, b, credit: 1, now: 1)
        let second = try #require(assigns(m.tick(now: 1)).first)
        #expect(second.peer == b && second.assign.attempt == first.attempt + 1)
        // The late attempt from a: its chunks and done change nothing.
        F.deliver(&m, first, from: a, now: 2)
        #expect(m.takePendingCommits().isEmpty)
        F.deliver(&m, second.assign, from: b, now: 3)
        #expect(m.takePendingCommits().map(\.attempt) == [second.assign.attempt])
    }

    @Test func aDuplicateDoneCommitsOnce() throws {
        var m = try F.machine(F.configuration(problems: 2))
        F.join(&m, a, credit: 1)
        let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
        F.deliver(&m, assign, from: a, now: 1)
        _ = m.received(.taskDone(F.done(for: assign)), from: a, now: 1)
        let batch = m.takePendingCommits()
        #expect(batch.count == 1)
        _ = m.committed(batch, outcomes: [.committed], now: 2)
        _ = m.received(.taskDone(F.done(for: assign)), from: a, now: 3)
        #expect(m.takePendingCommits().isEmpty)
        #expect(m.progress.done == 1)
    }

    @Test func aSilentWorkerIsExpiredAndItsTaskGoesToAnother() throws {
        var m = try F.machine(F.configuration(problems: 1))
        F.join(&m, a, credit: 1)
        F.join(&m, b, credit: 0)
        _ = assigns(m.tick(now: 0))
        _ = m.received(.heartbeat(Heartbeat(sequence: 1)), from: b, now: 14)
        _ = m.received(.credit(Credit(count: 1)), from: b, now: 14)
        #expect(assigns(m.tick(now: 14)).isEmpty)   // a's lease still runs
        let later = m.tick(now: 15.5)
        #expect(logs(later).contains { $0.contains("silent for more than 15.0 s") })
        #expect(assigns(later).map(\.peer) == [b])
    }

    @Test func anUndecodableMessageFromAnUnknownPeerOnlyCounts() throws {
        var m = try F.machine()
        let actions = m.receivedUndecodable(from: a, error: "not msgpack")
        #expect(actions.allSatisfy { if case .log(.debug, _) = $0 { return true } else { return false } })
    }

    @Test func messagesFromPeersThatDidNotSayHelloAreIgnored() throws {
        var m = try F.machine()
        _ = m.received(.credit(Credit(count: 3)), from: a, now: 0)
        #expect(assigns(m.tick(now: 1)).isEmpty)
    }

    @Test func heartbeatsGoToEachWorkerOncePerInterval() throws {
        var m = try F.machine()
        F.join(&m, a, credit: 0)
        #expect(sent(m.tick(now: 1), to: a) == [.heartbeat(Heartbeat(sequence: 1))])
        #expect(sent(m.tick(now: 1.5), to: a).isEmpty)
        #expect(sent(m.tick(now: 2), to: a) == [.heartbeat(Heartbeat(sequence: 2))])
    }

    @Test func aRepeatedHelloIsWelcomedAgainAndKeepsTheWorkersTasks() throws {
        var m = try F.machine(F.configuration(problems: 1))
        F.join(&m, a, credit: 1)
        let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
        let again = m.received(F.hello("w1"), from: a, now: 1)
        #expect(sent(again, to: a).count == 1)
        F.deliver(&m, assign, from: a, now: 2)
        #expect(m.takePendingCommits().count == 1)
    }

    @Test func aTaskThatUsesUpItsAttemptsIsRecordedDurableOnce() throws {
        var m = try F.machine(F.configuration(problems: 1, maxAttempts: 2))
        F.join(&m, a, credit: 5)
        var records: [TaskJournal.FailureEntry] = []
        for attempt in 1...2 {
            let assign = try #require(assigns(m.tick(now: Double(attempt))).first?.assign)
            #expect(assign.attempt == UInt32(attempt))
            _ = m.received(.taskFailed(TaskFailed(taskID: assign.taskID, attempt: assign.attempt, reason: "out of memory")), from: a, now: Double(attempt))
        }
        for action in m.tick(now: 3) + m.tick(now: 4) + m.recordNewFailures() {
            if case .recordFailure(let entry, _) = action { records.append(entry) }
        }
        #expect(records.map(\.id) == ["gsm8k:test:0"])
        #expect(records.first?.reasons == ["attempt 1: out of memory", "attempt 2: out of memory"])
        #expect(m.isFinished)
        #expect(m.manifest().failed.map(\.id) == ["gsm8k:test:0"])
    }

    @Test func aHandedBackTaskIsRequeuedWithoutUsingAnAttempt() throws {
        var m = try F.machine(F.configuration(problems: 1, maxAttempts: 1))
        F.join(&m, a, credit: 2)
        let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
        _ = m.received(.taskFailed(TaskFailed(taskID: assign.taskID, attempt: assign.attempt, reason: "stopping", handedBack: true)), from: a, now: 1)
        let again = assigns(m.tick(now: 1))
        #expect(again.count == 1)
        #expect(!m.isFinished)
    }

    @Test func aWorkerThatStopsReadingIsDroppedAndItsTaskRequeued() throws {
        var m = try F.machine(F.configuration(problems: 1))
        F.join(&m, a, credit: 1)
        F.join(&m, b, credit: 1)
        let first = try #require(assigns(m.tick(now: 0)).first)
        let actions = m.sendFailed(to: first.peer, .queueFull, messageType: "assign")
        #expect(logs(actions).contains { $0.contains("is not reading") })
        let other = first.peer == a ? b : a
        #expect(assigns(m.tick(now: 1)).map(\.peer) == [other])
    }

    @Test func aCommitTheJournalRejectsFailsThatAttempt() throws {
        var m = try F.machine(F.configuration(problems: 1))
        F.join(&m, a, credit: 2)
        let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
        F.deliver(&m, assign, from: a, now: 1)
        let batch = m.takePendingCommits()
        let actions = m.committed(batch, outcomes: [.rejected(RunDataError(subject: "x", reason: "bad"))], now: 2)
        #expect(logs(actions).contains { $0.contains("rejected") })
        #expect(m.progress.done == 0)
        #expect(assigns(m.tick(now: 3)).map(\.assign.attempt) == [2])
    }

    /// Found by `scripts/fuzz coordinator`: a worker dropped after sending its result and before
    /// the group commit (here out of attempts, so the drop failed the task) left the problem
    /// committed in the journal and recorded as failed beside it.
    @Test func aCommittedTaskCountsAsDoneThoughItsWorkerWasDroppedBeforeTheCommit() throws {
        var m = try F.machine(F.configuration(problems: 1, maxAttempts: 1))
        F.join(&m, a, credit: 1)
        let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
        F.deliver(&m, assign, from: a, now: 1)
        _ = m.receivedUndecodable(from: a, error: "garbage")   // the same pass, before the commit
        _ = m.committed(m.takePendingCommits(), outcomes: [.committed], now: 1)
        let later = m.tick(now: 2) + m.recordNewFailures()
        #expect(!later.contains { if case .recordFailure = $0 { return true } else { return false } })
        #expect(m.progress.done == 1)
        #expect(m.failedProblems.isEmpty)
        #expect(m.isFinished)
    }

    /// The same with attempts left: the drop requeued the task, which then ran again elsewhere.
    @Test func aCommittedTaskIsNotAssignedAgainThoughItsWorkerWasDroppedBeforeTheCommit() throws {
        var m = try F.machine(F.configuration(problems: 1))
        F.join(&m, a, credit: 1)
        let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
        F.deliver(&m, assign, from: a, now: 1)
        _ = m.sendFailed(to: a, .unreachable, messageType: "welcome")
        _ = m.committed(m.takePendingCommits(), outcomes: [.committed], now: 1)
        F.join(&m, b, credit: 1, now: 2)
        #expect(assigns(m.tick(now: 2)).isEmpty)
        #expect(m.progress.done == 1)
        #expect(m.isFinished)
    }

    @Test func problemsCommittedByAnEarlierStartAreNotHandedOut() throws {
        var m = try F.machine(F.configuration(problems: 2), committed: ["gsm8k:test:0"])
        F.join(&m, a, credit: 5)
        #expect(assigns(m.tick(now: 0)).map(\.assign.problemID) == ["gsm8k:test:1"])
        #expect(m.progress.resumed == 1)
    }

    @Test func aConfigurationWithoutProblemsIsRefused() {
        #expect(throws: CoordinatorError.self) { _ = try F.machine(F.configuration(problems: 0)) }
    }
}

/// What a peer that passed the handshake can do, and what it cannot: crash, bloat or stall
/// the coordinator (the hardening issue's defects 1–3).
@Suite struct HostilePeerTests {
    typealias F = MachineFixture
    let a: [UInt8] = [1], b: [UInt8] = [2]

    @Test func hugeCreditGrantsNeitherOverflowNorExceedTheBatchSlots() throws {
        var m = try F.machine(F.configuration(problems: 3))
        _ = m.received(F.hello("w1", slots: 2), from: a, now: 0)
        _ = m.received(.credit(Credit(count: Int.max)), from: a, now: 0)
        _ = m.received(.credit(Credit(count: Int.max)), from: a, now: 0)
        #expect(m.scheduler.openCredit(of: a) == 2)
        #expect(assigns(m.tick(now: 1)).count == 2)
    }

    @Test func aHelloAnnouncingAnAbsurdBatchIsRejected() throws {
        var m = try F.machine()
        let actions = m.received(F.hello("w1", slots: Int.max), from: a, now: 0)
        #expect(actions.contains { if case .sendBestEffort(.reject, _) = $0 { return true } else { return false } })
    }

    @Test func aPeerStreamingMoreLatentsThanItsTaskAllowsIsDropped() throws {
        var m = try F.machine(F.configuration(problems: 1))
        F.join(&m, a, credit: 1)
        let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
        let chunk = F.chunks(for: assign, split: 3)[0]   // 3 rows; the task allows 8 (maxNewTokens)
        var dropped = false
        for n in 0..<10 {
            let actions = m.received(.latentChunk(chunk), from: a, now: Double(n))
            if logs(actions).contains(where: { $0.contains("more than the 8 the task allows") }) { dropped = true; break }
        }
        #expect(dropped)
        // The task goes to the next worker; the dropped peer is no longer heard.
        F.join(&m, b, credit: 1, now: 11)
        #expect(assigns(m.tick(now: 11)).map(\.peer) == [b])
    }

    @Test func aPeerThatHeartbeatsButNeverFinishesLosesItsTask() throws {
        var c = F.configuration(problems: 1)
        c.leaseSeconds = 5
        var m = try F.machine(c)
        F.join(&m, a, credit: 1)
        _ = assigns(m.tick(now: 0))
        var taken = false
        for second in 1...200 {
            _ = m.received(.heartbeat(Heartbeat(sequence: UInt64(second))), from: a, now: Double(second))
            if logs(m.tick(now: Double(second))).contains(where: { $0.contains("made no progress") }) {
                #expect(Double(second) > CoordinatorStateMachine.minimumProgressTimeout)
                taken = true
                break
            }
        }
        #expect(taken)
        F.join(&m, b, credit: 1, now: 201)
        #expect(assigns(m.tick(now: 201)).map(\.peer) == [b])
    }

    @Test func theAutomaticProgressTimeoutFollowsTheSlowestObservedGap() throws {
        var m = try F.machine(F.configuration(problems: 1))
        F.join(&m, a, credit: 1)
        let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
        _ = m.received(.latentChunk(F.chunks(for: assign, split: 1)[0]), from: a, now: 30)
        #expect(m.progressTimeout == 300)
    }

    @Test func aConfiguredProgressTimeoutIsUsedAsGiven() throws {
        var c = F.configuration(problems: 1)
        c.progressTimeout = 7
        var m = try F.machine(c)
        F.join(&m, a, credit: 1)
        _ = assigns(m.tick(now: 0))
        _ = m.received(.heartbeat(Heartbeat(sequence: 1)), from: a, now: 7.5)
        #expect(logs(m.tick(now: 7.5)).contains { $0.contains("made no progress") })
    }

    @Test func aRefusedPeerIsLoggedOnceAndItsRepeatsSummedUpOnceAMinute() throws {
        var m = try F.machine()
        var errors = 0, notices: [String] = []
        for n in 0..<1000 {
            for action in m.received(F.hello("w1", model: "qwen2-other"), from: a, now: Double(n) * 0.1) {
                if case .log(.error, _) = action { errors += 1 }
                if case .log(.notice, let text) = action { notices.append(text) }
            }
        }
        #expect(errors == 1)
        #expect(notices.count == 2)   // at 0.1 s and at 60.1 s
        #expect(m.statistics.rejectedWorkers == 1000)
    }

    @Test func peerStringsReachTheLogEscaped() throws {
        var m = try F.machine()
        let hello = Hello(workerID: "w1\nERROR forged line", host: "h\u{1B}[2J", pid: 1, threads: 1, batchSlots: 2,
                          modelFingerprint: "qwen2-test", tokenizerFingerprint: F.tokenizer.fingerprint,
                          saeFingerprints: [F.hookpoint.sae: "sae1-test"])
        let text = logs(m.received(.hello(hello), from: a, now: 0)).joined()
        #expect(text.contains("w1\\u{a}ERROR forged line@h\\u{1b}[2J"))
        #expect(!text.contains("\n") && !text.contains("\u{1B}"))
    }

    @Test func aNonFiniteTimingFromAPeerDoesNotReachRunJSON() throws {
        var m = try F.machine(F.configuration(problems: 1))
        F.join(&m, a, credit: 1)
        let assign = try #require(assigns(m.tick(now: 0)).first?.assign)
        for chunk in F.chunks(for: assign) { _ = m.received(.latentChunk(chunk), from: a, now: 1) }
        var done = F.done(for: assign)
        done.timings = ["total": .nan, "decode": .infinity]
        _ = m.received(.taskDone(done), from: a, now: 1)
        _ = m.committed(m.takePendingCommits(), outcomes: [.committed], now: 2)
        let seconds = m.statistics.workers.values.map(\.seconds)
        #expect(seconds == [0])
    }
}

/// Bad --out directories are named with the reason, not Foundation's error text.
@Suite struct OutDirectoryTests {
    @Test func anOutThatIsAFileIsNamedAsAFile() throws {
        let directory = TemporaryDirectory("out-file")
        let file = directory.file("not-a-directory")
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        var c = MachineFixture.configuration()
        c.outDirectory = file + "/run"
        let error = #expect(throws: CoordinatorError.self) { _ = try CoordinatorLoop(configuration: c, logger: .init(label: "test")) }
        #expect(error?.description.contains("is a file, not a directory") == true)
    }

    @Test func anOutUnderAReadOnlyDirectoryIsNamedWithTheReason() throws {
        guard getuid() != 0 else { return }   // root writes everywhere; CI runs as root
        let directory = TemporaryDirectory("out-readonly")
        let locked = directory.subdirectory("locked")
        chmod(locked, 0o555)
        defer { chmod(locked, 0o755) }
        var c = MachineFixture.configuration()
        c.outDirectory = locked + "/run"
        let error = #expect(throws: CoordinatorError.self) { _ = try CoordinatorLoop(configuration: c, logger: .init(label: "test")) }
        #expect(error?.description.contains("permission denied") == true)
    }
}
